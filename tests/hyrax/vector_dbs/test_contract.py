"""The contract every vector database backend keeps, run over every registered backend.

A new backend passes this suite unchanged; ``VARIANTS`` adds constructor options that drive a
backend through another code path (FAISS's IVF index instead of exact search) at test sizes.
"""

import logging
import subprocess
import sys

import numpy as np
import pytest

from hyrax.errors import HyraxError
from hyrax.registry import VECTOR_DB_REGISTRY
from hyrax.vector_dbs.base import MissingDependencyError, UnknownIdError, VectorDBError

VARIANTS = {"faiss-ivf": ("faiss", {"exact_limit": 200})}
BACKENDS = {name: (name, {}) for name in VECTOR_DB_REGISTRY.names()} | VARIANTS

N, DIM = 600, 8


@pytest.fixture(params=sorted(BACKENDS))
def open_db(request, tmp_path):
    """Factory of connected databases of one backend, all in the same folder; closed at teardown."""
    name, options = BACKENDS[request.param]
    db_class = VECTOR_DB_REGISTRY.get(name)
    opened = []

    def factory(**kwargs):
        db = db_class(path=tmp_path / "db", **{**options, **kwargs})
        try:
            db.connect()
        except MissingDependencyError as error:
            pytest.skip(str(error))
        opened.append(db)
        return db

    yield factory
    for db in opened:
        db.close()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    centers = rng.normal(0, 3, (12, DIM))
    vectors = (centers[rng.integers(0, 12, N)] + rng.normal(0, 1, (N, DIM))).astype(np.float32)
    ids = [f"obj-{i}" for i in range(N)]
    metadata = {
        "mag": rng.uniform(18, 25, N),
        "n_exposures": rng.integers(1, 9, N),
        "is_star": rng.random(N) < 0.3,
        "band": np.array(["g", "r", "i"])[np.arange(N) % 3],
    }
    return ids, vectors, metadata


def test_upsert_counts_and_each_object_is_its_own_nearest_neighbour(open_db, data):
    ids, vectors, metadata = data
    db = open_db(dim=DIM)
    db.upsert(ids, vectors, metadata)
    assert db.count() == N
    found = db.search_by_id(ids[:50], k=5)
    assert found.ids.shape == found.distances.shape == (50, 5)
    assert list(found.ids[:, 0]) == ids[:50]
    np.testing.assert_allclose(found.distances[:, 0], 0, atol=1e-4)
    assert (np.diff(found.distances, axis=1) >= -1e-5).all()


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("l2", [0.0, 1.0, 50.0]), ("cosine", [0.0, 0.2, 1.0])],
)
def test_distance_convention(open_db, metric, expected):
    db = open_db(dim=2, metric=metric)
    db.upsert(["same", "near", "far"], np.array([[3, 4], [4, 4], [-4, 3]]))
    found = db.search_by_vector(np.array([3, 4]), k=3)
    assert list(found.ids[0]) == ["same", "near", "far"]
    if metric == "cosine":
        expected = [0.0, 1 - 28 / (5 * np.sqrt(32)), 1.0]
    np.testing.assert_allclose(found.distances[0], expected, atol=1e-5)


def test_reupsert_replaces_and_never_duplicates(open_db, data):
    ids, vectors, metadata = data
    db = open_db(dim=DIM)
    db.upsert(ids, vectors, metadata)
    db.upsert(ids, vectors, metadata)
    assert db.count() == N
    moved = vectors[:5] + 100
    db.upsert(ids[:5], moved, {name: column[:5][::-1] for name, column in metadata.items()})
    assert db.count() == N
    stored = db.get_by_id(ids[:5])
    np.testing.assert_allclose(stored.vectors, moved)
    np.testing.assert_array_equal(stored.metadata["band"], metadata["band"][:5][::-1])
    assert db.search_by_vector(moved[0], k=1).ids[0, 0] == ids[0]


def test_reopen_from_disk_and_query(open_db, data):
    ids, vectors, metadata = data
    db = open_db(dim=DIM)
    db.upsert(ids, vectors, metadata)
    db.close()
    reopened = open_db()
    assert (reopened.count(), reopened.dim) == (N, DIM)
    assert reopened.metadata_fields == sorted(metadata)
    assert reopened.search_by_vector(vectors[7], k=3).ids[0, 0] == ids[7]
    np.testing.assert_allclose(reopened.get_by_id([ids[9]]).vectors[0], vectors[9])


def test_search_shapes(open_db, data):
    ids, vectors, _ = data
    db = open_db(dim=DIM)
    assert db.search_by_vector(vectors[:3], k=4).ids.shape == (3, 0)
    db.upsert(ids[:20], vectors[:20])
    batch = db.search_by_vector(vectors[:7], k=4)
    assert batch.ids.shape == batch.distances.shape == (7, 4)
    assert batch.ids.dtype.kind == "U" and batch.distances.dtype == np.float32
    assert db.search_by_vector(vectors[0], k=4).ids.shape == (1, 4)
    assert db.search_by_vector(vectors[:2], k=50).ids.shape == (2, 20)
    with pytest.raises(VectorDBError, match="positive integer"):
        db.search_by_vector(vectors[0], k=0)


