"""Fetch cutouts concurrently, with retries, checks, atomic writes and resumption.

Each cutout file appears under its final name only after its bytes have been checked as a complete
FITS file with the HDUs the service promises, written to a temporary name and renamed; so a file
with a final name is always complete, and a killed download loses at most the requests in flight.
A rerun skips every file that is already complete without a request, and fetches again any that is
truncated or corrupt (for example, copied in by hand).

Requests that fail on HTTP 5xx, 408, 429, a timeout, a dropped connection or a truncated answer are
retried ``retries`` times, waiting ``retry_wait`` seconds and doubling the wait each time; only the
cutouts that have not arrived are asked for again. HTTP 401 and 403 stop the download at once. A
service that fails every request before delivering anything (a wrong URL, a server that is down)
stops it too, with the reason, instead of failing millions of cutouts one by one.
"""

from __future__ import annotations

import logging
import random
import tarfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyrax.datasets._fits_reading import ImageReadError, hdu_shapes
from hyrax.datasets.cutout_folder import JOURNAL_NAME, cutout_filename
from hyrax.download.manifest import Journal, write_manifest
from hyrax.download.progress import DownloadSummary, Progress
from hyrax.download.services.base import (
    CredentialsRejectedError,
    CutoutRequest,
    CutoutService,
    DownloadError,
    NoDataError,
    RequestRejectedError,
)
from hyrax.files import replacing

logger = logging.getLogger(__name__)

_MAX_WAIT = 300.0
# The summary's counter of each status a cutout ends with.
_COUNTERS = {"ok": "fetched", "no data": "no_data", "failed": "failed"}


@dataclass(frozen=True)
class DownloadSettings:
    """How to download, read from ``[download]`` by the verb.

    Attributes
    ----------
    folder : Path
        Where the cutouts and ``manifest.fits`` go.
    filters : tuple of str
        One file per object and filter.
    timeout : float
        Seconds to wait for a connection, and between bytes of an answer.
    retries : int
        Extra attempts for a request that failed in a way that may pass.
    retry_wait : float
        Seconds before the first retry; doubled for each further one.
    concurrent_requests : int
        Requests in flight at once.
    """

    folder: Path
    filters: tuple[str, ...]
    timeout: float = 60.0
    retries: int = 3
    retry_wait: float = 2.0
    concurrent_requests: int = 4


def _transient_errors() -> tuple[type[BaseException], ...]:
    import requests
    import urllib3

    return (requests.RequestException, urllib3.exceptions.HTTPError, tarfile.TarError, OSError, EOFError)


def _describe_error(error: BaseException) -> str:
    import requests

    if isinstance(error, requests.Timeout):
        kind = "no answer within the timeout"
    elif isinstance(error, requests.ConnectionError):
        kind = "the connection failed"
    elif isinstance(error, requests.HTTPError) and error.response is not None:
        kind = f"HTTP {error.response.status_code}"
    else:
        kind = "the answer broke off"
    text = " ".join(str(error).split())[:160]
    return f"{kind} ({type(error).__name__}: {text})"


