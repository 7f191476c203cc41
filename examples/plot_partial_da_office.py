"""
Partial domain adaptation on Office-Caltech10 with Adaptive OT
===============================================================

The source domain (webcam) has all ten object classes, the target domain
(dslr) only the first five. Balanced optimal transport must move every source
image, so the five absent classes are forced onto target images and corrupt
the adaptation. :class:`skalign.AdaptiveOTDomainAdapter` uses Adaptive OT,
whose inequality marginals let the mixed-sign cost decide how much mass each
source image sends: the absent classes are left (almost) untransported. The
adapter also estimates the target's class proportions from the source-only
classifier and bounds each source class by its estimated share, so classes
that the target seems to lack may send less from the start.

We print the target accuracy, the share of the untransported source mass that
falls on the absent classes, and draw the plan (rows and columns grouped by
class) and the mass each source class sends relative to its share of the
source. The data set is
read from the data directory (:func:`skalign.datasets.get_data_home`).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler, normalize

from skalign import AdaptiveOTDomainAdapter
from skalign.datasets import load_office_caltech10
from skalign.metrics import mass_per_class, rejected_mass_share
from skalign.plotting import plot_mass_per_class, plot_plan

# %%
# Load webcam -> dslr, keeping only target classes 0-4. Rows are L2-normalised
# and z-scored jointly over both domains (scaling on the source alone would
# distort the target).
data = load_office_caltech10("webcam", "dslr", target_classes=5)
X = StandardScaler().fit_transform(normalize(data.X))
source = data.sample_domain > 0
ys = data.y[source]

# %%
# Source-only baseline, then the adapter (same inner classifier).
baseline = LogisticRegression(max_iter=1000).fit(X[source], ys)
print(f"source-only accuracy on dslr: {baseline.score(X[~source], data.y_target):.3f}")

model = AdaptiveOTDomainAdapter(beta=2.0, epsilon=0.05, random_state=0)
model.fit(X, data.y, sample_domain=data.sample_domain)
print(f"AdaptiveOT accuracy on dslr:  {model.score(X[~source], data.y_target):.3f}")
print(f"transported mass: {model.transported_mass_:.2f} (rounds: {model.n_iter_})")
print("estimated target class proportions:", np.round(model.target_prior_, 2))

absent = ys >= 5
share = rejected_mass_share(model.source_mass_, absent)
print(f"share of untransported source mass on the 5 absent classes: {share:.2f}")
classes, fraction = mass_per_class(
    model.source_mass_ * source.sum(), ys, normalize=True
)
# 1 = the class sends as much as its share of the source rows; the shared
# classes send more (the target holds only them), the absent ones ~nothing.
for k, f in zip(classes, fraction, strict=True):
    state = "absent" if k >= 5 else "shared"
    print(
        f"  class {k} ({data.target_names[k]:>10s}, {state}): "
        f"{f:.2f} x its source share sent"
    )

# %%
# The plan grouped by class (rows: webcam classes 0-9, columns: dslr classes
# 0-4) and the mass each source class sent relative to its source share.
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
plot_plan(
    model.coupling_,
    ax=axes[0],
    row_labels=ys,
    col_labels=data.y_target,
    title="Adaptive OT plan (grouped by class)",
)
plot_mass_per_class(
    model.source_mass_,
    ys,
    ax=axes[1],
    reference=np.full(ys.size, 1 / ys.size),
    title="Transported mass / source share, per class",
)
fig.tight_layout()
plt.show()
