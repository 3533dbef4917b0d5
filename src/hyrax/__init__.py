"""Hyrax: a low-code PyTorch toolkit for machine learning on astronomy images.

``import hyrax`` is deliberately light: the heavy libraries (torch, umap, chromadb, mlflow, holoviews)
are imported only by the verbs that need them.

Examples
--------
>>> from hyrax import Hyrax  # doctest: +SKIP
>>> h = Hyrax()  # doctest: +SKIP
>>> model = h.train()  # doctest: +SKIP
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hyrax")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Hyrax", "__version__"]


def __getattr__(name: str):
    if name == "Hyrax":
        from hyrax.hyrax import Hyrax

        return Hyrax
    raise AttributeError(f"module 'hyrax' has no attribute '{name}'")


def __dir__():
    return sorted(__all__)
