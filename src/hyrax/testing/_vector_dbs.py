"""The checks behind :func:`hyrax.testing.check_vector_db`: the contract of ``VectorDB``."""

from __future__ import annotations

import logging
import logging.handlers
import re
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import HyraxError
from hyrax.registry import VECTOR_DB_REGISTRY
from hyrax.testing._common import ContractError, PluginChecks, describe_error
from hyrax.vector_dbs.base import MissingDependencyError, UnknownIdError, VectorDB, VectorDBError

N, DIM = 600, 8
"""Size of the test collection: large enough to drive approximate indexes, small enough to be quick."""


def _data() -> tuple[list[str], Any, dict[str, Any]]:
    rng = np.random.default_rng(1)
    centers = rng.normal(0, 3, (12, DIM))
    vectors = (centers[rng.integers(0, 12, N)] + rng.normal(0, 1, (N, DIM))).astype(np.float32)
    metadata = {
        "mag": rng.uniform(18, 25, N),
        "n_exposures": rng.integers(1, 9, N),
        "is_star": rng.random(N) < 0.3,
        "band": np.array(["g", "r", "i"])[np.arange(N) % 3],
    }
    return [f"obj-{i}" for i in range(N)], vectors, metadata


BASE_CLASS_FIX = (
    "Leave the public methods (upsert, search_by_vector, get_by_id, ...) to the base class, which "
    "validates the arguments, splits large upserts and logs the warnings."
)
CHECKS: list[tuple[str, str, Callable[[Any], None]]] = []
"""The checks in order, as (what the check requires, what to change when it fails, method)."""


def _check(requirement: str, fix: str = BASE_CLASS_FIX) -> Callable:
    """Add the decorated method to :data:`CHECKS`; the default ``fix`` is for work the base class does."""

    def add(method: Callable[[Any], None]) -> Callable[[Any], None]:
        CHECKS.append((requirement, fix, method))
        return method

    return add


