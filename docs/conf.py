"""Sphinx configuration for the Hyrax documentation."""

import sys
from pathlib import Path

# Local extensions: hyrax_reference generates docs/reference/ (the configuration reference and one
# page per verb) from the code at every build; hyrax_notebooks copies the example notebooks into
# docs/notebooks/, where myst-nb renders them.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "Hyrax"
author = "Hyrax developers"
extensions = [
    "myst_nb",  # also loads myst_parser, for the .md pages
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "hyrax_reference",
    "hyrax_notebooks",
]
# myst-nb writes executed notebooks and their images into jupyter_execute/ beside the output folder,
# which is docs/jupyter_execute for `sphinx-build docs docs/_build`; they are not pages.
exclude_patterns = ["_build", "_ext", "jupyter_execute"]
html_theme = "sphinx_rtd_theme"
autodoc_mock_imports = ["torch", "ignite", "mlflow", "umap", "chromadb", "holoviews", "tensorboardX"]
napoleon_numpy_docstring = True
# Anchors for headings down to ###, so pages can link to a section: download.md#prepare.
myst_heading_anchors = 3

# The notebooks are committed without outputs; "auto" executes each one that lacks outputs while it is
# read, in a temporary folder, so its ./results never land in the repository. The test suite passes
# notebooks it has already executed, with -D nb_execution_mode=off.
nb_execution_mode = "auto"
nb_execution_in_temp = True
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# stderr carries the verbs' log lines (with the temporary folder's paths) and the frames of the
# training progress bar, one line each once rendered; the pages show what the notebooks print and
# display.
nb_output_stderr = "remove"
# Outputs of the visualize explorer also carry HoloViews' own mime types, which only Jupyter renders;
# their HTML and JavaScript versions are rendered.
suppress_warnings = ["mystnb.unknown_mime_type"]
