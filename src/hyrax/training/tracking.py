"""Experiment tracking of a training run: MLflow, TensorBoard and a loss-curve plot (``docs/tracking.md``).

Records reach the disk at most every 30 s (TensorBoard rereads its folder only that often anyway)
and at close, so that writing them costs training no measurable time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events

from hyrax.config import RUNTIME_CONFIG_NAME
from hyrax.training.mlflow_store import OpeningMlflowRun, ending_status, open_run, record_run, scalars

logger = logging.getLogger(__name__)

LOSS_CURVE_NAME = "loss_curve.png"
_NESTED = (torch.Tensor, Mapping, list, tuple)


def _batch_size(batch: Any) -> int:
    """Samples in a batch: the length of its first tensor, looking inside dicts, lists and tuples."""
    for _ in range(8):
        if isinstance(batch, Mapping):
            batch = next(iter(batch.values()), None)
        elif isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], _NESTED):
            batch = batch[0]
        else:
            break
    try:
        return len(batch)
    except TypeError:
        return 1


def _add_scalars(writer: Any, values: dict[str, float], step: int) -> None:
    """Log each value under its own tag; ``SummaryWriter.add_scalars`` would open a file per tag."""
    for tag, value in values.items():
        writer.add_scalar(tag, value, step)


def _plot_loss_curve(history: list[dict[str, float]], path: Path, title: str) -> Any:
    """Write the train and validation loss per epoch as a PNG; return the matplotlib figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    values: list[float] = []
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        rows = [row for row in history if key in row]
        if rows:
            marker = "o" if len(rows) <= 50 else None
            axes.plot([row["epoch"] for row in rows], [row[key] for row in rows], marker=marker, label=label)
            values += [row[key] for row in rows]
    # A log axis shows the late, small improvements once the loss has fallen more than tenfold.
    if values and min(values) > 0 and max(values) / min(values) > 10:
        axes.set_yscale("log")
    axes.set(xlabel="epoch", ylabel="loss", title=title)
    # One tick is enough: by default the locator wants two and falls back to fractions after one epoch.
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes.legend()
    figure.savefig(path, dpi=100)
    return figure


