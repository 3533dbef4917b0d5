"""``ResultsReader``: memory-mapped reading of a results directory, and id lookup by binary search.

See :mod:`hyrax.inference.results_format` for the files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import DataError
from hyrax.inference.results_format import (
    BATCH_PATTERN,
    INDEX_NAME,
    as_id_array,
    batch_file_name,
    id_width,
    row_dtype,
)


def _load(path: Path) -> np.ndarray:
    # An empty array cannot be memory-mapped.
    array = np.load(path, mmap_mode="r")
    return array if len(array) else np.load(path)


class ResultsReader:
    """Memory-mapped access to the rows of a results directory; nothing is read until it is used.

    Parameters
    ----------
    directory : path
        A folder written by :class:`ResultsWriter`.

    Raises
    ------
    DataError
        When the folder lacks ``batch_index.npy`` or a batch file.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        index_path = self.directory / INDEX_NAME
        if not index_path.is_file():
            raise DataError(
                f"{self.directory} holds no {INDEX_NAME}, so it is not the results of a finished infer or "
                f"umap run. Name a results directory of `hyrax infer` or `hyrax umap`."
            )
        numbers = sorted(
            int(match[1]) for name in os.listdir(self.directory) if (match := BATCH_PATTERN.match(name))
        )
        if numbers != list(range(len(numbers))):
            missing = sorted(set(range(max(numbers) + 1)) - set(numbers))
            raise DataError(f"{self.directory} lacks {batch_file_name(missing[0])}; its results are partial.")
        self._index_path = index_path
        self._index: np.ndarray | None = None
        self.files = [_load(self.directory / batch_file_name(number)) for number in numbers]
        self.offsets = np.concatenate([[0], np.cumsum([len(file) for file in self.files])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def dtype(self) -> np.dtype | None:
        """The row dtype of the first batch file, or None when there are no rows."""
        return self.files[0].dtype if self.files else None

    @property
    def has_labels(self) -> bool:
        """True when the rows carry labels."""
        return self.dtype is not None and "label" in self.dtype.names

    @property
    def index(self) -> np.ndarray:
        """``batch_index.npy``, memory-mapped."""
        if self._index is None:
            self._index = _load(self._index_path)
        return self._index

    def locate(self, positions: Any) -> tuple[np.ndarray, np.ndarray]:
        """Batch file numbers and rows of the given positions (0 to ``len(self) - 1``)."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= len(self)):
            bad = positions[(positions < 0) | (positions >= len(self))][0]
            raise IndexError(f"Position {bad} is out of range for the {len(self)} rows in {self.directory}.")
        files = np.searchsorted(self.offsets, positions, side="right") - 1
        return files, positions - self.offsets[files]

    def row(self, position: int) -> np.void:
        """One row (a structured scalar) by position."""
        files, rows = self.locate([position])
        return self.files[int(files[0])][int(rows[0])]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop``, read into one structured array.

        The rows are read from the files rather than through the memory maps, so a pass over all
        rows in blocks (as umap makes) keeps only one block in memory.
        """
        start, stop = max(int(start), 0), min(int(stop), len(self))
        parts = []
        for number, array in enumerate(self.files):
            low, high = max(start, self.offsets[number]), min(stop, self.offsets[number + 1])
            if low < high:  # so the file has rows, and is memory-mapped
                with open(array.filename, "rb") as file:
                    file.seek(array.offset + int(low - self.offsets[number]) * array.dtype.itemsize)
                    parts.append(np.fromfile(file, dtype=array.dtype, count=int(high - low)))
        return self._combine(parts)

    def take(self, positions: Any) -> np.ndarray:
        """The rows at ``positions``, in that order, copied into one structured array."""
        files, rows = self.locate(positions)
        if len(files) == 0:
            return self._combine([])
        width = max(id_width(self.files[number].dtype) for number in np.unique(files))
        result = np.empty(len(files), dtype=self._dtype(width))
        for number in np.unique(files):
            chosen = files == number
            result[chosen] = self.files[number][rows[chosen]].astype(result.dtype)
        return result

    def _dtype(self, width: int) -> np.dtype:
        dtype = self.dtype
        return row_dtype(width, dtype["tensor"].shape, "label" in dtype.names)

    def _combine(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.empty(0, dtype=self.dtype if self.dtype is not None else row_dtype(1, (), False))
        dtype = self._dtype(max(id_width(part.dtype) for part in parts))
        return np.concatenate([part.astype(dtype) for part in parts])

    def find(self, ids: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``ids`` and a mask of which were found (positions of the others are -1)."""
        queries = as_id_array(ids).reshape(-1)
        index = self.index
        if len(index) == 0 or len(queries) == 0:
            return np.full(len(queries), -1, dtype=np.int64), np.zeros(len(queries), dtype=bool)
        stored = index.dtype["id"]
        fits = np.ones(len(queries), dtype=bool)
        if queries.dtype.itemsize > stored.itemsize:
            # A query longer than every stored id is absent; cutting it to size must not make it match.
            fits = np.char.str_len(queries) <= id_width(stored)
            queries = queries.astype(stored)
        slots = np.minimum(np.searchsorted(index["id"], queries), len(index) - 1)
        entries = index[slots]
        found = fits & (entries["id"] == queries)
        positions = np.where(found, self.offsets[entries["batch"]] + entries["row"], -1)
        return positions.astype(np.int64), found

    def lookup(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Positions of ``ids``.

        Raises
        ------
        DataError
            Naming the first id that is not in the results.
        """
        positions, found = self.find(ids)
        if not found.all():
            missing = np.asarray(ids).reshape(-1)[~found]
            raise DataError(
                f"Object id '{missing[0]}' is not in the results in {self.directory} ({len(self)} objects"
                f"{f'; {len(missing)} of the ids asked for are missing' if len(missing) > 1 else ''})."
            )
        return positions
