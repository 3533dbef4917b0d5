"""``lookup`` checks its query vector and k against the database before searching."""

import logging

import numpy as np
import pytest

from hyrax import Hyrax
from hyrax.registry import VECTOR_DB_REGISTRY
from hyrax.vector_dbs.base import MissingDependencyError, VectorDBError

IDS = ["a", "b", "c", "d", "e"]
VECTORS = np.arange(20, dtype=np.float32).reshape(5, 4)


@pytest.fixture(params=["chromadb", "faiss"])
def h(request, tmp_path):
    """A Hyrax whose configuration names a database of five 4-d vectors."""
    folder = tmp_path / "db"
    try:
        with VECTOR_DB_REGISTRY.get(request.param)(path=folder, dim=4) as db:
            db.upsert(IDS, VECTORS)
    except MissingDependencyError as error:
        pytest.skip(str(error))
    h = Hyrax()
    h.set_config("general.results_dir", str(tmp_path / "results"))
    h.set_config("vector_db.name", request.param)
    h.set_config("vector_db.vector_db_dir", str(folder))
    return h


def test_a_query_vector_of_the_wrong_dimension_names_both_dimensions(h):
    with pytest.raises(VectorDBError, match=r"1-d array of 4 numbers.*got the single number 5.0"):
        h.lookup(vector=5.0)
    with pytest.raises(VectorDBError, match="have dimension 3, but .* holds vectors of dimension 4"):
        h.lookup(vector=[1.0, 2.0, 3.0])


def test_lookup_takes_exactly_one_query_vector(h):
    assert h.lookup(vector=VECTORS[2:3], k=1)["object_id"].tolist() == ["c"]
    with pytest.raises(VectorDBError, match="lookup takes one query vector"):
        h.lookup(vector=VECTORS[:2])


def test_k_must_be_a_positive_integer(h):
    for k in (0, 2.5, "3"):
        with pytest.raises(VectorDBError, match=f"must be a positive integer.*got {k!r}"):
            h.lookup(id="a", k=k)


def test_k_larger_than_the_database_returns_every_object_with_a_warning(h, caplog):
    with caplog.at_level(logging.WARNING, logger="hyrax.vector_dbs.base"):
        found = h.lookup(id="c", k=100)
    assert found["object_id"][0] == "c" and sorted(found["object_id"].tolist()) == IDS
    assert "k=100" in caplog.text and "holds 5 vectors" in caplog.text