class Downloader:
    """Fetches the cutouts of a catalog from one service into one folder.

    Parameters
    ----------
    service : CutoutService
        Where the cutouts come from.
    settings : DownloadSettings
        Folder, filters, timeouts, retries and concurrency.
    """

    def __init__(self, service: CutoutService, settings: DownloadSettings):
        self.service = service
        self.settings = settings
        self._stop = threading.Event()
        self._local = threading.local()
        # Written by the download threads; read once the pool has been shut down.
        self._outcomes: dict[tuple[str, str], tuple[str, float]] = {}

    def run(self, ids: Sequence[str], ras: Any, decs: Any) -> DownloadSummary:
        """Download every object in every filter; write ``manifest.fits`` however the run ends.

        Parameters
        ----------
        ids : sequence of str
            Unique object ids.
        ras, decs : array-like
            Positions in degrees, aligned with ``ids``.

        Returns
        -------
        DownloadSummary
            Counts, rate and failures.

        Raises
        ------
        DownloadError
            When the credentials are refused, or the service fails before delivering anything.
        """
        folder = self.settings.folder
        folder.mkdir(parents=True, exist_ok=True)
        summary = DownloadSummary(total=len(ids) * len(self.settings.filters), folder=folder)
        if (folder / JOURNAL_NAME).exists():
            _remove_partial_files(folder)
        journal = Journal(folder)
        progress = Progress(summary)
        finished = False
        try:
            self._fetch_all(self._batches(ids, ras, decs, progress), journal, progress)
            finished = True
        finally:
            self._stop.set()
            progress.close()
            write_manifest(folder, ids, ras, decs, self.settings.filters, self._outcomes)
            journal.remove()
            if not finished:
                logger.warning("download stopped: %s. Run it again to resume.", summary.line())
        return summary

    def _batches(self, ids: Sequence[str], ras: Any, decs: Any, progress: Progress) -> Iterator[list]:
        """Batches of the cutouts not yet complete on disk, in catalog order."""
        batch: list[CutoutRequest] = []
        folder = self.settings.folder
        for object_id, ra, dec in zip(ids, ras, decs, strict=True):
            for filter_name in self.settings.filters:
                filename = cutout_filename(object_id, filter_name)
                path = folder / filename
                problem = self._content_problem(path) if path.exists() else "missing"
                if problem is None:
                    progress.add("skipped")
                    continue
                if problem != "missing":
                    logger.info("Fetching %s again: %s", filename, problem)
                    progress.add("refetched", advance=False)
                batch.append(CutoutRequest(object_id, float(ra), float(dec), filter_name, filename))
                if len(batch) >= self.service.batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _content_problem(self, data: bytes | Path) -> str | None:
        """What is wrong with a cutout file (from its headers and size), or None if it is complete."""
        try:
            return self.service.check(hdu_shapes(data))
        except ImageReadError as error:
            return str(error)

    def _fetch_all(self, batches: Iterator[list], journal: Journal, progress: Progress) -> None:
        workers = self.settings.concurrent_requests
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hyrax-download")
        pending: set[Future] = set()
        try:
            for batch in batches:
                while len(pending) >= 2 * workers:
                    pending = self._collect(pending, progress)
                pending.add(pool.submit(self._fetch_batch, batch, journal, progress))
            while pending:
                pending = self._collect(pending, progress)
        finally:
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self, pending: set[Future], progress: Progress) -> set[Future]:
        """Wait for one batch to finish; raise if it ended the download."""
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            failure = future.result()
            if failure and not (progress.summary.fetched or progress.summary.no_data):
                raise DownloadError(
                    f"{self.service.describe()} delivered nothing: the first request failed after "
                    f"{self.settings.retries} retries: {failure}. Check download.service, the service's url "
                    "(download.<service>.url) and the network."
                )
        return pending

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.auth = self.service.credentials
            session.headers["User-Agent"] = "hyrax-download"
            self._local.session = session
        return session

    def _fetch_batch(self, batch: list[CutoutRequest], journal: Journal, progress: Progress) -> str | None:
        """Fetch one batch with retries; return why some of it failed, or None."""
        remaining = list(batch)
        reason = ""
        for attempt in range(self.settings.retries + 1):
            if self._stop.is_set():
                return None
            if attempt:
                wait_seconds = min(self.settings.retry_wait * 2 ** (attempt - 1), _MAX_WAIT)
                if self._stop.wait(wait_seconds * random.uniform(1.0, 1.25)):
                    return None
            try:
                remaining, reason = self._attempt(remaining, journal, progress)
            except RequestRejectedError as error:
                folder = self.settings.folder
                remaining = [request for request in remaining if not (folder / request.filename).is_file()]
                reason = str(error)
                break
            if not remaining:
                return None
        for request in remaining:
            self._finish(request, "failed", journal, progress, reason)
        return reason or None

    def _attempt(self, batch: list[CutoutRequest], journal: Journal, progress: Progress) -> tuple[list, str]:
        """One request for ``batch``; return the cutouts to ask for again and why.

        Raises
        ------
        RequestRejectedError
            When the service refused the request: asking again would not help.
        DownloadError
            When it refused the credentials.
        """
        arrived: set[CutoutRequest] = set()
        problems: dict[CutoutRequest, str] = {}
        try:
            for request, content in self.service.fetch(self._session(), batch, self.settings.timeout):
                problem = self._content_problem(content)
                if problem:
                    problems[request] = f"the file it sent is not usable: {problem}"
                    continue
                with replacing(self.settings.folder / request.filename) as temporary:
                    temporary.write_bytes(content)
                arrived.add(request)
                problems.pop(request, None)
                self._finish(request, "ok", journal, progress)
        except CredentialsRejectedError as error:
            self._stop.set()
            raise DownloadError(str(error)) from None
        except NoDataError:
            problems.clear()
        except _transient_errors() as error:
            missing = [request for request in batch if request not in arrived]
            return missing, _describe_error(error)
        for request in batch:
            if request not in arrived and request not in problems:
                self._finish(request, "no data", journal, progress)
        again = [request for request in batch if request in problems]
        return again, next(iter(problems.values()), "")

    def _finish(
        self, request: CutoutRequest, status: str, journal: Journal, progress: Progress, reason: str = ""
    ) -> None:
        journal.record(request, status)
        if status != "ok":
            self._outcomes[(request.object_id, request.filter)] = (status, time.time())
        failure = (request.object_id, request.filter, reason) if status == "failed" else None
        progress.add(_COUNTERS[status], failure=failure)


def _remove_partial_files(folder: Path) -> None:
    """Delete the temporary files of a download that was killed while writing (its journal remains)."""
    partial = list(folder.glob(".*.tmp"))
    for path in partial:
        path.unlink()
    if partial:
        logger.info("Removed %d partial file(s) left by a download that was stopped", len(partial))
