"""train → infer → save_to_database → lookup / database_connection on the default synthetic galaxies.

One small model is trained and run once per module; each backend then gets its own database.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from hyrax import Hyrax
from hyrax.errors import ResultsNotFoundError
from hyrax.results import list_results_dirs
from hyrax.vector_dbs._checks import VectorDBError
from hyrax.vector_dbs.base import UnknownIdError, VectorDB
from hyrax.vector_dbs.connect import RECORD_NAME, open_vector_db
from hyrax_cli.main import main

SIZE = 300
SETTINGS = {
    "data_set.SyntheticGalaxyDataSet.size": SIZE,
    "data_set.SyntheticGalaxyDataSet.image_size": 32,
    "model.HyraxAutoencoder.latent_dim": 16,
    "data_loader.batch_size": 32,
    "train.epochs": 4,
    "train.progress_bar": False,
    "train.mlflow": False,
    "train.tensorboard": False,
    "vector_db.metadata_fields": ["class", "label"],
    # After a few epochs the latent vectors' directions separate the classes much better than their
    # lengths do (measured precision@10: cosine ~0.33-0.40, l2 ~0.24, chance 0.20).
    "vector_db.metric": "cosine",
    "vector_db.insert_batch_size": 128,  # several batches for 300 vectors
}
BACKENDS = ["chromadb", "faiss"]


def make_hyrax(root, **extra) -> Hyrax:
    h = Hyrax()
    h.set_config("general.results_dir", str(root / "results"))
    h.set_config("general.data_dir", str(root / "data"))
    for key, value in {**SETTINGS, **extra}.items():
        h.set_config(key, value)
    return h


def config_toml(root, name: str) -> str:
    """The same settings as a configuration file, for the command line."""
    lines = [f'[general]\nresults_dir = "{root / "results"}"\ndata_dir = "{root / "data"}"']
    lines.append(f'[vector_db]\nname = "{name}"')
    path = root / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def inferred(tmp_path_factory):
    """A trained autoencoder's inference results, shared by every test here."""
    root = tmp_path_factory.mktemp("vector_db_chain")
    h = make_hyrax(root)
    h.train()
    infer = h.infer()
    return root, infer


@pytest.fixture(scope="module", params=BACKENDS)
def saved(request, inferred, tmp_path_factory):
    """One save_to_database run per backend, in its own results folder reading the shared infer run."""
    root, infer = inferred
    own = tmp_path_factory.mktemp(f"saved_{request.param}")
    h = make_hyrax(own, **{"vector_db.name": request.param, "vector_db.input_dir": str(infer.results_dir)})
    db = h.save_to_database()
    return h, infer, db, own


def test_every_vector_is_saved_with_its_metadata(saved):
    h, infer, db, _ = saved
    assert isinstance(db, VectorDB) and db.count() == SIZE
    (run_dir,) = list_results_dirs(h.config["general"]["results_dir"], "save_to_database")
    record = json.loads((run_dir / RECORD_NAME).read_text())
    assert record["path"] == "vector_db" and record["count"] == SIZE
    ids = list(infer.ids())
    with h.database_connection() as connection:
        records = connection.get_by_id(ids[:5])
        np.testing.assert_allclose(records.vectors, infer.vectors(0, 5), rtol=1e-6)
        assert records.metadata["label"].tolist() == infer.reader.read(0, 5)["label"].tolist()
        assert set(records.metadata["class"]) <= {"elliptical", "spiral", "edge_on", "star", "blend"}


