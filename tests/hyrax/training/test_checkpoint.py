from __future__ import annotations

import os
import time

import pytest
import torch
from ignite.engine import Engine

from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.results import create_results_dir, mark_complete
from hyrax.training.checkpoint import (
    BEST_CHECKPOINT_NAME,
    LATEST_CHECKPOINT_NAME,
    attach_checkpoints,
    find_resume_checkpoint,
    load_checkpoint,
)


def run_with_checkpoints(directory, objects, scores, epochs):
    """An engine of one iteration per epoch, run with checkpoints scored by ``scores``; its handler."""
    engine = Engine(lambda engine, batch: None)
    latest = attach_checkpoints(engine, directory, objects, lambda: next(scores))
    engine.run([0], max_epochs=epochs)
    return latest


def test_save_and_load_round_trip(tmp_path):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    objects = {"model": model, "optimizer": optimizer, "scheduler": None}
    run_with_checkpoints(tmp_path, objects, iter([1.0, 2.0, 3.0]), epochs=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST_CHECKPOINT_NAME, LATEST_CHECKPOINT_NAME]
    other = torch.nn.Linear(2, 2)
    path = tmp_path / LATEST_CHECKPOINT_NAME
    state = load_checkpoint(path, {"model": other, "optimizer": torch.optim.SGD(other.parameters(), lr=1)})
    assert state["epoch"] == 3
    assert torch.equal(other.weight, model.weight)


def test_loading_state_the_checkpoint_lacks_is_explained(tmp_path):
    run_with_checkpoints(tmp_path, {"model": torch.nn.Linear(1, 1)}, iter([1.0]), epochs=1)
    scheduler_owner = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1)
    scheduler = torch.optim.lr_scheduler.StepLR(scheduler_owner, 1)
    with pytest.raises(ConfigError, match="holds no scheduler state"):
        load_checkpoint(tmp_path / LATEST_CHECKPOINT_NAME, {"scheduler": scheduler})


def test_checkpointer_keeps_latest_and_best(tmp_path):
    model = torch.nn.Linear(1, 1)
    run_with_checkpoints(tmp_path, {"model": model}, iter([3.0, 1.0, 2.0]), epochs=3)
    latest = torch.load(tmp_path / LATEST_CHECKPOINT_NAME, weights_only=True)
    best = torch.load(tmp_path / BEST_CHECKPOINT_NAME, weights_only=True)
    assert (latest["epoch"], best["epoch"]) == (3, 2)
    assert best["checkpointer"] == {"best_score": 1.0}
    assert latest["checkpointer"] == {"best_score": 1.0}


def test_a_resumed_run_keeps_the_best_checkpoint_until_its_loss_is_beaten(tmp_path):
    first, resumed = tmp_path / "first", tmp_path / "resumed"
    run_with_checkpoints(first, {"model": torch.nn.Linear(1, 1)}, iter([3.0, 1.0]), epochs=2)
    engine = Engine(lambda engine, batch: None)
    latest = attach_checkpoints(engine, resumed, {"model": torch.nn.Linear(1, 1)}, lambda: next(scores))
    load_checkpoint(first / LATEST_CHECKPOINT_NAME, latest.to_save)
    assert latest.to_save["checkpointer"].state_dict() == {"best_score": 1.0}
    scores = iter([2.0, 0.5])
    engine.run([0], max_epochs=3)
    assert not (resumed / BEST_CHECKPOINT_NAME).exists()
    engine.run([0], max_epochs=4)
    assert torch.load(resumed / BEST_CHECKPOINT_NAME, weights_only=True)["epoch"] == 4


def test_the_previous_checkpoint_stays_while_the_next_is_written(tmp_path, monkeypatch):
    path, present, save = tmp_path / LATEST_CHECKPOINT_NAME, [], torch.save

    def save_noting_the_latest_file(checkpoint, file, **kwargs):
        present.append(path.is_file())
        save(checkpoint, file, **kwargs)

    monkeypatch.setattr(torch, "save", save_noting_the_latest_file)
    run_with_checkpoints(tmp_path, {"model": torch.nn.Linear(1, 1)}, iter([3.0, 2.0, 2.5]), epochs=3)
    # Serialised: the best of epochs 1 and 2 (their latest is a link to it), then epoch 3's latest.
    assert present == [False, True, True]


def test_an_epoch_that_improves_writes_one_file_for_the_best_and_the_latest(tmp_path):
    run_with_checkpoints(tmp_path, {"model": torch.nn.Linear(1, 1)}, iter([3.0, 2.0]), epochs=2)
    latest, best = tmp_path / LATEST_CHECKPOINT_NAME, tmp_path / BEST_CHECKPOINT_NAME
    assert latest.samefile(best)
    run_with_checkpoints(tmp_path / "worse", {"model": torch.nn.Linear(1, 1)}, iter([2.0, 3.0]), epochs=2)
    latest, best = tmp_path / "worse" / LATEST_CHECKPOINT_NAME, tmp_path / "worse" / BEST_CHECKPOINT_NAME
    assert not latest.samefile(best)
    assert torch.load(latest, weights_only=True)["epoch"] == 2
    assert torch.load(best, weights_only=True)["epoch"] == 1


def test_saving_again_at_the_same_iteration_writes_nothing(tmp_path):
    latest = run_with_checkpoints(tmp_path, {"model": torch.nn.Linear(1, 1)}, iter([1.0]), epochs=1)
    path = tmp_path / LATEST_CHECKPOINT_NAME
    path.write_bytes(b"unchanged")
    latest(latest.to_save["trainer"])
    assert path.read_bytes() == b"unchanged"
    assert latest.last_checkpoint == path


def test_resume_true_takes_the_newest_run_with_a_checkpoint_even_unfinished(tmp_path):
    old = create_results_dir(tmp_path, "train")
    (old / LATEST_CHECKPOINT_NAME).write_bytes(b"x")
    mark_complete(old)
    time.sleep(0.01)
    unfinished = create_results_dir(tmp_path, "train")
    (unfinished / LATEST_CHECKPOINT_NAME).write_bytes(b"x")
    time.sleep(0.01)
    create_results_dir(tmp_path, "train")  # started, killed before its first checkpoint
    assert find_resume_checkpoint(True, tmp_path) == unfinished / LATEST_CHECKPOINT_NAME
    assert find_resume_checkpoint(str(old), tmp_path) == old / LATEST_CHECKPOINT_NAME
    assert find_resume_checkpoint(False, tmp_path) is None


def test_missing_checkpoints_are_reported(tmp_path):
    with pytest.raises(ResultsNotFoundError, match="no train run in"):
        find_resume_checkpoint(True, tmp_path)
    with pytest.raises(ResultsNotFoundError, match="no checkpoint file at"):
        find_resume_checkpoint(os.fspath(tmp_path / "nothing.pt"), tmp_path)
