"""Stopping training cleanly on Ctrl-C, so that the state written is one a resume can continue from."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from ignite.engine import Engine, Events

logger = logging.getLogger(__name__)


class StopOnInterrupt:
    """While active, the first Ctrl-C (SIGINT) stops the trainer after the batch in progress.

    The trainer is stopped between iterations, never inside one, so the model and optimizer are in
    the consistent state a checkpoint needs; :attr:`requested` then tells the caller to write one. A
    second Ctrl-C interrupts at once with ``KeyboardInterrupt``. Outside the main thread, where
    signal handlers cannot be installed, it does nothing.

    Parameters
    ----------
    trainer : ignite.engine.Engine
        The engine to stop.
    enabled : bool
        False makes it do nothing, e.g. for multi-process runs, whose processes could not agree on
        the batch to stop after.

    Examples
    --------
    >>> from ignite.engine import Engine
    >>> from hyrax.training.interrupt import StopOnInterrupt
    >>> trainer = Engine(lambda engine, batch: None)
    >>> with StopOnInterrupt(trainer) as stop:
    ...     stop.request()  # what the first Ctrl-C does
    ...     state = trainer.run(range(10), max_epochs=3)
    >>> stop.requested, state.iteration
    (True, 1)
    """

    def __init__(self, trainer: Engine, enabled: bool = True):
        self.trainer = trainer
        self.enabled = enabled
        self.requested = False
        self._previous: Any = None
        self._handles: list[Any] = []

    def request(self, signum: int | None = None, frame: Any = None) -> None:
        """Ask the trainer to stop after the current batch (the SIGINT handler)."""
        self.requested = True
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        logger.warning(
            "Interrupted: stopping after this batch to save a checkpoint (Ctrl-C again to quit now)."
        )

    def _after_iteration(self, engine: Engine) -> None:
        state = engine.state
        # After an epoch's last batch the epoch is let finish (validation, checkpoint); the
        # end-of-epoch check stops the run then.
        if self.requested and state.iteration % (state.epoch_length or state.iteration + 1):
            engine.terminate()

    def _after_epoch(self, engine: Engine) -> None:
        if self.requested:
            engine.terminate()

    def __enter__(self) -> StopOnInterrupt:
        if not self.enabled:
            return self
        self._handles = [
            self.trainer.add_event_handler(Events.ITERATION_COMPLETED, self._after_iteration),
            self.trainer.add_event_handler(Events.EPOCH_COMPLETED, self._after_epoch),
        ]
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self.request)
            # None means a handler installed outside Python; the default one is the closest to restore.
            self._previous = previous if previous is not None else signal.SIG_DFL
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        for handle in self._handles:
            handle.remove()
