"""Whole training runs in one process: results, resume equality, Ctrl-C, and resume errors."""

from __future__ import annotations

import pytest
import torch

from hyrax.errors import ConfigError, ResultsNotFoundError
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