class VectorDBChecks(PluginChecks):
    """Each check method opens its databases with :meth:`open` and states failures with ``assert``."""

    def __init__(self, db_class: type | str, options: dict[str, Any]):
        super().__init__(VECTOR_DB_REGISTRY.get(db_class) if isinstance(db_class, str) else db_class)
        self.options = options
        self.ids, self.vectors, self.metadata = _data()
        self.opened: list[Any] = []

    def run(self, folder: str | Path | None) -> None:
        self.check_subclass(
            VectorDB, "Subclass VectorDB and implement its abstract methods (see its docstring)."
        )
        self.name = self.cls.registry_name or self.name
        # An omitted folder is a temporary one, removed afterwards.
        with nullcontext(folder) if folder is not None else tempfile.TemporaryDirectory() as root:
            for number, (check, fix, method) in enumerate(CHECKS):
                self.path = Path(root) / f"{number:02d}_{method.__name__.removeprefix('check_')}"
                try:
                    method(self)
                except (ContractError, MissingDependencyError):
                    raise
                except AssertionError as error:
                    raise self.fail(check, str(error), fix) from error
                except Exception as error:
                    raise self.fail(check, f"it raised {describe_error(error)}", fix) from error
                finally:
                    for db in self.opened:
                        db.close()
                    self.opened.clear()

    def open(self, cls: type | None = None, **kwargs: Any) -> Any:
        db = (cls or self.cls)(path=self.path, **{**self.options, **kwargs})
        db.connect()
        self.opened.append(db)
        return db

    def expect(self, error: type, pattern: str, call: Callable[[], Any]) -> BaseException:
        """Run ``call``, which must raise ``error`` with a message matching ``pattern``."""
        try:
            call()
        except error as caught:
            if not re.search(pattern, str(caught)):
                raise AssertionError(
                    f"the {type(caught).__name__} says {str(caught)!r}, which does not mention {pattern!r}"
                ) from caught
            return caught
        raise AssertionError(f"no {error.__name__} was raised (expected one mentioning {pattern!r})")

    @_check(
        "each object is its own nearest neighbour",
        "_upsert must store every vector under its id, _count count them, and _search return the k "
        "nearest of each query, nearest first.",
    )
    def check_nearest_neighbours(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids, self.vectors, self.metadata)
        assert db.count() == N, f"count() is {db.count()} after upserting {N} vectors"
        found = db.search_by_id(self.ids[:50], k=5)
        assert found.ids.shape == found.distances.shape == (50, 5), (
            f"search_by_id of 50 ids with k=5 gave shapes {found.ids.shape} and {found.distances.shape}"
        )
        wrong = [i for i in range(50) if found.ids[i, 0] != self.ids[i]]
        assert not wrong, f"objects {wrong[:5]} are not their own nearest neighbour"
        assert np.allclose(found.distances[:, 0], 0, atol=1e-4), "an object's distance to itself is not ~0"
        assert (np.diff(found.distances, axis=1) >= -1e-5).all(), "neighbours are not sorted nearest first"

    @_check(
        "l2 is the squared Euclidean distance and cosine is 1 - cos",
        "Return the squared Euclidean distance for metric 'l2' (square a plain Euclidean distance) and "
        "1 - cos(a, b) for 'cosine', so that distances mean the same in every backend.",
    )
    def check_distance_convention(self) -> None:
        expected = {"l2": [0.0, 1.0, 50.0], "cosine": [0.0, 1 - 28 / (5 * np.sqrt(32)), 1.0]}
        for metric, distances in expected.items():
            self.path = self.path.with_name(f"{self.path.name}_{metric}")
            db = self.open(dim=2, metric=metric)
            db.upsert(["same", "near", "far"], np.array([[3, 4], [4, 4], [-4, 3]]))
            found = db.search_by_vector(np.array([3, 4]), k=3)
            assert list(found.ids[0]) == ["same", "near", "far"], f"{metric}: order {list(found.ids[0])}"
            assert np.allclose(found.distances[0], distances, atol=1e-5), (
                f"metric={metric!r} gave distances {found.distances[0].tolist()}, expected {distances}"
            )

    @_check(
        "re-upserting replaces and never duplicates",
        "_upsert must replace the vector and metadata of an id that is already stored, not add a copy.",
    )
    def check_reupsert(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids, self.vectors, self.metadata)
        db.upsert(self.ids, self.vectors, self.metadata)
        assert db.count() == N, f"count() is {db.count()} after upserting the same {N} ids twice"
        moved = self.vectors[:5] + 100
        db.upsert(self.ids[:5], moved, {name: column[:5][::-1] for name, column in self.metadata.items()})
        assert db.count() == N, f"count() is {db.count()} after replacing 5 of {N} vectors"
        stored = db.get_by_id(self.ids[:5])
        assert np.allclose(stored.vectors, moved), "get_by_id returns the old vectors of replaced ids"
        assert list(stored.metadata["band"]) == list(self.metadata["band"][:5][::-1]), (
            "get_by_id returns the old metadata of replaced ids"
        )
        assert db.search_by_vector(moved[0], k=1).ids[0, 0] == self.ids[0], "search finds the old vector"

    @_check(
        "reopens from its folder",
        "_save_settings and _close must write the settings and vectors into the folder, and _open "
        "must read them back and return the saved settings.",
    )
    def check_reopen(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids, self.vectors, self.metadata)
        db.close()
        again = self.open()
        assert (again.count(), again.dim) == (N, DIM), (
            f"reopened, it has count {again.count()} and dim {again.dim}, not {N} and {DIM}"
        )
        assert again.metadata_fields == sorted(self.metadata), (
            f"reopened, its metadata fields are {again.metadata_fields}"
        )
        assert again.search_by_vector(self.vectors[7], k=3).ids[0, 0] == self.ids[7], "reopened, search fails"
        assert np.allclose(again.get_by_id([self.ids[9]]).vectors[0], self.vectors[9]), (
            "reopened, get_by_id returns another vector"
        )

    @_check(
        "searches return (n, min(k, count())) arrays of str ids and float32 distances",
        "_search must return a SearchResult of (n, k) arrays: ids as str, distances as float32.",
    )
    def check_search_shapes(self) -> None:
        db = self.open(dim=DIM)
        empty = db.search_by_vector(self.vectors[:3], k=4).ids.shape
        assert empty == (3, 0), f"searching an empty collection gave shape {empty}, not (3, 0)"
        db.upsert(self.ids[:20], self.vectors[:20])
        batch = db.search_by_vector(self.vectors[:7], k=4)
        assert batch.ids.shape == batch.distances.shape == (7, 4), f"7 queries, k=4 gave {batch.ids.shape}"
        assert batch.ids.dtype.kind == "U" and batch.distances.dtype == np.float32, (
            f"ids are {batch.ids.dtype} and distances {batch.distances.dtype}, not str and float32"
        )
        one = db.search_by_vector(self.vectors[0], k=4).ids.shape
        assert one == (1, 4), f"one query vector gave shape {one}, not (1, 4)"
        clamped = db.search_by_vector(self.vectors[:2], k=50).ids.shape
        assert clamped == (2, 20), f"k=50 over 20 vectors gave shape {clamped}, not (2, 20)"

    @_check("queries of the wrong shape or with NaN are rejected with the reason")
    def check_bad_queries(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids[:20], self.vectors[:20])
        cases = [
            (5.0, "the single number 5.0"),
            (np.ones(3), "dimension 3"),
            (np.ones((2, 16)), "dimension 16"),
            (np.ones((2, 2, DIM)), re.escape(f"shape (2, 2, {DIM})")),
            (np.array([]), "dimension 0"),
            ([[1.0] * DIM, [1.0]], "not all numbers"),
            ("abc", "not all numbers"),
        ]
        for query, given in cases:
            caught = self.expect(VectorDBError, given, lambda query=query: db.search_by_vector(query, k=3))
            assert f"1-d array of {DIM} numbers" in str(caught), (
                f"{caught} does not give the expected dimension"
            )
        queries = self.vectors[:3].copy()
        queries[1, 2], queries[2, 0] = np.nan, np.inf
        self.expect(
            VectorDBError,
            "2 of the 3 query vectors contain NaN or infinity",
            lambda: db.search_by_vector(queries, k=3),
        )

    @_check("k must be a positive integer")
    def check_k(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids[:20], self.vectors[:20])
        for k in [0, -2, 2.5, 3.0, "3", None, True, float("nan")]:
            caught = self.expect(
                VectorDBError,
                "k, the number of neighbours, must be a positive integer",
                lambda k=k: db.search_by_vector(self.vectors[0], k=k),
            )
            assert repr(k) in str(caught), f"the error for k={k!r} does not show the value given"
        shape = db.search_by_id([self.ids[0]], k=np.int64(3)).ids.shape
        assert shape == (1, 3), f"k=np.int64(3) gave shape {shape}"

    @_check("a k larger than the collection returns everything, with a warning")
    def check_k_clamped(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids[:20], self.vectors[:20])
        warnings = logging.handlers.BufferingHandler(capacity=1000)
        warnings.setLevel(logging.WARNING)
        hyrax_logger, root = logging.getLogger("hyrax"), logging.getLogger()
        level = hyrax_logger.level
        root.addHandler(warnings)
        hyrax_logger.setLevel(min(hyrax_logger.getEffectiveLevel(), logging.WARNING))
        try:
            found = db.search_by_id(self.ids[:2], k=50)
            warned = [record.getMessage() for record in warnings.buffer]
            warnings.flush()
            db.search_by_id(self.ids[:2], k=20)
        finally:
            root.removeHandler(warnings)
            hyrax_logger.setLevel(level)
        assert found.ids.shape == found.distances.shape == (2, 20), f"k=50 over 20 gave {found.ids.shape}"
        assert [sorted(row) for row in found.ids.tolist()] == [sorted(self.ids[:20])] * 2, (
            "k=50 over 20 vectors does not return all 20"
        )
        assert any("k=50" in m and "holds 20 vectors" in m for m in warned), (
            f"no warning saying k=50 and 'holds 20 vectors' was logged (logged: {warned})"
        )
        unexpected = [record.getMessage() for record in warnings.buffer]
        assert not unexpected, f"k equal to the count logged a warning: {unexpected}"

    @_check(
        "get_by_id returns vectors and metadata in the order asked",
        "_get must return the records in the order of the ids, with every stored metadata field, and "
        "none when include_metadata is False.",
    )
    def check_get_by_id(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids, self.vectors, self.metadata)
        order = [17, 3, N - 1, 0]
        records = db.get_by_id([self.ids[i] for i in order])
        assert np.array_equal(records.vectors, self.vectors[order]), "vectors are not those asked, in order"
        assert sorted(records.metadata) == sorted(self.metadata), (
            f"metadata fields {sorted(records.metadata)}"
        )
        for name, column in self.metadata.items():
            if column.dtype.kind == "f":  # Chroma may round the last bit of a float64
                same = np.allclose(records.metadata[name], column[order], rtol=1e-12)
            else:
                same = np.array_equal(records.metadata[name], column[order])
            assert same, f"metadata field {name!r} is not the one stored, in the order asked"
        assert db.get_by_id([self.ids[1]], include_metadata=False).metadata == {}, (
            "include_metadata=False still returns metadata"
        )

    @_check(
        "unknown ids raise UnknownIdError naming them",
        "_get must raise UnknownIdError(missing_ids, self.where) for ids that are not stored.",
    )
    def check_unknown_ids(self) -> None:
        db = self.open(dim=DIM)
        db.upsert(self.ids[:10], self.vectors[:10])
        for method in (db.get_by_id, db.search_by_id):
            caught = self.expect(
                UnknownIdError, "'no-such-object'", lambda m=method: m([self.ids[1], "no-such-object"])
            )
            assert isinstance(caught, KeyError) and isinstance(caught, HyraxError)
            assert caught.ids == ["no-such-object"], f"UnknownIdError.ids is {caught.ids}"

    @_check("upserts beyond max_batch_size are split")
    def check_batched_upsert(self) -> None:
        small = type(
            f"_{self.cls.__name__}InSmallBatches",
            (self.cls,),
            {"registry_name": None, "max_batch_size": property(lambda self: 64)},
        )
        db = self.open(small, dim=DIM)
        sizes: list[int] = []
        backend_upsert = db._upsert
        db._upsert = lambda i, v, m: sizes.append(len(i)) or backend_upsert(i, v, m)
        db.upsert(self.ids, self.vectors, self.metadata)
        expected = [64] * (N // 64) + [N % 64]
        assert sizes == expected, f"with max_batch_size 64, _upsert received batches of {sizes}"
        assert db.count() == N, f"count() is {db.count()} after a batched upsert of {N}"

    @_check("invalid upserts are rejected with the reason and store nothing")
    def check_invalid_upserts(self) -> None:
        ids, vectors, metadata = self.ids, self.vectors, self.metadata
        db = self.open(dim=DIM)
        db.upsert(ids[:10], vectors[:10], {name: column[:10] for name, column in metadata.items()})
        cases = {
            "dimension 3": (ids[10:12], np.ones((2, 3)), None),
            "repeat": (["x", "x"], vectors[:2], None),
            "NaN": (["x"], np.full((1, DIM), np.nan), None),
            "2 vectors": (["x"], vectors[:2], None),
            "metadata fields": (["x"], vectors[:1], {"mag": np.ones(1)}),
            "one value per id": (["x"], vectors[:1], {name: column[:2] for name, column in metadata.items()}),
        }
        for reason, (bad_ids, bad_vectors, bad_metadata) in cases.items():
            columns = bad_metadata or {k: v[:1] for k, v in metadata.items()}
            self.expect(VectorDBError, reason, lambda i=bad_ids, v=bad_vectors, m=columns: db.upsert(i, v, m))
        assert db.count() == 10, f"count() is {db.count()} after rejected upserts into 10 vectors"

    @_check(
        "reopening with another dimension or metric fails",
        "_open must return the stored settings (dim, metric), so that the base class refuses a mismatch.",
    )
    def check_reopen_mismatch(self) -> None:
        self.open(dim=DIM).upsert(self.ids[:5], self.vectors[:5])
        self.expect(VectorDBError, f"dimension {DIM}, not 16", lambda: self.open(dim=16))
        self.expect(VectorDBError, "'l2' metric", lambda: self.open(metric="cosine"))
