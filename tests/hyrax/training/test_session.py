"""Whole training runs in one process: results, resume equality, Ctrl-C, and resume errors."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from hyrax.datasets.cifar_dataset import ARCHIVE_NAME, SPLIT_MEMBERS
from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.models.base import ModelDataError
from hyrax.results import is_complete, list_results_dirs
from hyrax.training.checkpoint import BEST_CHECKPOINT_NAME, LATEST_CHECKPOINT_NAME
from hyrax.verbs.train import Train


def train(manager):
    return Train(manager).run()


def run_dirs(manager):
    return list_results_dirs(manager.config["general"]["results_dir"], "train", complete_only=False)


def test_a_run_writes_weights_checkpoints_and_splits(small_manager):
    manager = small_manager()
    model = train(manager)
    (directory,) = run_dirs(manager)
    assert is_complete(directory)
    for name in (
        "model_weights.pth",
        LATEST_CHECKPOINT_NAME,
        BEST_CHECKPOINT_NAME,
        "splits.npz",
        "runtime_config.toml",
    ):
        assert (directory / name).is_file(), name
    checkpoint = torch.load(directory / LATEST_CHECKPOINT_NAME, weights_only=True)
    assert {"model", "optimizer", "trainer", "rng", "checkpointer"} <= set(checkpoint)
    assert checkpoint["epoch"] == 2
    assert not model.training
    saved = torch.load(directory / "model_weights.pth", weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(saved[key], value)


def test_resumed_run_repeats_the_uninterrupted_losses(small_manager, recording_model):
    settings = {"model": {"name": "RecordingAutoencoder"}, "train": {"epochs": 4}}
    uninterrupted = train(small_manager(**settings))
    expected = list(recording_model.losses)
    assert len(expected) == 4 * 4  # 24 train objects in batches of 6

    recording_model.losses = []
    first = small_manager(model={"name": "RecordingAutoencoder"}, train={"epochs": 2})
    train(first)
    resumed = train(
        small_manager(model={"name": "RecordingAutoencoder"}, train={"epochs": 4, "resume": True})
    )
    assert recording_model.losses == expected
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_ctrl_c_mid_epoch_writes_a_checkpoint_that_resumes_exactly(small_manager, recording_model, caplog):
    settings = {"model": {"name": "RecordingAutoencoder"}, "train": {"epochs": 3}}
    uninterrupted = train(small_manager(**settings))
    expected = list(recording_model.losses)

    recording_model.losses = []
    recording_model.interrupt_at = 6  # the second batch of epoch 2
    manager = small_manager(**settings)
    with pytest.raises(KeyboardInterrupt):
        train(manager)
    assert "hyrax train --set train.resume=true" in caplog.text
    directory = run_dirs(manager)[-1]
    assert not is_complete(directory)
    checkpoint = torch.load(directory / LATEST_CHECKPOINT_NAME, weights_only=True)
    assert checkpoint["iteration"] == 6
    assert recording_model.losses == expected[:6]

    recording_model.interrupt_at = None
    resumed = train(
        small_manager(model={"name": "RecordingAutoencoder"}, train={"epochs": 3, "resume": True})
    )
    assert recording_model.losses == expected
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_resume_from_a_named_directory_and_a_longer_schedule(small_manager):
    manager = small_manager()
    train(manager)
    (directory,) = run_dirs(manager)
    train(small_manager(train={"epochs": 3, "resume": str(directory)}))
    newest = run_dirs(manager)[-1]
    assert torch.load(newest / LATEST_CHECKPOINT_NAME, weights_only=True)["epoch"] == 3


def test_resuming_a_finished_run_asks_for_more_epochs(small_manager):
    train(small_manager())
    with pytest.raises(ConfigError, match="Raise train.epochs"):
        train(small_manager(train={"resume": True}))


def test_resume_with_other_batches_per_epoch_is_refused(small_manager):
    train(small_manager())
    with pytest.raises(ConfigError, match="batches per epoch"):
        train(small_manager(train={"epochs": 3, "resume": True}, data_loader={"batch_size": 4}))


def test_resume_without_any_checkpoint_says_where_it_looked(small_manager):
    with pytest.raises(ResultsNotFoundError, match="no train run in"):
        train(small_manager(train={"resume": True}))


def test_scheduler_gradient_clipping_and_no_validation_split(small_manager):
    manager = small_manager(
        scheduler={"name": "torch.optim.lr_scheduler.StepLR", "kwargs": {"step_size": 1, "gamma": 0.5}},
        train={"gradient_clip": 0.1},
        data_set={"validate_size": False, "test_size": 0.2},
    )
    model = train(manager)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.001 * 0.25)
    (directory,) = run_dirs(manager)
    checkpoint = torch.load(directory / BEST_CHECKPOINT_NAME, weights_only=True)
    assert checkpoint["checkpointer"]["best_score"] is not None
    assert "scheduler" in checkpoint


def random_labels(num_classes):
    """data_set overrides: 40 random 1x8x8 images with labels in 0 to num_classes - 1 (0: none)."""
    return {"HyraxRandomDataset": {"size": 40, "shape": [1, 8, 8], "num_classes": num_classes}}


def test_a_classifier_with_too_few_classes_stops_before_the_first_epoch(small_manager, caplog):
    manager = small_manager(model={"name": "HyraxCNN"}, data_set=random_labels(10))
    with pytest.raises(ConfigError) as error:
        train(manager)
    message = str(error.value)
    assert error.value.key == "model.HyraxCNN.num_classes"
    assert "model.HyraxCNN.num_classes = 5" in message and "has num_classes = 10" in message
    assert "set model.HyraxCNN.num_classes = 10" in message
    assert run_dirs(manager) == []  # stopped before writing anything, so no results directory is left
    assert "Epoch 1" not in caplog.text

    model = train(
        small_manager(model={"name": "HyraxCNN", "HyraxCNN": {"num_classes": 10}}, data_set=random_labels(10))
    )
    assert model.num_classes == 10 and is_complete(run_dirs(manager)[-1])


def write_small_cifar(folder):
    """A CIFAR-10 archive of 4 images per batch with labels 0 to 9, where the dataset looks; its sha256."""
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    rng = np.random.default_rng(0)
    path = folder / "cifar10" / ARCHIVE_NAME
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as archive:
        members = {"batches.meta": {b"label_names": [name.encode() for name in names]}}
        for number, name in enumerate([*SPLIT_MEMBERS["train"], *SPLIT_MEMBERS["test"]]):
            members[name] = {
                b"data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8),
                b"labels": [(4 * number + i) % 10 for i in range(4)],
            }
        for name, payload in members.items():
            data = pickle.dumps(payload, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cifar_with_the_default_num_classes_says_to_set_it_to_10(small_manager, work_dir):
    digest = write_small_cifar(work_dir / "data")
    cifar = {"name": "HyraxCifarDataSet", "HyraxCifarDataSet": {"known_hash": f"sha256:{digest}"}}
    manager = small_manager(model={"name": "HyraxCNN"}, data_set=cifar)
    with pytest.raises(ConfigError) as error:
        train(manager)
    assert error.value.key == "model.HyraxCNN.num_classes"
    assert "HyraxCifarDataSet has 10 classes (airplane" in str(error.value)
    assert "set model.HyraxCNN.num_classes = 10" in str(error.value)
    assert run_dirs(manager) == []


def test_a_classifier_on_unlabelled_data_is_told_to_choose_labelled_data(small_manager):
    manager = small_manager(model={"name": "HyraxCNN"}, data_set=random_labels(0))
    with pytest.raises(ModelDataError) as error:
        train(manager)
    message = str(error.value)
    assert "HyraxCNN is a classifier and needs labelled data" in message and "HyraxRandomDataset" in message
    assert "crop_to" not in message  # not the generic advice for a model failing on a trial batch
    assert run_dirs(manager) == []
