"""Ignite engines that train and validate a :class:`~hyrax.models.base.HyraxModel`.

The factories take explicit objects, like ignite's own ``create_supervised_trainer``. Each iteration
does only what a hand-written loop does (move the batch, call the model's step), so the engine adds
nothing measurable to the cost of training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events

from hyrax.training.device import batch_mover


def create_trainer(
    model: Any, *, device: torch.device, amp: bool = False, non_blocking: bool = False
) -> Engine:
    """An engine whose iteration is ``model.train_step(batch)`` on ``device``.

    Parameters
    ----------
    model : HyraxModel
        The model, already on ``device`` and prepared with ``configure_training``.
    device : torch.device
        Where batches are moved before the step.
    amp : bool
        Run the step under ``torch.autocast`` (on CUDA only).
    non_blocking : bool
        Copy batches to the device asynchronously (useful with pinned memory).

    Returns
    -------
    ignite.engine.Engine
        ``engine.state.output`` is the dict of floats the step returned. The model is put in
        training mode at the start of every epoch.
    """
    move = batch_mover(device, non_blocking)
    autocast = amp and device.type == "cuda"

    def train_step(engine: Engine, batch: Any) -> Mapping[str, float]:
        if autocast:
            with torch.autocast(device_type=device.type):
                return model.train_step(move(batch))
        return model.train_step(move(batch))

    trainer = Engine(train_step)
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: model.train())
    return trainer


def create_evaluator(
    model: Any, *, device: torch.device, amp: bool = False, non_blocking: bool = False
) -> Engine:
    """An engine whose iteration is ``model.validate_step(batch)``, in eval mode, without gradients.

    The means over the run of every value the step returns are in ``engine.state.metrics``
    (``metrics["loss"]`` is the validation loss), averaged across processes.
    """
    move = batch_mover(device, non_blocking)
    autocast = amp and device.type == "cuda"

    def validate_step(engine: Engine, batch: Any) -> Mapping[str, float]:
        with torch.no_grad(), torch.autocast(device_type=device.type, enabled=autocast):
            return model.validate_step(move(batch))

    evaluator = Engine(validate_step)
    evaluator.add_event_handler(Events.STARTED, lambda _: model.eval())
    EpochMeans().attach(evaluator)
    return evaluator


class EpochMeans:
    """Averages each entry of an engine's dict outputs over an epoch into ``engine.state.metrics``.

    With several processes the sums and counts are all-reduced, so every process gets the mean over
    all of them. Values may be floats or 0-d tensors.

    Examples
    --------
    >>> from ignite.engine import Engine
    >>> from hyrax.training.engines import EpochMeans
    >>> engine = Engine(lambda engine, batch: {"loss": float(batch)})
    >>> EpochMeans().attach(engine)
    >>> engine.run([1, 2, 3]).metrics["loss"]
    2.0
    """

    def __init__(self) -> None:
        self._sums: dict[str, Any] = {}
        self._count = 0

    def attach(self, engine: Engine) -> None:
        """Reset at every epoch start, add every iteration's output, publish at every epoch end."""
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.update)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.publish)

    def reset(self, engine: Engine) -> None:
        """Forget the previous epoch."""
        self._sums, self._count = {}, 0

    def update(self, engine: Engine) -> None:
        """Add the iteration's output."""
        sums = self._sums
        output = engine.state.output
        if not isinstance(output, Mapping):
            raise TypeError(
                f"A training or validation step must return a dict of floats such as {{'loss': 0.12}}; "
                f"got {type(output).__name__} {output!r:.80}."
            )
        for key, value in output.items():
            sums[key] = sums.get(key, 0.0) + (value.detach() if isinstance(value, torch.Tensor) else value)
        self._count += 1

    def publish(self, engine: Engine) -> None:
        """Put each mean in ``engine.state.metrics``."""
        keys = sorted(self._sums)
        totals = [float(self._sums[key]) for key in keys]
        count = float(self._count)
        if idist.get_world_size() > 1:
            reduced = idist.all_reduce(torch.tensor([*totals, count], dtype=torch.float64))
            totals, count = reduced[:-1].tolist(), float(reduced[-1])
        for key, total in zip(keys, totals, strict=True):
            engine.state.metrics[key] = total / count if count else float("nan")