def cosine_distances(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact ``1 - cos`` distances, ``(n_queries, n_vectors)``, in float64."""
    vectors = vectors / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
    return 1 - queries @ vectors.T


def recall(found: np.ndarray, ids: list[str], exact: np.ndarray) -> float:
    """Fraction of the found ids that are among the exact k nearest of their query.

    A neighbour tied with the exact k-th nearest counts as correct, so the order in which an index
    breaks ties does not matter.
    """
    column = {object_id: number for number, object_id in enumerate(ids)}
    k = found.shape[1]
    kth = np.sort(exact, axis=1)[:, k - 1 : k]
    found_distances = np.take_along_axis(exact, np.vectorize(column.get)(found), axis=1)
    return float((found_distances <= kth + 1e-6).mean())


def test_lookup_finds_the_object_itself_first(saved):
    h, infer, _, _ = saved
    ids, vectors = list(infer.ids()), infer.vectors(0, SIZE)
    exact = cosine_distances(vectors, vectors[3:4])[0]
    by_id = h.lookup(id="galaxy_000003", k=5)
    by_vector = h.lookup(vector=vectors[3], k=5)
    for found in (by_id, by_vector):
        assert found.dtype.names == ("object_id", "distance", "class", "label")
        assert len(found) == 5 and found["object_id"][0] == "galaxy_000003"
        assert found["distance"][0] == pytest.approx(0, abs=1e-5)
        assert np.all(np.diff(found["distance"]) >= -1e-6)
        # An approximate index may miss a neighbour, but every distance it reports is the true one.
        true = exact[[ids.index(object_id) for object_id in found["object_id"]]]
        np.testing.assert_allclose(found["distance"], true, atol=1e-4)


def test_search_has_high_recall_against_an_exact_search(saved):
    h, infer, _, _ = saved
    ids, vectors = list(infer.ids()), infer.vectors(0, SIZE)
    with h.database_connection() as connection:
        found = connection.search_by_vector(vectors, k=10).ids
    measured = recall(found, ids, cosine_distances(vectors, vectors))
    print(f"recall@10 {measured:.4f}")
    assert measured >= 0.95


def test_neighbours_share_their_class(saved):
    h, infer, _, _ = saved
    ids = list(infer.ids())
    with h.database_connection() as connection:
        result = connection.search_by_id(ids, k=11)
        labels = dict(zip(ids, connection.get_by_id(ids).metadata["label"].tolist(), strict=True))
    assert (result.ids[:, 0] == np.array(ids)).all() and np.abs(result.distances[:, 0]).max() < 1e-4
    same = np.array(
        [[labels[n] == labels[q] for n in row[1:]] for q, row in zip(ids, result.ids, strict=True)]
    )
    precision = same.mean()
    frequency = np.bincount(list(labels.values())) / len(ids)
    chance = float((frequency**2).sum())
    print(f"precision@10 {precision:.3f} vs chance {chance:.3f}")
    assert precision > 1.5 * chance


def test_search_by_vector_single_and_batched(saved):
    h, infer, _, _ = saved
    with h.database_connection() as connection:
        one = connection.search_by_vector(infer.vectors(7, 8)[0], k=3)
        many = connection.search_by_vector(infer.vectors(0, 10), k=3)
    assert one.ids.shape == (1, 3) and many.ids.shape == (10, 3)
    assert one.ids[0, 0] == infer.ids()[7]
    assert many.ids[:, 0].tolist() == list(infer.ids()[0:10])


def test_an_interrupted_run_completes_when_run_again_without_duplicates(saved, tmp_path):
    h, infer, db, _ = saved
    name, folder = db.registry_name, tmp_path / "db"
    h = make_hyrax(
        tmp_path,
        **{
            "vector_db.name": name,
            "vector_db.input_dir": str(infer.results_dir),
            "vector_db.vector_db_dir": str(folder),
        },
    )
    with open_vector_db(h.config["vector_db"], for_writing=True) as partial:  # as if a run stopped after 100
        partial.upsert(
            list(infer.ids()[:100]), infer.vectors(0, 100), infer.metadata(range(100), ["class", "label"])
        )
    assert h.save_to_database().count() == SIZE
    assert h.save_to_database().count() == SIZE
    assert h.lookup(id="galaxy_000010", k=1)["object_id"][0] == "galaxy_000010"


def test_lookup_unknown_id_names_it(saved):
    h, _, _, _ = saved
    with pytest.raises(UnknownIdError, match="no_such_galaxy"):
        h.lookup(id="no_such_galaxy")


def test_lookup_from_the_command_line(saved, capsys):
    _, _, db, root = saved
    config = config_toml(root, db.registry_name)
    assert main(["lookup", "-c", config, "--id", "galaxy_000003", "-k", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["rank", "object_id", "distance", "class", "label"]
    assert len(lines) == 2 + 5 and lines[2].split()[:2] == ["1", "galaxy_000003"]
    assert main(["lookup", "-c", config, "--id", "galaxy_999999"]) == 1
    assert "galaxy_999999" in capsys.readouterr().err


def test_lookup_without_a_database_says_what_to_run(tmp_path):
    h = make_hyrax(tmp_path)
    with pytest.raises(ResultsNotFoundError, match="save_to_database"):
        h.lookup(id="galaxy_000003")
    h.set_config("vector_db.vector_db_dir", str(tmp_path / "missing"))
    with pytest.raises(ResultsNotFoundError, match="no vector database"):
        h.database_connection()


def test_a_second_writer_of_one_folder_stops_before_writing(saved, tmp_path):
    h, infer, db, _ = saved
    folder = tmp_path / "db"
    h = make_hyrax(
        tmp_path,
        **{
            "vector_db.name": db.registry_name,
            "vector_db.input_dir": str(infer.results_dir),
            "vector_db.vector_db_dir": str(folder),
            "vector_db.metadata_fields": [],
        },
    )
    settings = h.config["vector_db"]
    first_id, first_vector = str(infer.ids()[0]), infer.vectors(0, 1)[0].tolist()
    script = (
        "import sys; from hyrax.registry import VECTOR_DB_REGISTRY\n"
        f"db = VECTOR_DB_REGISTRY.get({db.registry_name!r})({str(folder)!r}, "
        f"collection={settings['collection']!r}, metric={settings['metric']!r})\n"
        f"db.upsert([{first_id!r}], [{first_vector!r}])\n"
        "print('writing', flush=True); sys.stdin.read(); db.close()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "writing"
        with pytest.raises(
            VectorDBError, match=rf"{re.escape(str(folder))}.*written by process {holder.pid}\b"
        ):
            h.save_to_database()
    finally:
        holder.communicate("")
    assert not list_results_dirs(h.config["general"]["results_dir"], "save_to_database")
    assert h.save_to_database().count() == SIZE
