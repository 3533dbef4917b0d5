"""One training run in one process: data, model, engines, checkpoints, resume and the final weights.

:func:`train_process` is what the train verb runs in each process (see
:mod:`hyrax.training.distributed`); it reads the configuration and passes values to the steps below.
Process 0 (rank 0) alone logs, shows progress and writes files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from torch.utils.data import DataLoader

from hyrax.datasets.loading import build_dataset, make_data_loader
from hyrax.datasets.splits import SplitsNotFoundError, load_splits, save_splits, splits_from_config
from hyrax.errors import ConfigError
from hyrax.models.base import HyraxModel
from hyrax.models.factory import build_model, model_class
from hyrax.training import distributed
from hyrax.training.checkpoint import attach_checkpoints, load_checkpoint
from hyrax.training.engines import EpochMeans, create_evaluator, create_trainer
from hyrax.training.interrupt import StopOnInterrupt
from hyrax.training.mlflow_store import STORE_DIR_NAME, config_params
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


def _resumed_splits(n_objects: int, resume_from: Path | None) -> dict[str, np.ndarray] | None:
    """The splits of the run resumed from, when there is one and they fit the dataset."""
    if resume_from is None:
        return None
    try:
        splits = load_splits(resume_from.parent)
    except SplitsNotFoundError:
        return None
    if all(len(s) == 0 or int(np.max(s)) < n_objects for s in splits.values()):
        return splits
    return None


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


def _loaders(
    dataset: Any, splits: dict[str, np.ndarray], loader_config: Mapping, seed: int
) -> tuple[DataLoader, Any, DataLoader | None, Callable]:
    """The train loader (shared among processes), its sampler, the validation loader or None, and the
    collate function."""
    plain = make_data_loader(dataset, splits["train"], loader_config, shuffle=False, seed=seed)
    train, sampler = distributed.distribute_loader(plain, shuffle=loader_config["shuffle"], seed=seed)
    validate = None
    if len(splits["validate"]):
        validate = make_data_loader(dataset, splits["validate"], loader_config, shuffle=False, seed=seed)
        if idist.get_world_size() > 1:
            validate, _ = distributed.distribute_loader(validate, shuffle=False, seed=seed)
    return train, sampler, validate, plain.collate_fn


def _prepare_model(model: HyraxModel, device: torch.device, *, amp: bool, gradient_clip: float | None):
    """Move ``model`` to ``device``, give every process rank 0's weights, and configure its training."""
    world_size = idist.get_world_size()
    model.to(device)
    if world_size > 1:
        distributed.broadcast_from_rank_0(model.state_dict().values())
    use_amp = amp and device.type == "cuda"
    if amp and not use_amp and idist.get_rank() == 0:
        logger.warning("train.amp is true, but mixed precision is only used on CUDA; training on %s.", device)
    model.configure_training(
        gradient_clip=gradient_clip,
        grad_scaler=torch.amp.GradScaler("cuda") if use_amp else None,
        average_gradients=distributed.average_gradients if world_size > 1 else None,
    )


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
    device = distributed.setup_process(job.config["general"], local_rank)
    config, resume_from = job.config, job.resume_from
    general, data_set, train = config["general"], config["data_set"], config["train"]
    seed, epochs, world_size = int(general["seed"]), train["epochs"], idist.get_world_size()
    results_dir = job.results_dir if idist.get_rank() == 0 else None

    dataset = build_dataset(config)
    # Before anything is written or built, so a model that cannot learn from this data (a classifier
    # with too few classes, or without labels) stops at once instead of in the first epoch.
    model_class(config).check_data(config, dataset)
    splits = _resumed_splits(len(dataset), resume_from) or splits_from_config(config, len(dataset))
    if len(splits["train"]) == 0:
        raise ConfigError(
            f"The train split is empty (the dataset has {len(dataset)} objects, data_set.train_size = "
            f"{data_set['train_size']!r}). Give the train split some objects.",
            key="data_set.train_size",
        )
    if results_dir is not None:
        save_splits(results_dir, splits)
    train_loader, sampler, val_loader, collate_fn = _loaders(dataset, splits, config["data_loader"], seed)
    model = build_model(config, dataset, indices=splits["train"], collate_fn=collate_fn)
    clip = None if train["gradient_clip"] is False else float(train["gradient_clip"])
    _prepare_model(model, device, amp=bool(train["amp"]), gradient_clip=clip)

    amp = model.grad_scaler is not None
    non_blocking = bool(config["data_loader"]["pin_memory"])
    trainer = create_trainer(model, device=device, amp=amp, non_blocking=non_blocking)
    if results_dir is not None and train["progress_bar"]:
        # First, so the bar is closed at the end of an epoch before anything else prints.
        attach_progress_bar(trainer)
    attach_sampler(trainer, sampler, train_loader.batch_size)
    EpochMeans().attach(trainer)
    if world_size > 1 and any(True for _ in model.buffers()):
        # Batch norm statistics differ between processes; rank 0's are the ones validated and saved.
        trainer.add_event_handler(
            Events.EPOCH_COMPLETED, lambda _: distributed.broadcast_from_rank_0(model.buffers())
        )
    evaluator = None
    if val_loader is not None:
        evaluator = create_evaluator(model, device=device, amp=amp, non_blocking=non_blocking)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: evaluator.run(val_loader))
    scored = evaluator if evaluator is not None else trainer

    def score() -> float | None:
        return scored.state.metrics.get("loss")

    plateau = isinstance(model.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def step_scheduler(engine: Engine) -> None:
        if not plateau:
            model.scheduler.step()
        elif (loss := score()) is not None:
            model.scheduler.step(loss)

    if model.scheduler is not None:
        trainer.add_event_handler(Events.EPOCH_COMPLETED, step_scheduler)

    objects: dict[str, Any] = {
        "model": model,
        "optimizer": model.optimizer,
        "scheduler": model.scheduler,
        "grad_scaler": model.grad_scaler,
        "trainer": trainer,
        "rng": RNGState(),
    }
    latest = None
    if results_dir is not None:
        latest = attach_checkpoints(trainer, results_dir, objects, score)
        objects = latest.to_save
        attach_epoch_log(trainer, evaluator, epochs)

    if resume_from is not None:
        load_checkpoint(resume_from, objects)
        _check_resumable(trainer, resume_from, len(train_loader), epochs)
        if idist.get_rank() == 0:
            state = trainer.state
            logger.info(
                "Resuming from %s: epoch %d, iteration %d done.", resume_from, state.epoch, state.iteration
            )

    mlflow = results_dir is not None and train["mlflow"]
    tracking = attach_tracking(
        trainer,
        evaluator,
        results_dir=results_dir,
        mlflow_dir=Path(general["results_dir"]) / STORE_DIR_NAME if mlflow else None,
        experiment_name=train["experiment_name"],
        params=config_params(config) if mlflow else None,
        tensorboard=train["tensorboard"],
        log_every_n_steps=train["log_every_n_steps"],
        model=model,
        optimizer=model.optimizer,
    )
    # Every process would stop at a different batch and deadlock in the next all-reduce, so Ctrl-C
    # only stops cleanly in single-process runs.
    with tracking, StopOnInterrupt(trainer, enabled=world_size == 1) as stop:
        trainer.run(train_loader, max_epochs=epochs)
        # A Ctrl-C during the last epoch's last batch lets the run finish.
        if stop.requested and trainer.state.iteration < epochs * trainer.state.epoch_length:
            if latest is not None:
                latest(trainer)
            logger.warning(
                "Training stopped in epoch %d after iteration %d; checkpoint written to %s. "
                "Resume with `%s`.",
                trainer.state.epoch,
                trainer.state.iteration,
                latest.last_checkpoint if latest is not None else None,
                RESUME_HINT,
            )
            raise KeyboardInterrupt(f"Training interrupted; resume with `{RESUME_HINT}`.")

    if results_dir is not None:
        model.save(Path(results_dir) / train["weights_filename"])
    return model.eval()
