"""Where datasets are found: bundled files first, then a data directory."""

import os
from pathlib import Path

import numpy as np

__all__ = ["get_data_home", "load_npz"]

BUNDLED_DIR = Path(__file__).parent / "data"


def get_data_home(data_home=None):
    """Return the directory holding the non-bundled datasets.

    Looked up in order: ``data_home``, the ``SKALIGN_DATA`` environment
    variable, then ``../shared/data`` next to the current directory or next to
    the source checkout. Raises ``FileNotFoundError`` naming all of them.
    """
    candidates = []
    if data_home is not None:
        candidates.append(Path(data_home))
    if os.environ.get("SKALIGN_DATA"):
        candidates.append(Path(os.environ["SKALIGN_DATA"]))
    candidates.append(Path.cwd().parent / "shared" / "data")
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        "No data directory found; pass data_home=... or set SKALIGN_DATA. Looked in: "
        + ", ".join(str(p) for p in candidates)
    )


def load_npz(name, data_home=None):
    """Load ``<name>.npz``: the bundled copy if any, else ``<data_home>/<name>/``."""
    bundled = BUNDLED_DIR / f"{name}.npz"
    if bundled.is_file() and data_home is None:
        path = bundled
    else:
        path = get_data_home(data_home) / name / f"{name}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"Dataset file {path} does not exist.")
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}