class Tracking:
    """The tracking of one training run, as returned by :func:`attach_tracking`.

    :meth:`close`, or leaving a ``with`` block, detaches the handlers, draws the loss curve, writes
    what is buffered, logs the artifacts and ends the MLflow run; calling it again does nothing. On
    ranks other than 0 the object does nothing at all.

    Attributes
    ----------
    history : list of dict
        The metrics of every epoch so far, each with its ``epoch``.
    """

    def __init__(
        self,
        results_dir: Path | None = None,
        evaluator: Engine | None = None,
        optimizer: Any = None,
        every: int = 1,
    ) -> None:
        self.results_dir, self.evaluator = results_dir, evaluator
        self.optimizer, self.every = optimizer, every
        self.history: list[dict[str, float]] = []
        self._mlflow: OpeningMlflowRun | None = None
        self._tensorboard: Any = None
        self._handles: list[Any] = []
        self._closed = False
        self._count = self._first_size = 0
        self._last_batch: Any = None
        self._lr: float | None = None
        self._evaluated = self._warned = False

    def _epoch_started(self, engine: Engine) -> None:
        # An evaluation before this epoch (a sanity check before training, say) is not this epoch's.
        self._count, self._evaluated = 0, False
        if self.optimizer is not None:
            # The rate the epoch's steps start with: a scheduler stepped at the last epoch's end is applied.
            self._lr = float(self.optimizer.param_groups[0]["lr"])

    def _iteration_completed(self, engine: Engine) -> None:
        # Training runs this between the model's kernels, with cold caches, where each line costs several
        # times what a micro-benchmark shows: it does the least it can, and writes TensorBoard's step
        # records itself rather than through a second, filtered ignite handler.
        state = engine.state
        if not self._count:
            self._first_size = _batch_size(state.batch)
        self._count += 1
        self._last_batch = state.batch
        if self._tensorboard is not None and state.iteration % self.every == 0:
            values = {f"iteration/{name}": value for name, value in scalars(state.output).items()}
            if self.optimizer is not None:
                values["iteration/lr"] = float(self.optimizer.param_groups[0]["lr"])
            _add_scalars(self._tensorboard, values, state.iteration)

    def _evaluation_completed(self, engine: Engine) -> None:
        self._evaluated = True

    def _epoch_completed(self, engine: Engine) -> None:
        """Record the metrics of the epoch just completed, and append them to :attr:`history`."""
        metrics = {f"train_{name}": value for name, value in scalars(engine.state.metrics).items()}
        if "train_loss" not in metrics:
            raise TypeError(
                "Tracking records the train loss of an epoch from trainer.state.metrics['loss']: attach "
                "hyrax.training.engines.EpochMeans (or an ignite metric named 'loss') to the trainer before "
                "tracking, with a step returning a dict of floats with a 'loss' entry."
            )
        # Ignite stores the epoch's time before EPOCH_COMPLETED handlers run, so evaluation is excluded.
        seconds = max(engine.state.times[Events.EPOCH_COMPLETED.name] or 0.0, 1e-9)
        # Every batch but the last has the first one's size, as with a DataLoader; a distributed sampler
        # gives every process as many samples as rank 0.
        samples = 0
        if self._count:
            samples = (self._count - 1) * self._first_size + _batch_size(self._last_batch)
            self._last_batch = None
        samples *= idist.get_world_size()
        if self._lr is not None:
            metrics["lr"] = self._lr
        metrics.update(epoch_time_s=seconds, samples_per_s=samples / seconds)
        if self._evaluated and self.evaluator is not None:
            self._evaluated = False
            metrics.update({f"val_{name}": v for name, v in scalars(self.evaluator.state.metrics).items()})
            if "val_loss" not in metrics and not self._warned:
                self._warned = True
                logger.warning(
                    "The evaluator ran but gave no validation loss: it needs state.metrics['loss'], as "
                    "EpochMeans gives it from iteration outputs that are dicts with a 'loss' entry."
                )
        self.history.append({"epoch": float(engine.state.epoch), **metrics})
        if self._tensorboard is not None:
            _add_scalars(self._tensorboard, {f"epoch/{k}": v for k, v in metrics.items()}, engine.state.epoch)
        if self._mlflow is not None:
            self._mlflow.log_metrics(metrics, step=engine.state.epoch)

    def close(self, status: str = "FINISHED") -> None:
        """Finish the records; ``status`` is the MLflow run status: FINISHED, FAILED or KILLED."""
        if self._closed:
            return
        self._closed = True
        for handle in self._handles:
            handle.remove()
        artifacts = []
        try:
            if self.results_dir is not None:
                artifacts.append(self.results_dir / RUNTIME_CONFIG_NAME)
                if self.history:
                    artifacts.append(self.results_dir / LOSS_CURVE_NAME)
                    _plot_loss_curve(self.history, artifacts[-1], self.results_dir.name)
        finally:
            if self._tensorboard is not None:
                self._tensorboard.close()
            if self._mlflow is not None:
                self._mlflow.close(status, artifacts)

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, traceback: Any) -> None:
        self.close(ending_status(exc))


