"""Tests of the test verb: metrics on the saved test split, confusion matrix, MLflow record."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hyrax import Hyrax
from hyrax.datasets.splits import load_splits
from hyrax.errors import ConfigError
from hyrax.results import is_complete, list_results_dirs
from hyrax.verbs.test import CONFUSION_COUNTS_NAME, CONFUSION_MATRIX_NAME, METRICS_NAME


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


def test_weights_outside_a_train_run_have_no_test_split(classifier, tmp_path):
    root, train_dir = classifier
    loose = tmp_path / "weights.pth"
    shutil.copyfile(train_dir / "model_weights.pth", loose)
    with pytest.raises(ConfigError, match="not in a train results directory"):
        small_hyrax(root, **{"test.model_weights_file": str(loose)}).test()
