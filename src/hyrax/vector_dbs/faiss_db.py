"""FAISS backend: millions of vectors in a folder, searched through an IVF index.

The files of ``<path>/<collection>/`` (``vectors.f32``, ``records.arrow``, ``index.faiss``,
``settings.json``) are described in ``docs/vector_db.md``. Row ``r`` of ``vectors.f32`` is FAISS id
``r``. One process writes at a time (a lock file enforces it); readers may open the folder at any time.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.files import replacing, write_text_atomically
from hyrax.vector_dbs._file_lock import hold_writer_lock
from hyrax.vector_dbs.base import (
    Records,
    SearchResult,
    UnknownIdError,
    VectorDB,
    VectorDBError,
    import_optional,
)

logger = logging.getLogger(__name__)

_FORMAT_VERSION = 1
_SETTINGS = "settings.json"
_VECTORS = "vectors.f32"
_INDEX = "index.faiss"
_CHUNK = 200_000  # rows read from vectors.f32 at once when indexing or searching exactly


class FaissDB(VectorDB):
    """Vectors in files plus a FAISS IVF-Flat index: the backend for large collections.

    Parameters
    ----------
    path, collection, dim, metric
        See :class:`hyrax.vector_dbs.base.VectorDB`; FAISS has no server mode.
    nprobe : int, optional
        Inverted lists scanned per query; more is slower and more accurate. By default
        ``max(32, nlist // 24)`` of the ``nlist ~ sqrt(n)`` lists, which gave recall@10 >= 0.95 on
        100k and 1M clustered 64-d vectors (``benchmarks/vector_db.py``).
    exact_limit : int
        Collections up to this size are searched exactly (a few milliseconds) and get no index.
    """

    registry_name = "faiss"

    def __init__(self, path: Any = None, *, nprobe: int | None = None, exact_limit: int = 50_000, **kwargs):
        super().__init__(path, **kwargs)
        self.nprobe = nprobe
        self.exact_limit = int(exact_limit)
        self._folder = Path(path) / self.collection if path is not None else Path()
        self._state: dict[str, Any] = {}

    # ----- files -----

    def _write_state(self) -> None:
        write_text_atomically(self._folder / _SETTINGS, json.dumps(self._state, indent=1))

    def _matrix(self) -> np.ndarray:
        if self._n == 0:
            return np.empty((0, self.dim or 0), np.float32)
        return np.memmap(self._folder / _VECTORS, np.float32, "r", shape=(self._n, self.dim))

    def _open(self) -> dict[str, Any] | None:
        self._faiss = import_optional("faiss", "faiss")
        self._folder.mkdir(parents=True, exist_ok=True)
        self._n, self._ids, self._rows, self._columns = 0, [], {}, {}
        self._index, self._stale, self._pending = None, True, []
        self._dirty, self._lock = False, None
        if not (self._folder / _SETTINGS).exists():
            self._state = {"format_version": _FORMAT_VERSION, "count": 0, "clean": True, "trained_on": 0}
            return None
        self._state = json.loads((self._folder / _SETTINGS).read_text())
        self._n = int(self._state["count"])
        if self._n:
            self._load_records()
        if not self._state["clean"]:
            logger.warning(
                "The %s was not closed cleanly (or is being written now): reading its last committed "
                "state, and rebuilding its index.",
                self.where,
            )
        elif (self._folder / _INDEX).exists() and self._n > self.exact_limit:
            self._index = self._faiss.read_index(str(self._folder / _INDEX))
            self._stale = self._index.ntotal != self._n
        return {key: self._state.get(key) for key in ("dim", "metric", "metadata_fields")}

    def _load_records(self) -> None:
        from pyarrow import feather

        table = feather.read_table(self._folder / "records.arrow").slice(0, self._n)
        self._ids = table.column("id").to_pylist()
        self._rows = {object_id: row for row, object_id in enumerate(self._ids)}
        for name in table.column_names[1:]:
            # Arrow hands out read-only buffers; the columns are updated in place by later upserts.
            column = np.array(table.column(name).to_numpy(zero_copy_only=False))
            self._columns[name] = column.astype(str) if column.dtype == object else column

    def _save_settings(self, settings: dict[str, Any]) -> None:
        self._state.update(settings)
        self._write_state()

    def _close(self) -> None:
        try:
            if self._dirty or self._pending:
                self._commit()
        finally:
            # A failed commit leaves settings.json marked unclean, so the next writer can take the lock
            # and the next reader rebuilds the index from the last committed state.
            lock, self._lock = self._lock, None
            self._index, self._ids, self._rows, self._columns = None, [], {}, {}
            self._dirty, self._pending = False, []
            if lock is not None:
                lock.close()

    def _commit(self) -> None:
        """Write the index, the records and the settings of everything upserted since opening."""
        self._sync_index()
        if self._index is not None:
            with replacing(self._folder / _INDEX) as temporary:
                self._faiss.write_index(self._index, str(temporary))
        else:
            # An index left by a session with a smaller exact_limit no longer matches the vectors.
            (self._folder / _INDEX).unlink(missing_ok=True)
        import pyarrow as pa
        from pyarrow import feather

        table = pa.table({"id": pa.array(self._ids, pa.string()), **self._columns})
        with replacing(self._folder / "records.arrow") as temporary:
            feather.write_feather(table, str(temporary))
        self._state.update(count=self._n, clean=True)
        self._write_state()

    # ----- writing -----

    def _count(self) -> int:
        return self._n

    def _upsert(self, ids: list[str], vectors: np.ndarray, metadata: dict[str, np.ndarray]) -> None:
        if not self._dirty:
            # The writer's lock, and the folder marked unclean until close() commits.
            self._lock = hold_writer_lock(self._folder / "write.lock", self.where)
            self._dirty = True
            self._state["clean"] = False
            self._write_state()
        rows = np.fromiter((self._rows.get(i, -1) for i in ids), np.int64, len(ids))
        old, new = rows >= 0, rows < 0
        n_new = int(new.sum())
        rows[new] = np.arange(self._n, self._n + n_new)
        for name, values in metadata.items():
            _check_kind(self._columns.get(name), values, name)
        if old.any():
            stored = np.memmap(self._folder / _VECTORS, np.float32, "r+", shape=(self._n, self.dim))
            stored[rows[old]] = vectors[old]
            stored.flush()
            del stored
        if n_new:
            with open(self._folder / _VECTORS, "r+b" if self._n else "wb") as file:
                file.seek(self._n * self.dim * 4)
                file.write(vectors[new].tobytes())
            for object_id, row in zip(np.asarray(ids, dtype=object)[new], rows[new], strict=True):
                self._rows[object_id] = int(row)
                self._ids.append(object_id)
        for name, values in metadata.items():
            self._columns[name] = _merge(self._columns.get(name), values, rows, self._n + n_new)
        self._n += n_new
        self._pending.append(rows)

    # ----- searching -----

    def _prepared(self, vectors: np.ndarray) -> np.ndarray:
        """The vectors as the index sees them: unit length for the cosine metric."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.metric == "cosine":
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-30)
        return vectors

    def _sync_index(self) -> None:
        """Bring the IVF index up to date with vectors.f32: rebuild, update, or drop it."""
        pending, self._pending = self._pending, []
        if self._n <= self.exact_limit:
            self._index, self._stale = None, False
            return
        if self._stale or self._index is None or self._n > 4 * self._state["trained_on"]:
            self._build_index()
        elif pending:
            rows = np.unique(np.concatenate(pending))
            self._index.remove_ids(rows)
            self._index.add_with_ids(self._prepared(self._matrix()[rows]), rows)

    def _build_index(self) -> None:
        # About sqrt(n) lists: at 1M vectors, 4x more lists trained 7x slower for the same recall and
        # speed. Each list needs the 39 training points FAISS asks for per centroid.
        nlist = max(16, min(round(math.sqrt(self._n) / 32) * 32, self._n // 39))
        metric = self._faiss.METRIC_L2 if self.metric == "l2" else self._faiss.METRIC_INNER_PRODUCT
        index = self._faiss.index_factory(self.dim, f"IVF{nlist},Flat", metric)
        matrix = self._matrix()
        sample = np.random.default_rng(0).choice(self._n, size=min(self._n, 40 * nlist), replace=False)
        logger.info("Training a %d-list IVF index on %d of %d vectors", nlist, len(sample), self._n)
        index.train(self._prepared(matrix[np.sort(sample)]))
        for start in range(0, self._n, _CHUNK):
            stop = min(start + _CHUNK, self._n)
            index.add_with_ids(self._prepared(matrix[start:stop]), np.arange(start, stop))
        self._index, self._stale = index, False
        self._state.update(trained_on=self._n, nlist=nlist)

    def _search(self, vectors: np.ndarray, k: int) -> SearchResult:
        if self._pending or self._stale:
            self._sync_index()
        queries = self._prepared(vectors)
        if self._index is None:
            distances, rows = self._exact(queries, k)
        else:
            self._index.nprobe = min(self._index.nlist, self.nprobe or max(32, self._index.nlist // 24))
            distances, rows = self._index.search(queries, k)
            short = (rows < 0).any(axis=1)
            if short.any():
                # The probed lists held fewer than k vectors: answer those queries exactly.
                distances[short], rows[short] = self._exact(queries[short], k)
        if self.metric == "cosine":
            distances = 1 - distances
        ids = np.array([self._ids[r] for r in rows.ravel()], dtype=str).reshape(rows.shape)
        return SearchResult(ids, distances.astype(np.float32))

    def _exact(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force k nearest rows, one chunk of vectors.f32 at a time (raw FAISS scores)."""
        metric = self._faiss.METRIC_L2 if self.metric == "l2" else self._faiss.METRIC_INNER_PRODUCT
        sign = 1 if self.metric == "l2" else -1  # inner products: larger is nearer
        matrix, best_d, best_r = self._matrix(), [], []
        threads = self._faiss.omp_get_max_threads()
        try:
            if len(queries) < 20:
                # A few queries are split over threads by database rows, and the threads' barriers cost
                # 10x on a busy machine (25 ms instead of 2 ms for 1 query over 50k rows on 2 cores).
                self._faiss.omp_set_num_threads(1)
            for start in range(0, self._n, _CHUNK):
                chunk = self._prepared(matrix[start : start + _CHUNK])
                d, r = self._faiss.knn(queries, chunk, min(k, len(chunk)), metric=metric)
                best_d.append(d)
                best_r.append(r + start)
        finally:
            self._faiss.omp_set_num_threads(threads)
        d, r = np.concatenate(best_d, axis=1), np.concatenate(best_r, axis=1)
        order = np.argsort(sign * d, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(d, order, 1), np.take_along_axis(r, order, 1)

    def _get(self, ids: list[str], include_metadata: bool) -> Records:
        missing = [i for i in ids if i not in self._rows]
        if missing:
            raise UnknownIdError(missing, self.where)
        rows = np.fromiter((self._rows[i] for i in ids), np.int64, len(ids))
        metadata = {name: column[rows] for name, column in self._columns.items()} if include_metadata else {}
        return Records(np.array(self._matrix()[rows]), metadata)


def _check_kind(column: np.ndarray | None, values: np.ndarray, name: str) -> None:
    if column is not None and (column.dtype.kind == "U") != (values.dtype.kind == "U"):
        raise VectorDBError(
            f"Metadata field '{name}' holds {column.dtype} values; this upsert gives {values.dtype}. "
            "Keep each field either text or numbers."
        )


def _merge(column: np.ndarray | None, values: np.ndarray, rows: np.ndarray, length: int) -> np.ndarray:
    """Write ``values`` at ``rows`` of ``column`` grown to ``length``, widening its dtype if needed."""
    if column is None:
        column = values[:0]
    dtype = np.result_type(column.dtype, values.dtype)
    merged = column.astype(dtype, copy=False)
    if length > len(merged):
        merged = np.concatenate([merged, np.empty(length - len(merged), dtype)])
    merged[rows] = values
    return merged
