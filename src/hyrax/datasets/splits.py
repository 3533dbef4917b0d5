"""Train / validate / test splits of a dataset's indices, and their storage beside a run's results.

Sizes come from ``data_set.train_size``, ``data_set.validate_size`` and ``data_set.test_size``. Each
is a fraction of the dataset (a float from 0 to 1), a count of objects (an int), or false: false
gives train or test whatever the other two leave, and gives validate nothing. ``1`` is a count of one
object while ``1.0`` is the whole dataset. Fractions are rounded down; when the three sizes cover the
whole dataset, the objects lost to rounding join train.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import ConfigError, DataError

SPLIT_NAMES = ("train", "validate", "test")
SPLITS_FILE_NAME = "splits.npz"


class SplitsNotFoundError(DataError, FileNotFoundError):
    """A results directory holds no saved splits."""


def _count(name: str, size: Any, n_objects: int) -> int | None:
    key = f"data_set.{name}_size"
    if size is False:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"{key} must be a fraction from 0 to 1, a count of objects, or false; got {size!r}.", key=key
        )
    if not size >= 0:
        raise ConfigError(
            f"{key} = {size!r} is not a size; use a fraction from 0 to 1, a count of objects, or false.",
            key=key,
        )
    if isinstance(size, (float, np.floating)):
        if size > 1:
            raise ConfigError(
                f"{key} = {size!r} is a fraction above 1. Use a value from 0 to 1, or write a count of "
                f"objects as an integer ({int(size)}).",
                key=key,
            )
        # The epsilon keeps 0.3 * 10 from rounding down to 2.
        return int(np.floor(size * n_objects + 1e-9))
    if size > n_objects:
        raise ConfigError(f"{key} = {size} is more objects than the dataset has ({n_objects}).", key=key)
    return int(size)


def make_splits(
    n_objects: int,
    train_size: float | int | bool,
    validate_size: float | int | bool,
    test_size: float | int | bool,
    seed: int | None,
) -> dict[str, np.ndarray]:
    """Draw disjoint random train, validate and test index sets.

    Parameters
    ----------
    n_objects : int
        Size of the dataset.
    train_size, validate_size, test_size : float, int or False
        Fraction (0-1), count, or False (see the module docstring). Train and test may not both be False.
    seed : int or None
        Seed of the shuffle; the same seed and sizes always give the same splits.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"train"``, ``"validate"`` and ``"test"``, each a sorted int64 array of indices.

    Raises
    ------
    ConfigError
        Naming the ``data_set.*_size`` keys and values when a size is invalid or the sizes add up
        to more than the dataset.

    Examples
    --------
    >>> from hyrax.datasets.splits import make_splits
    >>> splits = make_splits(10, 0.6, 0.2, False, seed=1)
    >>> [len(splits[name]) for name in ("train", "validate", "test")]
    [6, 2, 2]
    """
    if isinstance(n_objects, bool) or n_objects < 0:
        raise ValueError(f"n_objects must be a non-negative integer; got {n_objects!r}.")
    sizes = {"train": train_size, "validate": validate_size, "test": test_size}
    counts = {name: _count(name, size, n_objects) for name, size in sizes.items()}
    if counts["train"] is None and counts["test"] is None:
        raise ConfigError(
            "data_set.train_size and data_set.test_size are both false, but only one of them can take "
            "what is left. Set one of them to a fraction or a count.",
            key="data_set.train_size",
        )
    counts["validate"] = counts["validate"] or 0
    given = sum(count for count in counts.values() if count is not None)
    if given > n_objects:
        listing = ", ".join(f"data_set.{name}_size = {sizes[name]!r}" for name in SPLIT_NAMES)
        raise ConfigError(
            f"The splits ask for {given} objects but the dataset has {n_objects} ({listing}). "
            f"Make the fractions sum to at most 1, or the counts to at most {n_objects}.",
            key="data_set.train_size",
        )
    left = n_objects - given
    for name in ("train", "test"):
        if counts[name] is None:
            counts[name] = left
            left = 0
    fractions = [
        size if isinstance(size, (float, np.floating)) else size / max(n_objects, 1)
        for size in sizes.values()
        if size is not False
    ]
    if left and sum(fractions) >= 1 - 1e-9:
        counts["train"] += left

    # The objects after the three splits (when the sizes leave some) are in no split.
    bounds = np.cumsum([counts[name] for name in SPLIT_NAMES])
    parts = np.split(np.random.default_rng(seed).permutation(n_objects), bounds)
    return {name: np.sort(part).astype(np.int64) for name, part in zip(SPLIT_NAMES, parts, strict=False)}


def splits_from_config(config: Mapping, n_objects: int) -> dict[str, np.ndarray]:
    """Call :func:`make_splits` with the sizes of ``config["data_set"]`` and ``config["general"]["seed"]``."""
    table = config["data_set"]
    return make_splits(
        n_objects, table["train_size"], table["validate_size"], table["test_size"], config["general"]["seed"]
    )


def save_splits(directory: str | os.PathLike, splits: Mapping[str, np.ndarray]) -> Path:
    """Write ``splits`` to ``directory/splits.npz`` and return that path."""
    path = Path(directory) / SPLITS_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{name: np.asarray(indices, dtype=np.int64) for name, indices in splits.items()})
    return path


def load_splits(directory: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the splits :func:`save_splits` wrote in ``directory``.

    Raises
    ------
    SplitsNotFoundError
        Naming the missing file.
    """
    path = Path(directory) / SPLITS_FILE_NAME
    if not path.is_file():
        raise SplitsNotFoundError(
            f"No saved splits at {path}. Splits are written by the train verb into its results directory; "
            f"point at a complete train run."
        )
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}
