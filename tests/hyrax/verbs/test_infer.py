"""Tests of the infer verb and the weights and splits it uses."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from hyrax import Hyrax
from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.datasets.splits import load_splits
from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.inference.results_format import DATASET_CONFIG_NAME
from hyrax.inference.results_writer import ResultsWriter
from hyrax.inference.runner import infer_into
from hyrax.inference.trained_model import WeightsNotFoundError, find_trained_weights
from hyrax.models.base import ModelDataError
from hyrax.results import is_complete


def small_hyrax(root, **keys):
    """A Hyrax on 64 small galaxies whose runs write into ``root``; ``keys`` are dotted settings."""
    h = Hyrax()
    settings = {
        "general.results_dir": str(root / "results"),
        "general.data_dir": str(root / "data"),
        "data_set.SyntheticGalaxyDataSet.size": 64,
        "data_set.SyntheticGalaxyDataSet.image_size": 16,
        "model.HyraxAutoencoder.latent_dim": 8,
        "data_loader.batch_size": 16,
        "train.epochs": 1,
        "train.mlflow": False,
        "train.tensorboard": False,
        "train.progress_bar": False,
        **{key.replace("__", "."): value for key, value in keys.items()},
    }
    for key, value in settings.items():
        h.set_config(key, value)
    return h


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small train run shared by the tests of this module: (root, train results directory)."""
    root = tmp_path_factory.mktemp("infer")
    small_hyrax(root).train()
    (train_dir,) = (root / "results").glob("*-train-*")
    return root, train_dir


def test_infer_writes_paired_ids_and_vectors(trained):
    root, _ = trained
    h = small_hyrax(root, infer__batch_size=10)
    results = h.infer()
    assert isinstance(results, InferenceDataSet) and is_complete(results.results_dir)
    assert (results.results_dir / DATASET_CONFIG_NAME).is_file()
    origin = results.origin
    assert len(results) == 64 and results[0]["data"].shape == (8,)
    assert sorted(results.ids()) == sorted(origin.ids())
    model = _trained_model(h)
    for position in (0, 17, 63):
        item = results[position]
        source = origin[origin.index_of(item["object_id"])]
        expected = model(source["data"][None])[0]
        torch.testing.assert_close(item["data"], expected, rtol=1e-4, atol=1e-5)
        assert item["label"] == source["label"]


def _trained_model(h):
    from hyrax.datasets.loading import build_dataset
    from hyrax.inference.trained_model import load_trained_model

    weights = find_trained_weights(
        False,
        "infer.model_weights_file",
        results_root=h.config["general"]["results_dir"],
        weights_filename=h.config["train"]["weights_filename"],
    ).weights
    return load_trained_model(h.config, build_dataset(h.config), weights)


def test_the_recorded_weights_are_an_absolute_path_when_results_dir_is_relative(trained, monkeypatch):
    import json

    from hyrax.inference.results_format import INFER_INFO_NAME

    root, train_dir = trained
    monkeypatch.chdir(root)
    h = small_hyrax(root)
    h.set_config("general.results_dir", "results")
    results = h.infer()
    recorded = json.loads((root / results.results_dir / INFER_INFO_NAME).read_text())["weights"]
    assert recorded == str((train_dir / "model_weights.pth").resolve())


def test_infer_on_a_split_uses_the_train_runs_split(trained):
    root, train_dir = trained
    results = small_hyrax(root, infer__split="test", infer__model_weights_file=str(train_dir)).infer()
    test_indices = load_splits(train_dir)["test"]
    origin = results.origin
    assert sorted(results.ids()) == sorted(origin.ids()[int(i)] for i in test_indices)
    assert sorted(results.reader.read(0, len(results))["index"].tolist()) == test_indices.tolist()


def test_missing_weights_name_the_path_tried(trained, tmp_path):
    root, _ = trained
    missing = tmp_path / "nowhere" / "weights.pth"
    with pytest.raises(WeightsNotFoundError, match=f"No model weights at {missing}"):
        small_hyrax(root, infer__model_weights_file=str(missing)).infer()
    with pytest.raises(ResultsNotFoundError, match="No complete 'train' results"):
        small_hyrax(tmp_path).infer()


def test_a_split_needs_weights_inside_a_train_run(trained, tmp_path):
    root, train_dir = trained
    loose = tmp_path / "loose.pth"
    shutil.copyfile(train_dir / "model_weights.pth", loose)
    with pytest.raises(ConfigError, match="not in a train results directory"):
        small_hyrax(root, infer__split="test", infer__model_weights_file=str(loose)).infer()
    with pytest.raises(ConfigError, match="'infer.split' key must be one of .*Did you mean `test`"):
        small_hyrax(root, infer__split="tset").infer()


def test_splits_of_another_dataset_are_refused(trained):
    root, _ = trained
    with pytest.raises(ConfigError, match="not the dataset the model was trained on"):
        small_hyrax(root, infer__split="train", data_set__SyntheticGalaxyDataSet__size=10).infer()


def test_a_model_must_return_one_row_per_object(tmp_path):
    class Scalar(torch.nn.Module):
        def infer_step(self, batch):
            return batch["data"].sum()

    batches = [{"data": torch.ones(2, 3), "object_id": ["a", "b"], "index": torch.tensor([0, 1])}]
    with pytest.raises(ModelDataError, match="one row per object"), ResultsWriter(tmp_path) as writer:
        infer_into(Scalar(), batches, writer, progress=False)
    with pytest.raises(TypeError, match="'object_id' and 'index'"), ResultsWriter(tmp_path) as writer:
        infer_into(Scalar(), [(torch.ones(2, 3),)], writer, progress=False)


def test_infer_on_inference_results_pins_their_directory(trained):
    """Vectors of vectors: the results name the infer run they read, not "the newest"."""
    root, _ = trained
    first = small_hyrax(root).infer()
    h = small_hyrax(root, data_set__name="InferenceDataSet", model__name="HyraxLoopback")
    h.train()
    second = h.infer()
    assert len(second) == 64 and np.allclose(second.vectors().std(axis=0) > 0, True)
    pinned = second.origin
    assert isinstance(pinned, InferenceDataSet) and pinned.results_dir == first.results_dir
    assert (
        second.metadata([0], ["class"])["class"][0]
        == first.metadata([first.index_of(second[0]["object_id"])], ["class"])["class"][0]
    )


def test_a_classifier_infers_on_unlabelled_data(tmp_path):
    """Inference needs no labels, so a trained HyraxCNN runs on data that has none."""
    random_data = {
        "data_set.name": "HyraxRandomDataset",
        "data_set.HyraxRandomDataset.size": 24,
        "data_set.HyraxRandomDataset.shape": [1, 8, 8],
        "model.name": "HyraxCNN",
        "model.HyraxCNN.num_classes": 3,
    }
    small_hyrax(tmp_path, **{k.replace(".", "__"): v for k, v in random_data.items()}).train()
    unlabelled = {**random_data, "data_set.HyraxRandomDataset.num_classes": 0}
    result = small_hyrax(tmp_path, **{k.replace(".", "__"): v for k, v in unlabelled.items()}).infer()
    assert len(result) == 24
    assert result[0]["data"].shape == (3,)


def test_weights_of_another_shape_name_the_tensors_and_the_config_to_use(tmp_path):
    small_hyrax(tmp_path).train()
    with pytest.raises(ModelDataError) as caught:
        small_hyrax(tmp_path, model__HyraxAutoencoder__latent_dim=4).infer()
    message = str(caught.value)
    assert "to_latent.weight saved [8, " in message and "here [4, " in message
    assert "runtime_config.toml" in message and "size mismatch" not in message
