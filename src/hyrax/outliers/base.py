"""``OutlierMethod``: the base class of the ways ``hyrax outliers`` scores objects.

A plug-in author reads only this file to add a method.

Writing a method
----------------
Subclass :class:`OutlierMethod` and implement :meth:`OutlierMethod.score`. The class registers
itself under its ``registry_name`` (its class name when empty); ``outliers.method`` names it, or
gives its dotted import path. ``score`` receives the :class:`ScoringJob` (the inference results,
memory-mapped, and the configuration) and returns one array per column, each with one value per
object in the results' order: ``"score"`` (higher is odder) and any parts worth keeping (a distance,
a reconstruction error). Read the vectors in batches of ``job.batch_size`` with :meth:`ScoringJob.batches`
so that a million objects fit in memory, and never build an n-by-n matrix.

Examples
--------
>>> import numpy as np
>>> from hyrax.outliers.base import OutlierMethod
>>> class Norm(OutlierMethod):
...     '''Objects far from the origin of the latent space.'''
...     registry_name = None  # an example: kept out of the registry
...     def score(self, job):
...         norms = np.concatenate([np.linalg.norm(v, axis=1) for _, v in job.batches()])
...         return {"score": norms, "norm": norms}
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hyrax.errors import HyraxError
from hyrax.registry import OUTLIER_REGISTRY, register_subclass


class OutlierError(HyraxError, ValueError):
    """Objects cannot be scored with the chosen method: named input, named fix."""


@dataclass
class ScoringJob:
    """What a method scores: the vectors of an infer run, and the configuration.

    Attributes
    ----------
    source : InferenceDataSet
        The infer run's results, memory-mapped.
    config : ConfigDict
        The whole configuration; the method's settings are in ``config["outliers"]``.
    """

    source: Any
    config: Mapping

    @functools.cached_property
    def ids(self) -> np.ndarray:
        """The object ids in the results' order, read once."""
        return np.asarray(self.source.ids()[:], dtype=str)

    @property
    def settings(self) -> Mapping:
        """The ``[outliers]`` table."""
        return self.config["outliers"]

    @property
    def batch_size(self) -> int:
        """Objects per batch, ``outliers.batch_size``."""
        return int(self.settings["batch_size"])

    def batches(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, vectors)`` of consecutive batches, as float32, in the results' order."""
        total = len(self.source)
        for start in range(0, total, self.batch_size):
            yield start, self.source.vectors(start, min(start + self.batch_size, total)).astype(np.float32)

    def sample(self, size: int) -> np.ndarray:
        """Vectors of at most ``size`` objects drawn at random with ``general.seed`` (all when fewer)."""
        total = len(self.source)
        if total <= size:
            return self.source.vectors(0, total).astype(np.float32)
        rng = np.random.default_rng(int(self.config["general"]["seed"]))
        positions = np.sort(rng.choice(total, size, replace=False))
        return np.asarray(self.source.reader.take(positions)["tensor"], dtype=np.float32)


class OutlierMethod(ABC):
    """Base class of outlier scoring methods; see the module docstring for how to write one."""

    registry_name: ClassVar[str | None] = ""
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        register_subclass(cls, OUTLIER_REGISTRY)

    @abstractmethod
    def score(self, job: ScoringJob) -> dict[str, np.ndarray]:
        """Score every object of ``job.source``: ``{"score": ..., <part>: ...}``, higher is odder."""


def check_scores(columns: Mapping[str, np.ndarray], n: int, method: str) -> dict[str, np.ndarray]:
    """Check a method's output: a finite ``score`` and parts, each one value per object."""
    if "score" not in columns:
        raise OutlierError(f"Outlier method {method} returned no 'score' column (it gave {sorted(columns)}).")
    checked = {name: np.asarray(values) for name, values in columns.items()}
    for name, values in checked.items():
        if values.shape != (n,):
            raise OutlierError(
                f"Outlier method {method} returned column {name!r} of shape {values.shape}; it needs one "
                f"value per object ({n},)."
            )
    bad = int((~np.isfinite(checked["score"])).sum())
    if bad:
        raise OutlierError(f"Outlier method {method} gave {bad} non-finite scores; check the vectors.")
    return checked
