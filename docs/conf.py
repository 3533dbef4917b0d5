"""Sphinx configuration for the Hyrax documentation."""

import sys
from pathlib import Path

# Local extensions: hyrax_reference generates docs/reference/ (the configuration reference and one
# page per verb) from the code at every build.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "Hyrax"
author = "Hyrax developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "hyrax_reference",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext"]
html_theme = "sphinx_rtd_theme"
autodoc_mock_imports = ["torch", "ignite", "mlflow", "umap", "chromadb", "holoviews", "tensorboardX"]
napoleon_numpy_docstring = True
# Anchors for headings down to ###, so pages can link to a section: download.md#prepare.
myst_heading_anchors = 3
