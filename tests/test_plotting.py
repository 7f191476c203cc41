"""Tests of skalign.plotting: what is drawn must be the data that was passed."""

import builtins
import sys

import numpy as np
import pytest
import scipy.sparse as sp

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skalign import plotting  # noqa: E402
from skalign.plotting import (  # noqa: E402
    plot_joint_embedding,
    plot_mass_per_class,
    plot_metric_vs_budget,
    plot_plan,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_plan_dense_draws_the_plan():
    rng = np.random.default_rng(0)
    plan = rng.random((5, 7))
    ax = plot_plan(plan, title="plan")
    np.testing.assert_array_equal(ax.images[0].get_array(), plan)
    assert ax.get_title() == "plan"
    # A colour bar was added next to the plan.
    assert len(ax.figure.axes) == 2


def test_plot_plan_sorts_rows_and_columns_by_label():
    rng = np.random.default_rng(1)
    plan = rng.random((6, 4))
    row_labels = np.array([2, 0, 1, 0, 2, 1])
    col_labels = np.array(["b", "a", "b", "a"])
    ax = plot_plan(plan, row_labels=row_labels, col_labels=col_labels)
    rows = np.argsort(row_labels, kind="stable")
    cols = np.argsort(col_labels, kind="stable")
    np.testing.assert_array_equal(ax.images[0].get_array(), plan[np.ix_(rows, cols)])
    # Lines between classes: 2 row boundaries (3 classes), 1 column boundary.
    assert len(ax.lines) == 3


def test_plot_plan_accepts_torch():
    torch = pytest.importorskip("torch")
    plan = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    ax = plot_plan(plan)
    np.testing.assert_allclose(ax.images[0].get_array(), plan.detach().numpy())


def test_plot_plan_sparse_never_densifies_and_places_entries():
    plan = sp.csr_matrix(
        (np.array([0.1, 0.2, 0.3]), (np.array([0, 1, 2]), np.array([2, 0, 1]))),
        shape=(3, 4),
    )
    row_labels = np.array([1, 0, 1])
    ax = plot_plan(plan, row_labels=row_labels)
    assert not ax.images
    scatter = ax.collections[0]
    # Rows sorted by label: original rows (1, 0, 2) sit at positions (0, 1, 2).
    offsets = {(int(x), int(y)) for x, y in scatter.get_offsets()}
    assert offsets == {(2, 1), (0, 0), (1, 2)}
    np.testing.assert_allclose(np.sort(scatter.get_array()), [0.1, 0.2, 0.3])
    assert ax.get_xlim() == (-0.5, 3.5)


def test_plot_plan_uses_given_axes():
    _, ax = plt.subplots()
    assert plot_plan(np.ones((2, 2)), ax=ax) is ax


def test_plot_plan_bad_input():
    with pytest.raises(ValueError, match="plan must be 2-D"):
        plot_plan(np.ones(3))
    with pytest.raises(ValueError, match="row_labels must have 2 entries"):
        plot_plan(np.ones((2, 2)), row_labels=[0, 1, 2])


def test_plot_mass_per_class_sums_mass_of_each_class():
    mass = np.array([0.1, 0.2, 0.0, 0.4, 0.3])
    labels = np.array([2, 0, 2, 0, 1])
    ax = plot_mass_per_class(mass, labels)
    heights = [bar.get_height() for bar in ax.patches]
    np.testing.assert_allclose(heights, [0.6, 0.3, 0.1])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


def test_plot_mass_per_class_reference_gives_fractions():
    mass = np.array([0.1, 0.1, 0.0, 0.25])
    reference = np.full(4, 0.25)
    ax = plot_mass_per_class(mass, ["a", "a", "b", "b"], reference=reference)
    np.testing.assert_allclose([b.get_height() for b in ax.patches], [0.4, 0.5])
    assert "fraction" in ax.get_ylabel()


def test_plot_mass_per_class_bad_input():
    with pytest.raises(ValueError, match="labels must have 2 entries"):
        plot_mass_per_class([0.1, 0.2], [0])
    with pytest.raises(ValueError, match="mass must be finite"):
        plot_mass_per_class([np.nan, 0.2], [0, 1])
    with pytest.raises(ValueError, match="reference must give every class"):
        plot_mass_per_class([0.1, 0.2], [0, 1], reference=[0.5, 0.0])


def test_plot_joint_embedding_two_dimensions_plotted_as_is():
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(12, 2))
    domains = np.array([1] * 5 + [-2] * 7)
    fig = plot_joint_embedding(emb, domains)
    (ax,) = fig.axes
    source, target = ax.collections
    np.testing.assert_array_equal(np.asarray(target.get_offsets()), emb[domains < 0])
    np.testing.assert_array_equal(np.asarray(source.get_offsets()), emb[domains > 0])
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "source 1",
        "target -2",
    ]


