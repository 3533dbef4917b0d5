"""One training run in one process: data, model, engines, checkpoints, resume and the final weights.

:func:`train_process` is what the train verb runs in each process (see
:mod:`hyrax.training.distributed`). Process 0 (rank 0) alone logs, shows progress and writes files.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events

from hyrax.datasets.loading import build_dataset, make_data_loader
from hyrax.datasets.splits import SplitsNotFoundError, load_splits, save_splits, splits_from_config
from hyrax.errors import ConfigError
from hyrax.models.base import HyraxModel
from hyrax.models.factory import build_model, model_class
from hyrax.training import distributed
from hyrax.training.checkpoint import Checkpointer, load_checkpoint
from hyrax.training.engines import EpochMeans, create_evaluator, create_trainer
from hyrax.training.interrupt import StopOnInterrupt
from hyrax.training.reporting import attach_epoch_log, attach_progress_bar
from hyrax.training.sampler import attach_sampler
from hyrax.training.seeding import RNGState
from hyrax.training.tracking import attach_tracking

logger = logging.getLogger(__name__)

RESUME_HINT = "hyrax train --set train.resume=true"


@dataclass
class TrainingJob:
    """What every process of a training run needs; picklable, so spawned processes receive it.

    Attributes
    ----------
    config : ConfigDict
        The whole configuration.
    results_dir : Path or None
        The run's results directory; None in processes that write nothing.
    resume_from : Path or None
        The checkpoint to continue from.
    """

    config: Mapping
    results_dir: Path | None
    resume_from: Path | None = None


def _splits(config: Mapping, n_objects: int, resume_from: Path | None) -> dict[str, np.ndarray]:
    if resume_from is not None:
        try:
            splits = load_splits(resume_from.parent)
        except SplitsNotFoundError:
            splits = None
        if splits is not None and all(len(s) == 0 or int(np.max(s)) < n_objects for s in splits.values()):
            return splits
    splits = splits_from_config(config, n_objects)
    if len(splits["train"]) == 0:
        raise ConfigError(
            f"The train split is empty (the dataset has {n_objects} objects, data_set.train_size = "
            f"{config['data_set']['train_size']!r}). Give the train split some objects.",
            key="data_set.train_size",
        )
    return splits


def _check_resumable(trainer: Engine, checkpoint: Path, epoch_length: int, epochs: int) -> None:
    state = trainer.state
    if state.epoch_length != epoch_length:
        raise ConfigError(
            f"Checkpoint {checkpoint} was written with {state.epoch_length} batches per epoch, but the "
            f"current configuration gives {epoch_length}. Resume with the dataset, splits and batch size "
            f"the run started with (its runtime_config.toml), or set train.resume = false.",
            key="train.resume",
        )
    if state.iteration >= epochs * epoch_length:
        raise ConfigError(
            f"Checkpoint {checkpoint} has already trained {state.epoch} epochs and train.epochs = {epochs}. "
            f"Raise train.epochs to train longer, or set train.resume = false to start a new run.",
            key="train.epochs",
        )


@dataclass
class _Data:
    dataset: Any
    splits: dict[str, np.ndarray]
    train_loader: Any
    sampler: Any
    val_loader: Any
    collate_fn: Any


def _prepare_data(config: Mapping, resume_from: Path | None, results_dir: Path | None) -> _Data:
    seed = int(config["general"]["seed"])
    dataset = build_dataset(config)
    # Before anything is written or built, so a model that cannot learn from this data (a classifier
    # with too few classes, or without labels) stops at once instead of in the first epoch.
    model_class(config).check_data(config, dataset)
    splits = _splits(config, len(dataset), resume_from)
    if results_dir is not None:
        save_splits(results_dir, splits)
    loader_config = config["data_loader"]
    plain = make_data_loader(dataset, splits["train"], loader_config, shuffle=False, seed=seed)
    train_loader, sampler = distributed.distribute_loader(plain, shuffle=loader_config["shuffle"], seed=seed)
    val_loader = None
    if len(splits["validate"]):
        val_loader = make_data_loader(dataset, splits["validate"], loader_config, shuffle=False, seed=seed)
        if idist.get_world_size() > 1:
            val_loader, _ = distributed.distribute_loader(val_loader, shuffle=False, seed=seed)
    return _Data(dataset, splits, train_loader, sampler, val_loader, plain.collate_fn)


def _prepare_model(config: Mapping, data: _Data, device: torch.device) -> HyraxModel:
    train, world_size = config["train"], idist.get_world_size()
    model = build_model(config, data.dataset, indices=data.splits["train"], collate_fn=data.collate_fn)
    model.to(device)
    if world_size > 1:
        distributed.broadcast_parameters(model)
    amp = bool(train["amp"]) and device.type == "cuda"
    if train["amp"] and not amp and idist.get_rank() == 0:
        logger.warning("train.amp is true, but mixed precision is only used on CUDA; training on %s.", device)
    clip = train["gradient_clip"]
    model.configure_training(
        gradient_clip=None if clip is False else float(clip),
        grad_scaler=torch.amp.GradScaler("cuda") if amp else None,
        average_gradients=distributed.average_gradients if world_size > 1 else None,
    )
    return model


def train_process(local_rank: int, job: TrainingJob) -> HyraxModel:
    """Train in this process, as rank ``idist.get_rank()`` of ``idist.get_world_size()``.

    Parameters
    ----------
    local_rank : int
        Index of this process on its node.
    job : TrainingJob
        The configuration, results directory and checkpoint to resume from.

    Returns
    -------
    HyraxModel
        The trained model, in eval mode.

    Raises
    ------
    KeyboardInterrupt
        After Ctrl-C, once the latest checkpoint is written.
    """
    return _train(job, distributed.setup_process(job.config["general"], local_rank))


def _train(job: TrainingJob, device: torch.device) -> HyraxModel:
    config, resume_from = job.config, job.resume_from
    train, rank, world_size = config["train"], idist.get_rank(), idist.get_world_size()
    results_dir = job.results_dir if rank == 0 else None
    data = _prepare_data(config, resume_from, results_dir)
    model = _prepare_model(config, data, device)

    amp = model.grad_scaler is not None
    non_blocking = bool(config["data_loader"]["pin_memory"])
    trainer = create_trainer(model, device=device, amp=amp, non_blocking=non_blocking)
    if results_dir is not None and train["progress_bar"]:
        # First, so the bar is closed at the end of an epoch before anything else prints.
        attach_progress_bar(trainer)
    attach_sampler(trainer, data.sampler, data.train_loader.batch_size)
    EpochMeans().attach(trainer)
    if world_size > 1 and any(True for _ in model.buffers()):
        # Batch norm statistics differ between processes; rank 0's are the ones validated and saved.
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: distributed.broadcast_buffers(model))
    evaluator = None
    if data.val_loader is not None:
        evaluator = create_evaluator(model, device=device, amp=amp, non_blocking=non_blocking)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: evaluator.run(data.val_loader))
    scored = evaluator if evaluator is not None else trainer

    def score() -> float | None:
        return scored.state.metrics.get("loss")

    if model.scheduler is not None:
        trainer.add_event_handler(Events.EPOCH_COMPLETED, _scheduler_step(model.scheduler, score))

    objects: dict[str, Any] = {
        "model": model,
        "optimizer": model.optimizer,
        "scheduler": model.scheduler,
        "grad_scaler": model.grad_scaler,
        "trainer": trainer,
        "rng": RNGState(),
    }
    checkpointer = None
    if results_dir is not None:
        checkpointer = Checkpointer(results_dir, objects, score)
        objects["checkpointer"] = checkpointer
        trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpointer)
        attach_epoch_log(trainer, evaluator, train["epochs"])

    if resume_from is not None:
        load_checkpoint(resume_from, objects)
        _check_resumable(trainer, resume_from, len(data.train_loader), train["epochs"])
        if rank == 0:
            state = trainer.state
            logger.info(
                "Resuming from %s: epoch %d, iteration %d done.", resume_from, state.epoch, state.iteration
            )

    tracking = attach_tracking(
        trainer, evaluator, results_dir=results_dir, config=config, model=model, optimizer=model.optimizer
    )
    # Every process would stop at a different batch and deadlock in the next all-reduce, so Ctrl-C
    # only stops cleanly in single-process runs.
    with tracking, StopOnInterrupt(trainer, enabled=world_size == 1) as stop:
        trainer.run(data.train_loader, max_epochs=train["epochs"])
        # A Ctrl-C during the last epoch's last batch lets the run finish.
        if stop.requested and trainer.state.iteration < train["epochs"] * trainer.state.epoch_length:
            where = checkpointer.save_latest(trainer) if checkpointer is not None else None
            logger.warning(
                "Training stopped in epoch %d after iteration %d; checkpoint written to %s. "
                "Resume with `%s`.",
                trainer.state.epoch,
                trainer.state.iteration,
                where,
                RESUME_HINT,
            )
            raise KeyboardInterrupt(f"Training interrupted; resume with `{RESUME_HINT}`.")

    if results_dir is not None:
        model.save(Path(results_dir) / train["weights_filename"])
    return model.eval()


def _scheduler_step(scheduler: Any, score: Any):
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def step(engine: Engine) -> None:
        if plateau:
            value = score()
            if value is not None:
                scheduler.step(value)
        else:
            scheduler.step()

    return step
