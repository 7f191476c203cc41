"""The ``python -m skalign da`` demo runs and prints what a user looks at."""

import re

from skalign.adaptation import _demo


def test_synthetic_demo_rejects_absent_class_and_outliers(monkeypatch, capsys):
    def no_data(seed):
        raise FileNotFoundError("no data directory")

    monkeypatch.setattr(_demo, "_office", no_data)
    _demo.run_demo(seed=0)
    out = capsys.readouterr().out
    assert "synthetic" in out
    base, adapted = map(
        float, re.search(r"source-only LR ([\d.]+), AdaptiveOT ([\d.]+)", out).groups()
    )
    assert adapted > base
    share = float(re.search(r"classes absent from the target: ([\d.]+)", out).group(1))
    assert share > 0.8
    assert "outliers receiving < 1% of the mean target mass: 100%" in out
