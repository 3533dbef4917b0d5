"""An in-memory cache of a dataset's decoded items, capped in bytes (``data_loader.cache``).

The cache keeps what ``get_data`` returns, that is images after the configured transforms. It suits
datasets whose reading or decoding is slow and whose transforms are deterministic; random
augmentations would be frozen at their first draw, so do not cache them.

Each process holds its own cache: with ``data_loader.num_workers > 0`` every worker fills a separate
copy, so memory use can reach ``num_workers * data_loader.cache_max_bytes``, and the hit and miss
counts stay in the workers (the main process's stay at zero). :func:`hyrax.datasets.loading.make_data_loader`
keeps workers alive between epochs when the dataset is cached, so their caches survive, and logs the
statistics after every epoch only when loading in the main process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from hyrax.datasets.base import HyraxDataset

logger = logging.getLogger(__name__)


class CachedDataset(HyraxDataset):
    """Wrap ``dataset`` so each object's data is decoded once and then served from memory.

    Items of cached objects share one tensor per object: do not modify ``item["data"]`` in place
    (batches from a data loader are copies, so training never does). ``get_data`` returns copies.

    Items are added until the next one would take the cache past ``max_bytes``; after that, objects
    not cached are read from ``dataset`` every time. Everything other than ``get_data`` is delegated
    to ``dataset``, including attributes this class does not define.

    Parameters
    ----------
    dataset : HyraxDataset
        The dataset to cache.
    max_bytes : int
        Memory cap of the cached arrays, in bytes.

    Examples
    --------
    >>> from hyrax.config import load_config
    >>> from hyrax.datasets.cache import CachedDataset
    >>> from hyrax.datasets.random_dataset import HyraxRandomDataset
    >>> cached = CachedDataset(HyraxRandomDataset(load_config()), max_bytes=10_000_000)
    >>> _ = cached[0], cached[0]
    >>> stats = cached.cache_stats()
    >>> stats["hits"], stats["misses"], stats["items"]
    (1, 1, 1)
    """

    registry_name = None

    def __init__(self, dataset: HyraxDataset, max_bytes: int):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative integer number of bytes; got {max_bytes!r}.")
        super().__init__(dataset.config)
        self.dataset = dataset
        self.max_bytes = int(max_bytes)
        self.clear_cache()

    def clear_cache(self) -> None:
        """Drop every cached array and reset the counters."""
        self._tensors: dict[int, torch.Tensor] = {}
        self.nbytes = self.hits = self.misses = self.refused = 0

    def _data_tensor(self, index: int) -> torch.Tensor:
        # Items share the cached tensor: copying 50 kB per hit would cost as much as the lookup, and
        # the data loader's collate copies it into the batch anyway.
        cached = self._tensors.get(index)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        tensor = torch.from_numpy(np.array(self.dataset.get_data(index), dtype=np.float32, order="C"))
        nbytes = tensor.numel() * tensor.element_size()
        if self.nbytes + nbytes <= self.max_bytes:
            self._tensors[index] = tensor
            self.nbytes += nbytes
        else:
            self.refused += 1
        return tensor

    def get_data(self, index: int) -> np.ndarray:
        """Return a copy of the data of object ``index``, from memory when it was read before."""
        return self._data_tensor(index).numpy().copy()

    def cache_stats(self) -> dict[str, int | float]:
        """Counters of this process's cache.

        Returns
        -------
        dict
            ``hits``, ``misses``, ``hit_rate`` (0 before any read), ``items`` cached, ``bytes`` used,
            ``max_bytes``, and ``refused``: misses not cached because the cap was reached.
        """
        reads = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / reads if reads else 0.0,
            "items": len(self._tensors),
            "bytes": self.nbytes,
            "max_bytes": self.max_bytes,
            "refused": self.refused,
        }

    def log_cache_stats(self) -> None:
        """Log :meth:`cache_stats` at INFO level (``hyrax.datasets.cache``)."""
        stats = self.cache_stats()
        logger.info(
            "Item cache of %s: %d hits, %d misses (hit rate %.1f%%), %d items in %.1f of %.1f MB%s.",
            type(self.dataset).__name__,
            stats["hits"],
            stats["misses"],
            100 * stats["hit_rate"],
            stats["items"],
            stats["bytes"] / 1e6,
            stats["max_bytes"] / 1e6,
            f"; {stats['refused']} reads not cached because the cap was reached" if stats["refused"] else "",
        )

    def __len__(self) -> int:
        return len(self.dataset)

    def ids(self) -> Sequence[str]:
        """The wrapped dataset's ids."""
        return self.dataset.ids()

    def get_label(self, index: int) -> int | None:
        """The wrapped dataset's label of object ``index``."""
        return self.dataset.get_label(index)

    def index_of(self, object_id: str) -> int:
        """The wrapped dataset's index of ``object_id``."""
        return self.dataset.index_of(object_id)

    def metadata_fields(self) -> list[str]:
        """The wrapped dataset's metadata fields."""
        return self.dataset.metadata_fields()

    def metadata_table(self) -> Mapping[str, np.ndarray]:
        """The wrapped dataset's metadata columns."""
        return self.dataset.metadata_table()

    def metadata(self, indices: Sequence[int] | np.ndarray, fields: Sequence[str]) -> dict[str, np.ndarray]:
        """The wrapped dataset's metadata, so datasets that override ``metadata`` keep their fast path."""
        return self.dataset.metadata(indices, fields)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally; "dataset" itself is guarded so that
        # unpickling (which looks attributes up before __init__ runs) cannot recurse.
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"CachedDataset({self.dataset!r}, max_bytes={self.max_bytes})"
