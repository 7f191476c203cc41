"""Sphinx configuration of the skalign documentation.

Build (warnings are errors)::

    python -m sphinx -W -b html doc doc/_build/html

Add ``-D plot_gallery=0`` for a quick build that does not run the examples.
"""

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Build from the checkout even when skalign is not installed.
sys.path.insert(0, str(HERE.parent))
# Examples render their figures off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")

import skalign

project = "skalign"
author = "skalign developers"
copyright = "2026, skalign developers"
version = release = skalign.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
default_role = "literal"

# API reference: one page per public name, written by autosummary. numpydoc
# would repeat every method of an estimator; the class template lists them.
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"skalign {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []

# Gallery: every examples/plot_*.py is executed and rendered. A quick build
# skips execution with ``-D plot_gallery=0``; an example that fails fails the
# build (sphinx-gallery reports it at the end), so broken examples are caught.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    # Only the skalign objects get "examples using this" back-references.
    "doc_module": ("skalign",),
    "backreferences_dir": "gen_modules/backreferences",
}


# Every public name must appear in api.rst: a name added to an ``__all__``
# without documentation is a warning, hence an error under ``-W``.
API_MODULES = [
    "skalign",
    "skalign.ot",
    "skalign.metrics",
    "skalign.datasets",
    "skalign.utils",
    "skalign.plotting",
    "skalign.alignment",
    "skalign.adaptation",
    "skalign.active",
]


def _documented_names(api_text):
    """Names listed in the autosummary blocks and ``.. data::`` entries of api.rst."""
    names, module, in_autosummary = set(), None, False
    for line in api_text.splitlines():
        stripped = line.strip()
        match = re.match(r"\.\. currentmodule:: (\S+)", stripped)
        if match:
            module = match.group(1)
            continue
        match = re.match(r"\.\. (?:auto)?data:: (\w+)$", stripped)
        if match and module:
            names.add(f"{module}.{match.group(1)}")
            continue
        if stripped.startswith(".. autosummary::"):
            in_autosummary = True
            continue
        if in_autosummary and stripped and not line.startswith(" "):
            in_autosummary = False
        if in_autosummary and module and re.fullmatch(r"[A-Za-z_]\w*", stripped):
            names.add(f"{module}.{stripped}")
    return names


def _check_api_complete(app):
    import importlib

    from sphinx.util import logging

    logger = logging.getLogger("skalign.api")
    documented = _documented_names((HERE / "api.rst").read_text())
    # An object re-exported elsewhere (skalign.GWEmbeddingAligner is
    # skalign.alignment.GWEmbeddingAligner) needs one entry only.
    documented_objects = set()
    for full_name in documented:
        module_name, _, name = full_name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            logger.warning("doc/api.rst lists %s, which does not exist", full_name)
            continue
        documented_objects.add(id(obj))
    for module_name in API_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in getattr(module, "__all__", []):
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            known = f"{module_name}.{name}" in documented
            if not known and not (
                id(obj) in documented_objects and not isinstance(obj, int | str)
            ):
                logger.warning(
                    "%s.%s is public (in __all__) but missing from doc/api.rst",
                    module_name,
                    name,
                )


def setup(app):
    app.connect("builder-inited", _check_api_complete)
