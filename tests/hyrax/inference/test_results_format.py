"""Round trips of the results format: ResultsWriter's batch files and id index, read by ResultsReader."""

from __future__ import annotations

import numpy as np
import pytest

from hyrax.config import load_config, read_toml
from hyrax.errors import DataError
from hyrax.inference.results_format import DATASET_CONFIG_NAME, INDEX_NAME, write_dataset_config
from hyrax.inference.results_reader import ResultsReader
from hyrax.inference.results_writer import ResultsWriter


def write_shuffled(folder, n, *, file_bytes=2_000, batch=37, labelled=True, dim=3):
    """Write ``n`` rows whose vectors encode their write position; ids of several widths."""
    rng = np.random.default_rng(0)
    ids = np.array([f"obj{i}" if i % 3 else f"long_object_name_{i}" for i in rng.permutation(n)])
    with ResultsWriter(folder, file_bytes=file_bytes) as writer:
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            vectors = np.arange(start, stop)[:, None] * np.ones((1, dim))
            labels = np.arange(start, stop) % 5 if labelled else None
            writer.write(ids[start:stop], vectors, np.arange(start, stop) + 1000, labels)
    return ids


def test_rows_keep_ids_vectors_indices_and_labels_together_across_files(tmp_path):
    ids = write_shuffled(tmp_path, 1000)
    reader = ResultsReader(tmp_path)
    assert len(reader) == 1000 and len(reader.files) > 5 and reader.has_labels
    rows = reader.read(0, 1000)
    assert rows["id"].tolist() == ids.tolist()
    np.testing.assert_array_equal(rows["tensor"][:, 0], np.arange(1000))
    np.testing.assert_array_equal(rows["index"], np.arange(1000) + 1000)
    np.testing.assert_array_equal(rows["label"], np.arange(1000) % 5)
    picked = reader.take([999, 0, 512, 513])
    assert picked["id"].tolist() == ids[[999, 0, 512, 513]].tolist()
    np.testing.assert_array_equal(picked["tensor"][:, 2], [999, 0, 512, 513])
    assert str(reader.row(7)["id"]) == ids[7]


def test_index_is_sorted_and_lookup_is_vectorised(tmp_path):
    ids = write_shuffled(tmp_path, 1000)
    reader = ResultsReader(tmp_path)
    index = np.load(tmp_path / INDEX_NAME)
    assert index.dtype.names == ("id", "batch", "row")
    assert (index["id"][1:] > index["id"][:-1]).all()
    order = np.random.default_rng(1).permutation(1000)
    np.testing.assert_array_equal(reader.lookup(ids[order]), order)
    assert not list(tmp_path.glob(".run_*")), "the temporary sorted runs are removed"


def test_missing_ids_are_reported_by_name(tmp_path):
    write_shuffled(tmp_path, 50)
    reader = ResultsReader(tmp_path)
    positions, found = reader.find(["obj1", "nope", "obj1_but_much_longer_than_any_stored_id"])
    assert found.tolist() == [True, False, False] and positions[1:].tolist() == [-1, -1]
    with pytest.raises(DataError, match="'nope' is not in the results"):
        reader.lookup(["obj1", "nope"])


def test_duplicate_ids_are_an_error_naming_the_id(tmp_path):
    writer = ResultsWriter(tmp_path, file_bytes=100)
    writer.write(["a", "b"], np.zeros((2, 2)))
    writer.write(["c", "a"], np.zeros((2, 2)))
    with pytest.raises(DataError, match="'a' was written more than once"):
        writer.close()
    assert not (tmp_path / INDEX_NAME).exists()


def test_batches_must_agree_on_shape_and_labels(tmp_path):
    writer = ResultsWriter(tmp_path)
    writer.write(["a"], np.zeros((1, 2)), labels=[1])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        writer.write(["b"], np.zeros((1, 3)), labels=[1])
    with pytest.raises(ValueError, match="no labels"):
        writer.write(["b"], np.zeros((1, 2)))
    with pytest.raises(ValueError, match="one row per id"):
        writer.write(["b", "c"], np.zeros((1, 2)), labels=[1])


def test_multidimensional_vectors_and_an_empty_writer(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "empty").mkdir()
    with ResultsWriter(tmp_path / "images") as writer:
        writer.write(["x", "y"], np.ones((2, 3, 4, 4)))
    assert ResultsReader(tmp_path / "images").read(0, 2)["tensor"].shape == (2, 3, 4, 4)
    with ResultsWriter(tmp_path / "empty"):
        pass
    empty = ResultsReader(tmp_path / "empty")
    assert len(empty) == 0 and not empty.find(["x"])[1].any()


def test_an_interrupted_writer_leaves_no_index(tmp_path):
    with pytest.raises(KeyboardInterrupt), ResultsWriter(tmp_path, file_bytes=10) as writer:
        writer.write(["a"], np.zeros((1, 2)))
        raise KeyboardInterrupt
    assert not (tmp_path / INDEX_NAME).exists() and not list(tmp_path.glob(".run_*"))
    with pytest.raises(DataError, match="holds no batch_index.npy"):
        ResultsReader(tmp_path)


def test_a_missing_batch_file_is_reported(tmp_path):
    write_shuffled(tmp_path, 200)
    (tmp_path / "batch_1.npy").unlink()
    with pytest.raises(DataError, match="lacks batch_1.npy"):
        ResultsReader(tmp_path)


def test_dataset_config_holds_the_dataset_tables_with_overrides(tmp_path):
    config = load_config()
    config["data_set"]["SyntheticGalaxyDataSet"]["size"] = 7
    path = write_dataset_config(tmp_path, config, {"data_set.InferenceDataSet.results_dir": "/some/run"})
    assert path.name == DATASET_CONFIG_NAME
    written = read_toml(path).unwrap()
    assert set(written) == {"general", "data_set"}
    assert written["data_set"]["SyntheticGalaxyDataSet"]["size"] == 7
    assert written["data_set"]["InferenceDataSet"]["results_dir"] == "/some/run"
    assert load_config(path)["data_set"]["SyntheticGalaxyDataSet"]["size"] == 7
