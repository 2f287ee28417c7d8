"""Sphinx configuration of the salesplan documentation (``make docs``; built with -W, offline).

Stack: Sphinx with pydata-sphinx-theme, numpydoc and myst-nb, as pandas, scikit-learn and statsmodels use, so an
analyst finds the layout, the docstring format and the rendered notebooks they know. Pages are MyST Markdown;
reference pages are generated from the code by ``_ext/salesplan_docs.py``; notebooks are rendered from the copies
that ``tests/test_notebooks.py`` executed (``nb_execution_mode = "off"``: nothing is executed twice).
"""

from __future__ import annotations

import sys
from pathlib import Path

import salesplan

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "salesplan"
author = "salesplan developers"
copyright = "salesplan developers, MIT licence"  # noqa: A001 - Sphinx's name
version = release = salesplan.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx.ext.mathjax",
    "myst_nb",
    "salesplan_docs",
]

exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "examples/.*"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"

# offline: no intersphinx, no remote images; unresolved cross-references are not warnings (nitpicky off)
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc shows the documented types
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_merge_streams = True

html_theme = "pydata_sphinx_theme"
html_title = f"salesplan {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path: list[str] = []
html_show_sourcelink = False
