from __future__ import annotations

import os
import time

import pytest
import torch
from ignite.engine import Engine, Events

from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.results import create_results_dir, mark_complete
from hyrax.training.checkpoint import (
    BEST_CHECKPOINT_NAME,
    LATEST_CHECKPOINT_NAME,
    Checkpointer,
    find_resume_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def test_save_and_load_round_trip(tmp_path):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = save_checkpoint(
        tmp_path / "c.pt", {"model": model, "optimizer": optimizer, "scheduler": None}, epoch=3
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]
    other = torch.nn.Linear(2, 2)
    state = load_checkpoint(path, {"model": other, "optimizer": torch.optim.SGD(other.parameters(), lr=1)})
    assert state["epoch"] == 3
    assert torch.equal(other.weight, model.weight)


def test_loading_state_the_checkpoint_lacks_is_explained(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": torch.nn.Linear(1, 1)})
    scheduler_owner = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1)
    scheduler = torch.optim.lr_scheduler.StepLR(scheduler_owner, 1)
    with pytest.raises(ConfigError, match="holds no scheduler state"):
        load_checkpoint(path, {"scheduler": scheduler})


def test_checkpointer_keeps_latest_and_best(tmp_path):
    scores = iter([3.0, 1.0, 2.0])
    model = torch.nn.Linear(1, 1)
    engine = Engine(lambda engine, batch: None)
    checkpointer = Checkpointer(tmp_path, {"model": model}, lambda: next(scores))
    engine.add_event_handler(Events.EPOCH_COMPLETED, checkpointer)
    engine.run([0], max_epochs=3)
    latest = torch.load(tmp_path / LATEST_CHECKPOINT_NAME, weights_only=True)
    best = torch.load(tmp_path / BEST_CHECKPOINT_NAME, weights_only=True)
    assert (latest["epoch"], best["epoch"]) == (3, 2)
    assert best["checkpointer"] == {"best_score": 1.0}
    restored = Checkpointer(tmp_path, {}, lambda: None)
    restored.load_state_dict(latest["checkpointer"])
    assert restored.best_score == 1.0


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
