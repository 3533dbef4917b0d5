import logging
import sys

import numpy as np
import pytest

from hyrax.vector_dbs.base import MissingDependencyError, VectorDBError

pytest.importorskip("faiss")

from hyrax.vector_dbs.faiss_db import FaissDB  # noqa: E402

DIM = 16


@pytest.fixture(scope="module")
def clustered():
    rng = np.random.default_rng(3)
    centers = rng.normal(0, 1, (50, DIM))
    vectors = (centers[rng.integers(0, 50, 6000)] + rng.normal(0, 0.5, (6000, DIM))).astype(np.float32)
    return [f"o{i}" for i in range(len(vectors))], vectors


def exact_neighbours(vectors, queries, k):
    d = (queries**2).sum(1)[:, None] - 2 * queries @ vectors.T + (vectors**2).sum(1)[None, :]
    return np.argsort(d, axis=1)[:, :k]


def test_large_collection_gets_a_persisted_ivf_index_with_high_recall(tmp_path, clustered):
    ids, vectors = clustered
    with FaissDB(path=tmp_path, dim=DIM, exact_limit=1000) as db:
        db.upsert(ids, vectors)
    assert (tmp_path / "hyrax" / "index.faiss").exists()
    queries = vectors[:200] + np.random.default_rng(0).normal(0, 0.3, (200, DIM)).astype(np.float32)
    with FaissDB(path=tmp_path, exact_limit=1000) as db:
        assert db._index is not None and db._index.ntotal == len(ids)
        found = db.search_by_vector(queries, k=10).ids
    truth = np.array(ids)[exact_neighbours(vectors, queries, 10)]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95


def test_index_is_updated_in_place_then_retrained_as_the_collection_grows(tmp_path, clustered):
    ids, vectors = clustered
    with FaissDB(path=tmp_path, dim=DIM, exact_limit=500) as db:
        db.upsert(ids[:1000], vectors[:1000])
        db.search_by_vector(vectors[0], k=1)
        assert db._state["trained_on"] == 1000
        db.upsert(ids[:10], vectors[:10] + 50)
        db.upsert(ids[1000:3000], vectors[1000:3000])
        assert db.search_by_vector(vectors[0] + 50, k=1).ids[0, 0] == ids[0]
        assert (db._state["trained_on"], db._index.ntotal) == (1000, 3000)
        db.upsert(ids[3000:], vectors[3000:])
        assert db.search_by_id([ids[-1]], k=1).ids[0, 0] == ids[-1]
        assert (db._state["trained_on"], db._index.ntotal) == (6000, 6000)


def test_unclean_shutdown_keeps_the_last_closed_state_and_rebuilds_the_index(tmp_path, clustered, caplog):
    ids, vectors = clustered
    with FaissDB(path=tmp_path, dim=DIM, exact_limit=500) as db:
        db.upsert(ids[:1000], vectors[:1000])
    crashed = FaissDB(path=tmp_path, exact_limit=500)
    crashed.upsert(ids[1000:1100], vectors[1000:1100])
    crashed._lock.close()  # the process died: its lock is released, close() never ran
    with caplog.at_level(logging.WARNING), FaissDB(path=tmp_path, exact_limit=500) as db:
        assert db.count() == 1000
        assert "not closed cleanly" in caplog.text
        assert db.search_by_id([ids[5]], k=1).ids[0, 0] == ids[5]
        assert db._index.ntotal == 1000


def test_a_second_writer_is_refused(tmp_path, clustered):
    ids, vectors = clustered
    with FaissDB(path=tmp_path, dim=DIM) as first, FaissDB(path=tmp_path, dim=DIM) as second:
        first.upsert(ids[:5], vectors[:5])
        with pytest.raises(VectorDBError, match="being written"):
            second.upsert(ids[5:10], vectors[5:10])


def test_metadata_strings_widen_when_replaced(tmp_path):
    with FaissDB(path=tmp_path, dim=2) as db:
        db.upsert(["a", "b"], np.eye(2), {"name": np.array(["x", "y"])})
        db.upsert(["a"], np.eye(2)[:1], {"name": np.array(["a much longer name"])})
        with pytest.raises(VectorDBError, match="Metadata field 'name'"):
            db.upsert(["c"], np.eye(2)[:1], {"name": np.array([1.5])})
    with FaissDB(path=tmp_path) as db:
        assert db.get_by_id(["a", "b"]).metadata["name"].tolist() == ["a much longer name", "y"]


def test_no_server_mode(tmp_path):
    with pytest.raises(VectorDBError, match="no server mode"):
        FaissDB(server_url="http://127.0.0.1:8000")


def test_missing_faiss_names_the_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hyrax\[faiss\]'"):
        FaissDB(path=tmp_path).connect()


def test_metadata_of_a_reopened_collection_can_be_updated(tmp_path):
    from hyrax.vector_dbs.faiss_db import FaissDB

    with FaissDB(tmp_path) as db:
        db.upsert(["a", "b"], np.eye(2, dtype=np.float32), {"m": np.array([1, 2])})
    with FaissDB(tmp_path) as db:
        db.upsert(["a"], np.eye(2, dtype=np.float32)[:1], {"m": np.array([3])})
    with FaissDB(tmp_path) as db:
        assert db.get_by_id(["a", "b"]).metadata["m"].tolist() == [3, 2]
        assert db.count() == 2


def test_a_failed_close_releases_the_write_lock(tmp_path, clustered, monkeypatch):
    from pyarrow import feather

    ids, vectors = clustered
    db = FaissDB(path=tmp_path, dim=DIM)
    db.upsert(ids[:5], vectors[:5])
    lock = db._lock

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="No space left"):
        patch.setattr(feather, "write_feather", disk_full)
        db.close()
    assert lock.closed and db._lock is None
    with FaissDB(path=tmp_path) as second:
        second.upsert(ids[:5], vectors[:5])
    with FaissDB(path=tmp_path) as reopened:
        assert reopened.count() == 5


@pytest.fixture
def three_omp_threads():
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(3)
    yield faiss
    faiss.omp_set_num_threads(before)


def test_a_failed_exact_search_restores_the_openmp_thread_count(
    tmp_path, clustered, three_omp_threads, monkeypatch
):
    faiss = three_omp_threads
    ids, vectors = clustered
    seen = []

    def failing_knn(*args, **kwargs):
        seen.append(faiss.omp_get_max_threads())
        raise RuntimeError("search failed")

    with FaissDB(path=tmp_path, dim=DIM) as db:
        db.upsert(ids[:100], vectors[:100])
        monkeypatch.setattr(faiss, "knn", failing_knn)
        with pytest.raises(RuntimeError, match="search failed"):
            db.search_by_vector(vectors[0], k=3)
    assert seen == [1]
    assert faiss.omp_get_max_threads() == 3
