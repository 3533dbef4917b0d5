"""What a download did (``DownloadSummary``) and how it shows its progress while it runs."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

_REPORT_SECONDS = 30.0


@dataclass
class DownloadSummary:
    """What a download did.

    Attributes
    ----------
    total : int
        Cutouts asked for: objects times filters.
    fetched, skipped, refetched, no_data, failed : int
        Cutouts written by this run; already complete on disk; on disk but incomplete or corrupt, so
        fetched again (these are counted in ``fetched`` too); without data at the service; failed
        after every retry.
    seconds : float
        Wall time.
    failures : list of (str, str, str)
        ``(object_id, filter, reason)`` of each failed cutout.
    """

    total: int = 0
    fetched: int = 0
    skipped: int = 0
    refetched: int = 0
    no_data: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    folder: Path | None = None

    @property
    def rate(self) -> float:
        """Cutouts written per second."""
        return self.fetched / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line of statistics."""
        return (
            f"{self.fetched} cutouts fetched in {self.seconds:.1f} s ({self.rate:.1f}/s), {self.skipped} "
            f"already on disk, {self.refetched} re-fetched as incomplete, {self.no_data} without data, "
            f"{self.failed} failed, of {self.total}"
        )


class Progress:
    """Thread-safe counters, a tqdm bar when a terminal shows it, and a log line every 30 s."""

    def __init__(self, summary: DownloadSummary):
        from tqdm.auto import tqdm

        self.summary = summary
        self.lock = threading.Lock()
        self.started = time.perf_counter()
        self.last_report = self.started
        self.bar = tqdm(total=summary.total, desc="download", unit="cutout", disable=None, smoothing=0.1)

    def add(self, kind: str, advance: bool = True, failure: tuple | None = None) -> None:
        """Count one cutout in the summary's counter ``kind``; ``advance`` moves the bar too.

        ``failure``, ``(object_id, filter, reason)``, is added to the summary's failures.
        """
        with self.lock:
            setattr(self.summary, kind, getattr(self.summary, kind) + 1)
            if failure:
                self.summary.failures.append(failure)
            if advance:
                self.bar.update()
            if self.summary.failed:
                self.bar.set_postfix(failed=self.summary.failed, refresh=False)
            now = time.perf_counter()
            if self.bar.disable and now - self.last_report >= _REPORT_SECONDS:
                self.last_report = now
                logger.info("download: %s", self.status_line(now))

    def status_line(self, now: float) -> str:
        """Done and total, rate, failures and the estimated time left."""
        summary = self.summary
        done = summary.fetched + summary.skipped + summary.no_data + summary.failed
        rate = summary.fetched / max(now - self.started, 1e-9)
        left = summary.total - done
        eta = f"{left / rate / 60:.1f} min" if rate > 0 else "unknown"
        return f"{done}/{summary.total} cutouts, {rate:.1f}/s, {summary.failed} failed, ETA {eta}"

    def close(self) -> None:
        """Stop the clock and the bar."""
        self.summary.seconds = time.perf_counter() - self.started
        self.bar.close()
