"""Build the configured dataset and the PyTorch data loaders over its splits."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.cache import CachedDataset
from hyrax.errors import ConfigError
from hyrax.registry import DATA_SET_REGISTRY, get_or_load_class, import_object, qualified_name

logger = logging.getLogger(__name__)


def build_dataset(config: Mapping) -> HyraxDataset:
    """Instantiate the dataset ``config["data_set"]["name"]`` names, cached if ``data_loader.cache`` is true.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole configuration; it is passed to the dataset's constructor.

    Returns
    -------
    HyraxDataset
        The dataset, or a :class:`~hyrax.datasets.cache.CachedDataset` wrapping it (reach the dataset
        itself through its ``dataset`` attribute).

    Raises
    ------
    ConfigError
        When the name resolves to something that is not a ``HyraxDataset`` subclass.
    UnknownNameError, PluginImportError
        When the name is neither registered nor importable.
    """
    cls = get_or_load_class(config["data_set"], DATA_SET_REGISTRY)
    if not (inspect.isclass(cls) and issubclass(cls, HyraxDataset)):
        what = (
            qualified_name(cls) if inspect.isclass(cls) else f"{qualified_name(cls)} ({type(cls).__name__})"
        )
        raise ConfigError(
            f"data_set.name = {config['data_set']['name']!r} is {what}, which is not a dataset: dataset "
            f"classes must subclass hyrax.datasets.base.HyraxDataset and implement __len__, get_data "
            f"and ids (see the HyraxDataset docstring).",
            key="data_set.name",
        )
    dataset = cls(config)
    loader_config = config.get("data_loader", {})
    if loader_config.get("cache", False):
        dataset = CachedDataset(dataset, loader_config["cache_max_bytes"])
    return dataset


class _CacheReportingDataLoader(DataLoader):
    """A DataLoader that logs the dataset cache's counters after each complete pass."""

    def __init__(self, *args: Any, cache: CachedDataset, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._cache = cache

    def __iter__(self):
        yield from super().__iter__()
        self._cache.log_cache_stats()


def _collate_fn(loader_config: Mapping) -> Any:
    path = loader_config.get("collate_fn", False)
    if path is False or path is None:
        return None
    try:
        collate = import_object(path)
    except ImportError as error:
        raise ConfigError(f"data_loader.collate_fn: {error}", key="data_loader.collate_fn") from error
    if not callable(collate):
        raise ConfigError(
            f"data_loader.collate_fn = {path!r} is a {type(collate).__name__}, not a function.",
            key="data_loader.collate_fn",
        )
    return collate


def make_data_loader(
    dataset: HyraxDataset,
    indices: Sequence[int] | np.ndarray | None,
    loader_config: Mapping,
    *,
    shuffle: bool,
    seed: int,
    drop_last: bool = False,
) -> DataLoader:
    """Return a DataLoader over the objects of ``dataset`` at ``indices``.

    Parameters
    ----------
    dataset : HyraxDataset
        The dataset (possibly cached, see :func:`build_dataset`).
    indices : sequence of int, or None
        The split to load, e.g. ``splits["train"]``; None loads every object.
    loader_config : mapping
        The ``[data_loader]`` table: ``batch_size``, ``num_workers``, ``pin_memory`` and
        ``collate_fn`` (a dotted import path, or false for PyTorch's default).
    shuffle : bool
        Reshuffle the objects at every pass.
    seed : int
        Seed of the shuffling and of the workers' random generators; the same seed gives the same
        batches in the same order, run after run.
    drop_last : bool
        Drop the last batch when it is smaller than ``batch_size``.

    Returns
    -------
    torch.utils.data.DataLoader
        Yields batches of the items ``HyraxDataset.__getitem__`` returns, collated.
    """
    subset = dataset if indices is None else Subset(dataset, np.asarray(indices, dtype=np.int64).tolist())
    num_workers = int(loader_config.get("num_workers", 0))
    cached = isinstance(dataset, CachedDataset)
    kwargs: dict[str, Any] = {
        "batch_size": int(loader_config.get("batch_size", 1)),
        "shuffle": shuffle,
        "num_workers": num_workers,
        "pin_memory": bool(loader_config.get("pin_memory", False)),
        "collate_fn": _collate_fn(loader_config),
        "drop_last": drop_last,
        "generator": torch.Generator().manual_seed(int(seed)),
        # Workers that restart every epoch would start every epoch with an empty cache.
        "persistent_workers": cached and num_workers > 0,
    }
    if cached and num_workers > 0:
        logger.info(
            "data_loader.cache with %d workers: each worker keeps its own cache of up to %d bytes; their hit "
            "counts stay in the workers, so no per-epoch cache statistics are logged.",
            num_workers,
            dataset.max_bytes,
        )
    elif cached:
        return _CacheReportingDataLoader(subset, cache=dataset, **kwargs)
    return DataLoader(subset, **kwargs)
