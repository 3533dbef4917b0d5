"""Training checkpoints: the latest and the best, written atomically, and finding one to resume from.

A checkpoint is one ``torch.save`` file holding the ``state_dict`` of every resumable object of a run
(model, optimizer, scheduler, trainer engine, random generators, ...) under its name, plus ``epoch``
and ``iteration`` for people reading it. It only holds tensors and plain Python values, so it loads
with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine

from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.files import replacing
from hyrax.results import list_results_dirs

logger = logging.getLogger(__name__)

LATEST_CHECKPOINT_NAME = "checkpoint_latest.pt"
BEST_CHECKPOINT_NAME = "checkpoint_best.pt"


def _atomic_copy(source: Path, target: Path) -> None:
    with replacing(target) as temporary:
        try:
            # A hard link costs nothing, and stays valid when ``source`` is later replaced by a new file.
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)


def save_checkpoint(path: str | os.PathLike, objects: Mapping[str, Any], **extra: Any) -> Path:
    """Write the ``state_dict`` of each of ``objects`` (None entries skipped) to ``path``, atomically.

    A reader never sees a half-written file: the checkpoint is written beside it and then renamed, so a
    run killed while saving keeps its previous checkpoint.

    Parameters
    ----------
    path : path
        The checkpoint file.
    objects : mapping of str to object
        Objects with ``state_dict()``.
    **extra
        Plain values stored as they are, e.g. ``epoch=3``.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    state = {name: obj.state_dict() for name, obj in objects.items() if obj is not None}
    state.update(extra)
    with replacing(path) as temporary:
        torch.save(state, temporary)
    return path


def load_checkpoint(path: str | os.PathLike, objects: Mapping[str, Any]) -> dict[str, Any]:
    """Load ``path`` into each of ``objects`` (None entries skipped) with ``load_state_dict``.

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
    for name, obj in objects.items():
        if obj is None:
            continue
        if name not in state:
            raise ConfigError(
                f"Checkpoint {path} holds no {name} state (it has {', '.join(sorted(state))}); resume "
                f"with the configuration the run was started with (its runtime_config.toml), or set "
                f"train.resume = false.",
                key="train.resume",
            )
        obj.load_state_dict(state[name])
    return state


class Checkpointer:
    """Trainer handler writing ``checkpoint_latest.pt`` and, when the score improves, ``checkpoint_best.pt``.

    Attach it to ``Events.EPOCH_COMPLETED`` after the handlers that compute the score. Lower scores are
    better (a loss). Each checkpoint also holds the checkpointer's own state (the best score) under
    ``"checkpointer"``, so pass it to :func:`load_checkpoint` when resuming.

    Parameters
    ----------
    directory : path
        Where the checkpoints go.
    objects : mapping of str to object
        What each checkpoint holds; objects with ``state_dict``/``load_state_dict``.
    score_function : callable returning float or None
        The score of the epoch just completed, e.g. the validation loss.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        objects: Mapping[str, Any],
        score_function: Callable[[], float | None],
    ):
        self.directory = Path(directory)
        self.objects = {**objects, "checkpointer": self}
        self.score_function = score_function
        self.best_score: float | None = None
        self._saved_iteration: int | None = None

    @property
    def latest_path(self) -> Path:
        """The latest checkpoint's file."""
        return self.directory / LATEST_CHECKPOINT_NAME

    @property
    def best_path(self) -> Path:
        """The best checkpoint's file."""
        return self.directory / BEST_CHECKPOINT_NAME

    def save_latest(self, engine: Engine) -> Path:
        """Write the latest checkpoint of ``engine``'s current state (once per iteration)."""
        state = engine.state
        if self._saved_iteration != state.iteration:
            save_checkpoint(self.latest_path, self.objects, epoch=state.epoch, iteration=state.iteration)
            self._saved_iteration = state.iteration
        return self.latest_path

    def __call__(self, engine: Engine) -> None:
        """Write the latest checkpoint, and copy it as the best when the score improved."""
        score = self.score_function()
        improved = score is not None and (self.best_score is None or score < self.best_score)
        if improved:
            # Recorded first, so the checkpoint itself carries the new best score.
            self.best_score = float(score)
        self.save_latest(engine)
        if improved:
            _atomic_copy(self.latest_path, self.best_path)

    def state_dict(self) -> dict[str, Any]:
        """The best score so far."""
        return {"best_score": self.best_score}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the best score."""
        self.best_score = state.get("best_score")


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