def attach_tracking(
    trainer: Engine,
    evaluator: Engine | None,
    *,
    results_dir: Path,
    mlflow_dir: Path | None = None,
    experiment_name: str = "hyrax",
    params: Mapping[str, str] | None = None,
    tensorboard: bool = False,
    log_every_n_steps: int = 10,
    model: torch.nn.Module | None = None,
    optimizer: Any = None,
) -> Tracking:
    """Record a training run in MLflow, TensorBoard and a loss-curve plot (see ``docs/tracking.md``).

    Contract with the caller:

    - Call it on every rank: only rank 0 records; the others get a :class:`Tracking` that does nothing.
    - An epoch's train loss is ``trainer.state.metrics["loss"]``, and its validation loss
      ``evaluator.state.metrics["loss"]``, set at ``EPOCH_COMPLETED`` by handlers attached before this
      call, e.g. :class:`~hyrax.training.engines.EpochMeans` (the engine of
      :func:`~hyrax.training.engines.create_evaluator` has one). After each iteration
      ``trainer.state.output`` is a dict of floats (or 0-d tensors). Samples per second takes a batch's
      size to be the length of its first tensor, and every batch of an epoch but the last to be as
      large as the first, as a ``DataLoader`` gives them.
    - The evaluator is run by a trainer ``EPOCH_COMPLETED`` handler attached before this call (ignite
      fires handlers in the order they were attached); the validation metrics are logged only for
      epochs in which it ran.
    - ``results_dir`` holds ``runtime_config.toml``, if there is one to log. Close the result when
      training ends, best as ``with attach_tracking(...): trainer.run(loader, max_epochs=n)``, which
      marks a run that raised FAILED (KILLED for Ctrl-C) in MLflow.

    Parameters
    ----------
    trainer, evaluator : ignite.engine.Engine
        The training engine, and the validation engine or None.
    results_dir : Path
        This run's results directory; its name becomes the MLflow run name.
    mlflow_dir : Path, optional
        The folder of the MLflow store (``mlflow.db`` and the artifacts); None records nothing in MLflow.
    experiment_name : str
        The MLflow experiment of the run.
    params : mapping of str to str, optional
        The MLflow params of the run, e.g. :func:`~hyrax.training.mlflow_store.config_params` of the
        configuration.
    tensorboard : bool
        Write TensorBoard event files in ``results_dir / "tensorboard"``.
    log_every_n_steps : int
        Iterations between the TensorBoard records of the step outputs and the learning rate.
    model : torch.nn.Module, optional
        Its class and parameter count become MLflow tags.
    optimizer : torch.optim.Optimizer, optional
        The learning rate of its first parameter group is recorded.

    Returns
    -------
    Tracking
        Close it, or use it as a context manager, to finish the records.
    """
    if idist.get_rank() != 0:
        return Tracking()
    if isinstance(log_every_n_steps, bool) or not isinstance(log_every_n_steps, int) or log_every_n_steps < 1:
        raise ValueError(f"log_every_n_steps should be an integer >= 1, but given {log_every_n_steps!r}.")
    results_dir = Path(results_dir)
    tracking = Tracking(results_dir, evaluator, optimizer, log_every_n_steps)
    try:
        handlers = [
            (trainer, Events.EPOCH_STARTED, tracking._epoch_started),
            (trainer, Events.ITERATION_COMPLETED, tracking._iteration_completed),
            (trainer, Events.EPOCH_COMPLETED, tracking._epoch_completed),
        ]
        if evaluator is not None:
            handlers.append((evaluator, Events.COMPLETED, tracking._evaluation_completed))
        if tensorboard:
            from tensorboardX import SummaryWriter

            tracking._tensorboard = SummaryWriter(str(results_dir / "tensorboard"), flush_secs=30)
        if mlflow_dir is not None:
            # Started after tensorboardX is imported: both import protobuf, and one thread importing it
            # at a time is the simple way to never meet a half-initialised module.
            tags = {}
            if model is not None:
                tags["hyrax.model_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
                tags["hyrax.num_parameters"] = str(sum(p.numel() for p in model.parameters()))
            tracking._mlflow = open_run(mlflow_dir, experiment_name, results_dir, params=params, tags=tags)
        tracking._handles = [engine.add_event_handler(event, handler) for engine, event, handler in handlers]
    except BaseException:
        tracking.close("FAILED")
        raise
    return tracking


__all__ = ["LOSS_CURVE_NAME", "Tracking", "attach_tracking", "open_run", "record_run"]
