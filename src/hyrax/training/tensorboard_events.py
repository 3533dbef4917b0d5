"""TensorBoard event files written in the training thread."""

from __future__ import annotations

import time
from pathlib import Path

FLUSH_SECONDS = 30.0


class EventFile:
    """A TensorBoard event file written in the calling thread.

    tensorboardX's ``SummaryWriter`` (which ignite's ``TensorboardLogger`` wraps) hands each scalar to a
    writer thread through a 10-entry multiprocessing queue, about 150 us a scalar; writing the record
    here takes 20 us for an event of several scalars.
    """

    def __init__(self, log_dir: Path) -> None:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        self._event, self._summary = Event, Summary
        log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = EventsWriter(str(log_dir / "events"))
        self._flushed = time.monotonic()

    def add_scalars(self, values: dict[str, float], step: int) -> None:
        """Record ``values`` (tag → number) as one event at ``step``."""
        summary = self._summary(value=[self._summary.Value(tag=k, simple_value=v) for k, v in values.items()])
        self._writer.write_event(self._event(wall_time=time.time(), step=step, summary=summary))
        if time.monotonic() - self._flushed > FLUSH_SECONDS:
            self._writer.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()