def test_plot_joint_embedding_projects_with_pca_and_adds_label_panel():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(3)
    emb = rng.normal(size=(30, 6))
    domains = np.repeat([1, -2], 15)
    labels = np.tile([0, 1, 2], 10)
    fig = plot_joint_embedding(emb, domains, labels=labels, title="joint")
    by_domain, by_label = fig.axes
    expected = PCA(n_components=2).fit_transform(emb)
    got = np.concatenate([np.asarray(c.get_offsets()) for c in by_label.collections])
    want = np.concatenate([expected[labels == k] for k in (0, 1, 2)])
    np.testing.assert_allclose(got, want)
    assert len(by_domain.collections) == 2
    assert by_domain.get_xlabel() == "PC 1"
    assert fig._suptitle.get_text() == "joint"


def test_plot_joint_embedding_given_axes_and_errors():
    emb = np.zeros((4, 2))
    fig, axes = plt.subplots(1, 2)
    assert plot_joint_embedding(emb, [1, 1, -1, -1], [0, 1, 0, 1], ax=axes) is fig
    with pytest.raises(ValueError, match="ax must hold 2 Axes"):
        plot_joint_embedding(emb, [1, 1, -1, -1], [0, 1, 0, 1], ax=axes[0])
    with pytest.raises(ValueError, match="0 is not a valid domain id"):
        plot_joint_embedding(emb, [1, 0, -1, -1])
    with pytest.raises(ValueError, match="embedding must be finite"):
        plot_joint_embedding(np.full((4, 2), np.nan), [1, 1, -1, -1])
    with pytest.raises(ValueError, match="sample_domain must have 4 entries"):
        plot_joint_embedding(emb, [1, -1])


def test_plot_metric_vs_budget_draws_each_strategy():
    results = {
        "random": ([0, 5, 10], [0.5, 0.6, 0.65]),
        "avatar-l2": (np.array([0, 5, 10]), np.array([0.5, 0.7, 0.8]), [0, 0.1, 0.2]),
    }
    ax = plot_metric_vs_budget(results, metric_name="MRR")
    assert [line.get_label() for line in ax.lines] == ["random", "avatar-l2"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.5, 0.7, 0.8])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 5, 10])
    band = ax.collections[0]
    # The shaded band spans values +- std.
    ys = np.asarray(band.get_paths()[0].vertices)[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [0.5, 1.0])
    assert ax.get_ylabel() == "MRR"


def test_plot_metric_vs_budget_bad_input():
    with pytest.raises(ValueError, match="results must be a non-empty dict"):
        plot_metric_vs_budget({})
    with pytest.raises(ValueError, match=r"results\['a'\] must be"):
        plot_metric_vs_budget({"a": ([1, 2],)})
    with pytest.raises(ValueError, match="values must have 2 entries"):
        plot_metric_vs_budget({"a": ([1, 2], [0.1])})


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m.startswith("matplotlib")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    for call in (
        lambda: plot_plan(np.ones((2, 2))),
        lambda: plot_mass_per_class([1.0], [0]),
        lambda: plot_joint_embedding(np.zeros((2, 2)), [1, -1]),
        lambda: plot_metric_vs_budget({"a": ([0], [1.0])}),
    ):
        with pytest.raises(ImportError, match="pip install matplotlib"):
            call()
    # Importing the module itself never needed matplotlib.
    assert plotting.__name__ == "skalign.plotting"
