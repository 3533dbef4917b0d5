"""Sphinx configuration for the Hyrax documentation."""

project = "Hyrax"
author = "Hyrax developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "sphinx_rtd_theme"
autodoc_mock_imports = ["torch", "ignite", "mlflow", "umap", "chromadb", "holoviews", "tensorboardX"]
napoleon_numpy_docstring = True