@pytest.mark.parametrize(
    ("query", "given"),
    [
        (5.0, "the single number 5.0"),
        (np.ones(3), "dimension 3"),
        (np.ones((2, 16)), "dimension 16"),
        (np.ones((2, 2, DIM)), r"shape \(2, 2, 8\)"),
        (np.array([]), "dimension 0"),
        ([[1.0] * DIM, [1.0]], "not all numbers"),
        ("abc", "not all numbers"),
    ],
)
def test_a_query_of_the_wrong_shape_names_the_expected_and_given_dimension(open_db, data, query, given):
    ids, vectors, _ = data
    db = open_db(dim=DIM)
    db.upsert(ids[:20], vectors[:20])
    with pytest.raises(VectorDBError, match=given) as caught:
        db.search_by_vector(query, k=3)
    assert f"1-d array of {DIM} numbers" in str(caught.value)


def test_a_query_with_nan_or_infinity_is_rejected(open_db, data):
    ids, vectors, _ = data
    db = open_db(dim=DIM)
    db.upsert(ids[:20], vectors[:20])
    queries = vectors[:3].copy()
    queries[1, 2], queries[2, 0] = np.nan, np.inf
    with pytest.raises(VectorDBError, match="2 of the 3 query vectors contain NaN or infinity"):
        db.search_by_vector(queries, k=3)


@pytest.mark.parametrize("k", [0, -2, 2.5, 3.0, "3", None, True, float("nan")])
def test_k_must_be_a_positive_integer(open_db, data, k):
    ids, vectors, _ = data
    db = open_db(dim=DIM)
    db.upsert(ids[:20], vectors[:20])
    with pytest.raises(
        VectorDBError, match=r"k, the number of neighbours, must be a positive integer"
    ) as caught:
        db.search_by_vector(vectors[0], k=k)
    assert repr(k) in str(caught.value)
    assert db.search_by_id([ids[0]], k=np.int64(3)).ids.shape == (1, 3)


def test_k_larger_than_the_collection_returns_everything_with_a_warning(open_db, data, caplog):
    ids, vectors, _ = data
    db = open_db(dim=DIM)
    db.upsert(ids[:20], vectors[:20])
    with caplog.at_level(logging.WARNING, logger="hyrax.vector_dbs.base"):
        found = db.search_by_id(ids[:2], k=50)
    assert found.ids.shape == found.distances.shape == (2, 20)
    assert [sorted(row) for row in found.ids.tolist()] == [sorted(ids[:20])] * 2
    assert "k=50" in caplog.text and "holds 20 vectors" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hyrax.vector_dbs.base"):
        db.search_by_id(ids[:2], k=20)
    assert caplog.text == ""


def test_get_by_id_round_trip_in_the_order_asked(open_db, data):
    ids, vectors, metadata = data
    db = open_db(dim=DIM)
    db.upsert(ids, vectors, metadata)
    order = [17, 3, 599, 0]
    records = db.get_by_id([ids[i] for i in order])
    np.testing.assert_array_equal(records.vectors, vectors[order])
    assert sorted(records.metadata) == sorted(metadata)
    for name, column in metadata.items():
        if column.dtype.kind == "f":  # Chroma may round the last bit of a float64
            np.testing.assert_allclose(records.metadata[name], column[order], rtol=1e-12)
        else:
            np.testing.assert_array_equal(records.metadata[name], column[order])
    assert db.get_by_id([ids[1]], include_metadata=False).metadata == {}


def test_unknown_id_error_names_the_id(open_db, data):
    ids, vectors, _ = data
    db = open_db(dim=DIM)
    db.upsert(ids[:10], vectors[:10])
    for call in (db.get_by_id, db.search_by_id):
        with pytest.raises(UnknownIdError) as caught:
            call([ids[1], "no-such-object"])
        assert isinstance(caught.value, KeyError) and isinstance(caught.value, HyraxError)
        assert "'no-such-object'" in str(caught.value) and caught.value.ids == ["no-such-object"]


def test_upsert_beyond_max_batch_size_is_split(open_db, data, monkeypatch):
    ids, vectors, metadata = data
    db = open_db(dim=DIM)
    monkeypatch.setattr(type(db), "max_batch_size", property(lambda self: 64))
    sizes = []
    backend_upsert = db._upsert
    monkeypatch.setattr(db, "_upsert", lambda i, v, m: sizes.append(len(i)) or backend_upsert(i, v, m))
    db.upsert(ids, vectors, metadata)
    assert sizes == [64] * 9 + [N - 9 * 64]
    assert db.count() == N


def test_invalid_input_is_rejected_with_the_reason(open_db, data):
    ids, vectors, metadata = data
    db = open_db(dim=DIM)
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
        with pytest.raises(VectorDBError, match=reason):
            db.upsert(bad_ids, bad_vectors, bad_metadata or {k: v[:1] for k, v in metadata.items()})
    assert db.count() == 10


def test_reopening_with_another_dimension_or_metric_fails(open_db, data):
    ids, vectors, _ = data
    open_db(dim=DIM).upsert(ids[:5], vectors[:5])
    with pytest.raises(VectorDBError, match="dimension 8, not 16"):
        open_db(dim=16)
    with pytest.raises(VectorDBError, match="'l2' metric"):
        open_db(metric="cosine")


def test_backend_modules_import_without_their_libraries():
    code = (
        "import sys, hyrax.registry as r; r.VECTOR_DB_REGISTRY.names(); "
        "print(sorted(m for m in ('chromadb', 'faiss', 'torch') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_backend_missing_methods_is_refused_when_defined():
    from hyrax.vector_dbs.base import VectorDB

    class _Partial(VectorDB):
        registry_name = None  # an abstract intermediate class is allowed and not registered

    with pytest.raises(TypeError, match="must implement _close, _count, _get"):

        class Incomplete(_Partial):
            registry_name = "incomplete"

            def _open(self):
                return None

    assert "incomplete" not in VECTOR_DB_REGISTRY
