"""Tests of the test verb: metrics on the saved test split, confusion matrix, MLflow record."""

from __future__ import annotations

import json
import math
import shutil
from typing import ClassVar

import numpy as np
import pytest

from hyrax import Hyrax
from hyrax.datasets.splits import load_splits
from hyrax.errors import ConfigError
from hyrax.models.base import ModelDataError, hyrax_model
from hyrax.models.cnn import HyraxCNN
from hyrax.results import is_complete, list_results_dirs
from hyrax.verbs.test import CONFUSION_COUNTS_NAME, CONFUSION_MATRIX_NAME, METRICS_NAME


@hyrax_model("ForwardCountingCNN", force=True)
class ForwardCountingCNN(HyraxCNN):
    """HyraxCNN (same layers and default settings) recording the size of every batch it runs on."""

    batch_sizes: ClassVar[list[int]] = []

    def forward(self, x):
        type(self).batch_sizes.append(len(x))
        return super().forward(x)


def small_hyrax(root, model="HyraxCNN", **keys):
    h = Hyrax()
    settings = {
        "general.results_dir": str(root / "results"),
        "data_set.SyntheticGalaxyDataSet.size": 60,
        "data_set.SyntheticGalaxyDataSet.image_size": 16,
        "model.name": model,
        "model.HyraxAutoencoder.latent_dim": 8,
        "data_loader.batch_size": 16,
        "train.epochs": 1,
        "train.mlflow": False,
        "train.tensorboard": False,
        "train.progress_bar": False,
        **keys,
    }
    for key, value in settings.items():
        h.set_config(key, value)
    return h


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A HyraxCNN trained for one epoch on 60 galaxies: (root, train results directory)."""
    root = tmp_path_factory.mktemp("test_verb")
    small_hyrax(root).train()
    (train_dir,) = list_results_dirs(root / "results", "train")
    return root, train_dir


def test_a_classifier_gets_loss_accuracy_and_a_confusion_matrix(classifier):
    root, train_dir = classifier
    metrics = small_hyrax(root, **{"train.mlflow": True}).test()
    assert set(metrics) >= {"loss", "accuracy"} and 0 <= metrics["accuracy"] <= 1
    (test_dir,) = list_results_dirs(root / "results", "test")
    assert is_complete(test_dir) and (test_dir / CONFUSION_MATRIX_NAME).stat().st_size > 0
    counts = np.load(test_dir / CONFUSION_COUNTS_NAME)
    assert counts.shape == (5, 5) and counts.sum() == len(load_splits(train_dir)["test"])
    assert np.trace(counts) / counts.sum() == pytest.approx(metrics["accuracy"])
    report = json.loads((test_dir / METRICS_NAME).read_text())
    assert report["metrics"] == metrics and report["n_objects"] == counts.sum()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'results' / 'mlflow' / 'mlflow.db'}")
    (run,) = client.search_runs(
        [client.get_experiment_by_name("hyrax").experiment_id], "tags.`hyrax.verb` = 'test'"
    )
    assert run.info.run_name == test_dir.name and run.info.status == "FINISHED"
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["accuracy"])
    assert run.data.metrics["test_loss"] == pytest.approx(metrics["loss"])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {CONFUSION_MATRIX_NAME, METRICS_NAME}


def test_an_autoencoder_gets_its_loss_only(tmp_path):
    h = small_hyrax(tmp_path, model="HyraxAutoencoder")
    h.train()
    metrics = h.test()
    assert set(metrics) == {"loss"} and metrics["loss"] > 0
    (test_dir,) = list_results_dirs(tmp_path / "results", "test")
    assert not (test_dir / CONFUSION_MATRIX_NAME).exists()
    assert not (tmp_path / "results" / "mlflow").exists()


def test_weights_outside_a_train_run_have_no_test_split(classifier, tmp_path):
    root, train_dir = classifier
    loose = tmp_path / "weights.pth"
    shutil.copyfile(train_dir / "model_weights.pth", loose)
    with pytest.raises(ConfigError, match="not in a train results directory"):
        small_hyrax(root, **{"test.model_weights_file": str(loose)}).test()


def test_a_classifier_runs_each_test_batch_through_the_model_once(classifier):
    root, train_dir = classifier
    ForwardCountingCNN.batch_sizes = []
    h = small_hyrax(
        root,
        model="ForwardCountingCNN",
        **{"test.model_weights_file": str(train_dir), "data_loader.batch_size": 5},
    )
    metrics = h.test()
    n_test = len(load_splits(train_dir)["test"])
    trial, *per_batch = ForwardCountingCNN.batch_sizes  # the model's trial batch when it is built
    assert trial == 2
    assert len(per_batch) == math.ceil(n_test / 5) and sum(per_batch) == n_test
    test_dir = list_results_dirs(root / "results", "test")[-1]
    counts = np.load(test_dir / CONFUSION_COUNTS_NAME)
    assert counts.sum() == n_test and np.trace(counts) / n_test == pytest.approx(metrics["accuracy"])


def test_test_data_with_more_classes_than_the_model_stops_before_any_results(classifier):
    root, _ = classifier
    before = list_results_dirs(root / "results", "test", complete_only=False)
    random_data = {
        "data_set.name": "HyraxRandomDataset",
        "data_set.HyraxRandomDataset.shape": [3, 16, 16],
        "data_set.HyraxRandomDataset.size": 60,
    }
    with pytest.raises(ConfigError) as error:
        small_hyrax(root, **random_data, **{"data_set.HyraxRandomDataset.num_classes": 8}).test()
    assert error.value.key == "model.HyraxCNN.num_classes"
    assert "= 5" in str(error.value) and "set model.HyraxCNN.num_classes = 8" in str(error.value)
    with pytest.raises(ModelDataError, match="needs labelled data"):
        small_hyrax(root, **random_data, **{"data_set.HyraxRandomDataset.num_classes": 0}).test()
    assert list_results_dirs(root / "results", "test", complete_only=False) == before


@hyrax_model("InterruptedCNN", force=True)
class InterruptedCNN(HyraxCNN):
    """HyraxCNN stopped by Ctrl-C in the evaluation, after the trial batch it is built with."""

    calls: ClassVar[int] = 0

    def forward(self, x):
        type(self).calls += 1
        if type(self).calls > 1:
            raise KeyboardInterrupt
        return super().forward(x)


def test_a_test_stopped_by_ctrl_c_is_killed_in_mlflow(classifier):
    root, _ = classifier
    InterruptedCNN.calls = 0
    h = small_hyrax(root, model="InterruptedCNN", **{"train.mlflow": True})
    with pytest.raises(KeyboardInterrupt):
        h.test()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'results' / 'mlflow' / 'mlflow.db'}")
    runs = client.search_runs(
        [client.get_experiment_by_name("hyrax").experiment_id], "tags.`hyrax.verb` = 'test'"
    )
    assert [run.info.status for run in runs if run.info.status != "FINISHED"] == ["KILLED"]
