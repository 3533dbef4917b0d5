"""Tests of InferenceDataSet over results directories written with the results format."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from hyrax.config import load_config
from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.datasets.loading import build_dataset, make_data_loader
from hyrax.datasets.synthetic_galaxy_dataset import SyntheticGalaxyDataSet
from hyrax.errors import DataError, ResultsNotFoundError
from hyrax.inference.results_format import write_dataset_config
from hyrax.inference.results_writer import ResultsWriter
from hyrax.models.factory import build_model
from hyrax.registry import DATA_SET_REGISTRY
from hyrax.results import create_results_dir, mark_complete


def galaxy_config(tmp_path, size=20):
    config = load_config()
    config["general"]["results_dir"] = str(tmp_path / "results")
    config["data_set"]["SyntheticGalaxyDataSet"]["size"] = size
    config["data_set"]["SyntheticGalaxyDataSet"]["image_size"] = 16
    return config


def fake_infer_run(config, order, complete=True, file_bytes=200):
    """An infer results directory over the galaxies at ``order``; vector = (index, 2 * index)."""
    origin = SyntheticGalaxyDataSet(config)
    directory = create_results_dir(config["general"]["results_dir"], "infer")
    ids = [origin.ids()[i] for i in order]
    labels = [origin.get_label(i) for i in order]
    with ResultsWriter(directory, file_bytes=file_bytes) as writer:
        for start in range(0, len(order), 3):
            chunk = np.asarray(order[start : start + 3])
            vectors = np.stack([chunk, 2 * chunk], axis=1)
            writer.write(ids[start : start + 3], vectors, chunk, labels[start : start + 3])
    write_dataset_config(directory, config)
    if complete:
        mark_complete(directory)
    return directory


@pytest.fixture
def config(tmp_path):
    return galaxy_config(tmp_path)


@pytest.fixture
def results(config):
    return fake_infer_run(config, list(range(19, -1, -1)))


def test_items_and_ids_are_paired(results, config):
    dataset = InferenceDataSet.from_directory(results, config)
    origin = SyntheticGalaxyDataSet(config)
    assert len(dataset) == 20 and "InferenceDataSet" in DATA_SET_REGISTRY
    item = dataset[4]
    assert item["object_id"] == origin.ids()[15] and item["index"] == 4
    assert item["data"].tolist() == [15.0, 30.0] and item["label"] == origin.get_label(15)
    assert list(dataset.ids()) == [origin.ids()[i] for i in range(19, -1, -1)]
    assert dataset.ids()[-1] == origin.ids()[0] and dataset.ids()[2:5] == list(dataset.ids())[2:5]
    assert dataset.ids()[::7] == list(dataset.ids())[::7]
    np.testing.assert_array_equal(dataset.vectors(0, 3)[:, 0], [19, 18, 17])


def test_pickling_reopens_the_files_instead_of_copying_them(tmp_path, config):
    with ResultsWriter(tmp_path) as writer:
        writer.write([f"obj{i}" for i in range(5000)], np.ones((5000, 16)))  # 320 kB of vectors
    dataset = InferenceDataSet.from_directory(tmp_path, config)
    payload = pickle.dumps(dataset)
    assert len(payload) < 50_000
    copy = pickle.loads(payload)
    assert copy[3]["object_id"] == "obj3" and copy.index_of("obj4999") == 4999


def test_ids_resolve_to_indices(results, config):
    dataset = InferenceDataSet.from_directory(results, config)
    origin = SyntheticGalaxyDataSet(config)
    assert dataset.index_of(origin.ids()[19]) == 0
    np.testing.assert_array_equal(dataset.indices_of([origin.ids()[0], origin.ids()[10]]), [19, 9])
    with pytest.raises(DataError, match="'galaxy_999999' is not in the results"):
        dataset.index_of("galaxy_999999")


def test_metadata_passes_through_to_the_original_dataset(results, config):
    dataset = InferenceDataSet.from_directory(results, config)
    origin = SyntheticGalaxyDataSet(config)
    assert dataset.metadata_fields() == origin.metadata_fields()
    values = dataset.metadata([0, 5], ["class", "magnitude"])
    expected = origin.metadata([19, 14], ["class", "magnitude"])
    assert values["class"].tolist() == expected["class"].tolist()
    np.testing.assert_allclose(values["magnitude"], expected["magnitude"])


def test_metadata_finds_objects_by_id_when_the_stored_index_is_stale(tmp_path):
    config = galaxy_config(tmp_path, size=20)
    results = fake_infer_run(config, [3, 4])
    dataset = InferenceDataSet.from_directory(results, config)
    # The origin now lists the same objects at other positions: its ids say where they are.
    dataset._origin = _Reordered(SyntheticGalaxyDataSet(config))
    np.testing.assert_array_equal(dataset.origin_indices([0, 1]), [16, 15])


class _Reordered(SyntheticGalaxyDataSet):
    registry_name = None

    def __init__(self, inner):
        self.__dict__.update(inner.__dict__)

    def ids(self):
        return [f"galaxy_{19 - i:06d}" for i in range(20)]


def test_built_from_config_takes_the_newest_complete_infer_run(tmp_path):
    config = galaxy_config(tmp_path)
    older = fake_infer_run(config, [0, 1])
    fake_infer_run(config, [2, 3, 4], complete=False)
    config["data_set"]["name"] = "InferenceDataSet"
    dataset = build_dataset(config)
    assert dataset.results_dir == older.resolve() and len(dataset) == 2


def test_an_unfinished_run_is_refused(tmp_path):
    config = galaxy_config(tmp_path)
    unfinished = fake_infer_run(config, [0, 1], complete=False)
    with pytest.raises(ResultsNotFoundError, match="did not finish"):
        InferenceDataSet.from_directory(unfinished, config)
    with pytest.raises(ResultsNotFoundError, match="No complete 'infer' results"):
        InferenceDataSet(config)


def test_a_model_trains_on_the_vectors(results, config):
    config["data_set"]["name"] = "InferenceDataSet"
    config["data_set"]["InferenceDataSet"]["results_dir"] = str(results)
    config["model"]["name"] = "HyraxLoopback"
    dataset = build_dataset(config)
    model = build_model(config, dataset)
    model.configure_training()
    loader = make_data_loader(dataset, None, config["data_loader"], shuffle=True, seed=1)
    batch = next(iter(loader))
    assert batch["data"].shape == (20, 2) and batch["data"].dtype == torch.float32
    assert np.isfinite(model.train_step(batch)["loss"])
