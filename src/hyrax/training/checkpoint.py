"""Training checkpoints through ignite's ``Checkpoint`` and ``DiskSaver``, and finding one to resume from.

A checkpoint is one ``torch.save`` file holding the ``state_dict`` of every resumable object of a run
(model, optimizer, scheduler, trainer engine, random generators, ...) under its name, the best
loss so far under ``"checkpointer"``, and ``epoch`` and ``iteration`` for people reading it. It only
holds tensors and plain Python values, so it loads with ``weights_only=True``.

Ignite writes the files (atomically, with ``DiskSaver(atomic=True)``), keeps the best by score and
loads them back (``Checkpoint.load_objects``). Two things ignite lacks are added here: a file saved
again under its fixed name is replaced, never first removed, so a run killed while saving keeps its
previous checkpoint; and the best checkpoint's state is ``{"best_score": loss}``, as in checkpoints
written before Hyrax used ignite's handler, so that those still resume.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver

from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.files import replacing
from hyrax.results import list_results_dirs

LATEST_CHECKPOINT_NAME = "checkpoint_latest.pt"
BEST_CHECKPOINT_NAME = "checkpoint_best.pt"


class _ReplacingDiskSaver(DiskSaver):
    """``DiskSaver(atomic=True)`` for files saved again under one name, adding the trainer's progress."""

    def __init__(self, directory: str | os.PathLike, trainer: Engine):
        super().__init__(directory, atomic=True, require_empty=False)
        self.trainer = trainer
        self._last_saved: tuple[int, str] | None = None

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        state = self.trainer.state
        if self._last_saved is not None and self._last_saved[0] == state.iteration:
            # The best and the latest checkpoint of one epoch hold the same state: link the file written
            # a moment ago instead of serialising it again, which costs a percent of a short epoch.
            source = self.dirname / self._last_saved[1]
            with replacing(self.dirname / filename) as temporary:
                try:
                    os.link(source, temporary)
                except OSError:  # a file system without hard links
                    shutil.copyfile(source, temporary)
            return
        progress = {"epoch": state.epoch, "iteration": state.iteration}
        super().__call__({**checkpoint, **progress}, filename, metadata)
        self._last_saved = (state.iteration, filename)

    def remove(self, filename: str) -> None:
        """Keep the file: ``Checkpoint`` removes it only to save it again, which replaces it atomically."""


class _BestCheckpoint(Checkpoint):
    """``Checkpoint`` of the epoch of lowest ``loss()`` (None: worse than any); its state is that loss."""

    def __init__(self, objects: Mapping[str, Any], save_handler: DiskSaver, loss: Callable[[], float | None]):
        super().__init__(
            objects,
            save_handler,
            score_function=lambda _: _priority(loss()),
            filename_pattern=BEST_CHECKPOINT_NAME,
            include_self=True,
        )

    def state_dict(self) -> dict[str, float | None]:
        """The best loss so far, or None before the first checkpoint."""
        saved = super().state_dict()["_saved"]
        return {"best_score": -saved[-1][0] if saved else None}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the best loss, so that only a lower one replaces the best checkpoint."""
        best = state_dict.get("best_score")
        super().load_state_dict({"_saved": [] if best is None else [(-best, BEST_CHECKPOINT_NAME)]})


def _priority(loss: float | None) -> float:
    # Ignite keeps the checkpoint of the highest priority.
    return -math.inf if loss is None else -float(loss)


def attach_checkpoints(
    trainer: Engine,
    directory: str | os.PathLike,
    objects: Mapping[str, Any],
    loss: Callable[[], float | None],
) -> Checkpoint:
    """After every epoch write ``checkpoint_latest.pt``, and ``checkpoint_best.pt`` when ``loss()`` is lowest.

    Attach it after the handlers that compute the loss and step the scheduler, so that the files hold
    the state a resumed run continues from.

    Parameters
    ----------
    trainer : ignite.engine.Engine
        The training engine; its state is saved as ``"trainer"``.
    directory : path
        Where the checkpoints go.
    objects : mapping of str to object
        The other resumable objects; None entries are skipped.
    loss : callable returning float or None
        The loss of the epoch just completed, e.g. the validation loss.

    Returns
    -------
    ignite.handlers.Checkpoint
        The handler writing the latest checkpoint. Its ``to_save`` is what to pass to
        :func:`load_checkpoint` when resuming; calling it with the trainer writes the current state,
        e.g. after Ctrl-C in the middle of an epoch (once per iteration).
    """
    to_save = {name: obj for name, obj in {**objects, "trainer": trainer}.items() if obj is not None}
    saver = _ReplacingDiskSaver(directory, trainer)
    best = _BestCheckpoint(to_save, saver, loss)
    # Priority is the iteration, so a second call at the same iteration writes nothing.
    latest = Checkpoint({**to_save, "checkpointer": best}, saver, filename_pattern=LATEST_CHECKPOINT_NAME)
    # The best first, so that the latest checkpoint carries the new best loss.
    trainer.add_event_handler(Events.EPOCH_COMPLETED, best)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, latest)
    return latest


def load_checkpoint(path: str | os.PathLike, objects: Mapping[str, Any]) -> dict[str, Any]:
    """Load ``path`` into ``objects`` (None entries skipped) with ignite's ``Checkpoint.load_objects``.

    Tensors are read onto the CPU; each object's ``load_state_dict`` moves them where they belong.

    Returns
    -------
    dict
        The whole checkpoint.

    Raises
    ------
    ConfigError
        When ``path`` lacks the state of one of ``objects``, e.g. a scheduler was configured since.
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    objects = {name: obj for name, obj in objects.items() if obj is not None}
    missing = [name for name in objects if name not in state]
    if missing:
        raise ConfigError(
            f"Checkpoint {path} holds no {', '.join(missing)} state (it has {', '.join(sorted(state))}); "
            f"resume with the configuration the run was started with (its runtime_config.toml), or set "
            f"train.resume = false.",
            key="train.resume",
        )
    Checkpoint.load_objects(objects, state)
    return state


def find_resume_checkpoint(resume: bool | str, results_root: str | os.PathLike) -> Path | None:
    """The checkpoint that ``train.resume`` asks for, or None when it is false.

    Parameters
    ----------
    resume : bool or path
        True for the latest checkpoint of the newest train run that has one, complete or not; a path
        to a checkpoint file, or to a train results directory.
    results_root : path
        The ``general.results_dir`` folder searched when ``resume`` is true.

    Raises
    ------
    ResultsNotFoundError
        When there is no such checkpoint, saying where it looked.
    """
    if resume is False:
        return None
    if resume is True:
        for directory in reversed(list_results_dirs(results_root, "train", complete_only=False)):
            if (directory / LATEST_CHECKPOINT_NAME).is_file():
                return directory / LATEST_CHECKPOINT_NAME
        raise ResultsNotFoundError(
            f"train.resume = true, but no train run in {Path(results_root).resolve()} has a checkpoint "
            f"({LATEST_CHECKPOINT_NAME}). Name a checkpoint file in train.resume, or set it to false to "
            f"start a new run."
        )
    path = Path(resume)
    if path.is_dir():
        path = path / LATEST_CHECKPOINT_NAME
    if not path.is_file():
        raise ResultsNotFoundError(
            f"train.resume = {str(resume)!r}: there is no checkpoint file at {path}. Name a "
            f"{LATEST_CHECKPOINT_NAME} (or {BEST_CHECKPOINT_NAME}) file, or the train results directory "
            f"holding it."
        )
    return path
