"""What a person watching a training run sees: a progress bar and one log line per epoch."""

from __future__ import annotations

import logging
import sys
import time

from ignite.engine import Engine, Events
from ignite.handlers import Timer

logger = logging.getLogger(__name__)


class _AtMostEvery:
    """Event filter passing at most one event per ``seconds``: redrawing a bar can cost more than a step."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._last = -float("inf")

    def __call__(self, engine: Engine, event: int) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


def attach_progress_bar(trainer: Engine) -> None:
    """Show each epoch's batches and the latest step outputs (the loss) in an ignite ``ProgressBar``.

    Attach it before other end-of-epoch handlers, so the bar is gone before they print. In a
    terminal or notebook the bar is redrawn four times a second; when output goes to a file, where
    every redraw is kept, every 30 seconds.
    """
    from ignite.handlers import ProgressBar

    interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
    event = Events.ITERATION_COMPLETED(event_filter=_AtMostEvery(0.25 if interactive else 30.0))
    ProgressBar(persist=False).attach(trainer, output_transform=lambda output: output, event_name=event)


def attach_epoch_log(trainer: Engine, evaluator: Engine | None, epochs: int) -> None:
    """Log, after every epoch, the mean train loss, the validation metrics and the epoch's wall time.

    Attach it after the handlers that run the evaluator and write checkpoints: the time it reports
    includes them.
    """
    timer = Timer().attach(trainer, start=Events.EPOCH_STARTED)

    def epoch_completed(engine: Engine) -> None:
        parts = [f"train loss {engine.state.metrics.get('loss', float('nan')):.5g}"]
        if evaluator is not None:
            parts += [f"validate {name} {value:.5g}" for name, value in evaluator.state.metrics.items()]
        logger.info("Epoch %d/%d: %s (%.1f s)", engine.state.epoch, epochs, ", ".join(parts), timer.value())

    trainer.add_event_handler(Events.EPOCH_COMPLETED, epoch_completed)
