"""Sphinx configuration of the bayesmix documentation site.

Build (from the repository root, warnings are errors)::

    .venv/bin/python -m sphinx -W --keep-going -n -b html docs docs/_build/html

Notebooks from ``notebooks/`` (committed without outputs) are executed by
myst-nb and their outputs cached in ``docs/_build/.jupyter_cache``: a cold build
takes about 4 minutes on 2 cores (about 2 of them CPU), a warm one seconds.
``-D nb_execution_mode=off`` renders them without outputs (the quick check that
``tests/test_docs.py`` runs; the notebooks themselves are executed by
``tests/test_notebooks.py``).
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "bayesmix"
author = "bayesmix developers"
copyright = "bayesmix developers"
release = _version("bayesmix")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static: the site needs no network
    "numpydoc",
    "myst_nb",
    "bayesmix_api",
    "bayesmix_layers",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_ext", "notebooks/README.md", "**.ipynb_checkpoints"]
root_doc = "index"

# every cross-reference to the public API must resolve: a broken :func:`bayesmix....` in a
# docstring fails the build.  Not checked: references to other projects (no intersphinx: the
# build runs offline) and to private modules and names (``bayesmix._files.atomic_write``),
# which have no pages.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!bayesmix\b).*"),
    (r"py:.*", r"bayesmix(\.\w+)*\._\w+.*"),
]

# autodoc / autosummary / numpydoc
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc Parameters sections give types, shapes and units
autosummary_generate = False  # pages come from bayesmix_api
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# MyST and notebooks
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_merge_streams = True

html_theme = "furo"
html_title = f"bayesmix {release}"
html_static_path: list[str] = []
