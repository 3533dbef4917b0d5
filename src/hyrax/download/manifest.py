"""The record of a download: an append-only journal while it runs, ``manifest.fits`` when it stops.

The journal gets one line per finished cutout, flushed at once, so a download killed at any moment
keeps the record of everything it wrote. ``manifest.fits`` is written when the download stops (at
the end, on an error or on Ctrl-C) by streaming over the catalog in chunks, so its memory does not
grow with the number of rows; after a kill, the next ``download`` (or ``rebuild_manifest``) writes it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from hyrax.datasets.cutout_folder import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    STATUSES,
    cutout_filename,
    format_time,
    write_manifest_in_chunks,
)
from hyrax.download.services.base import CutoutRequest

_CHUNK_OBJECTS = 50_000


class Journal:
    """Appends one tab-separated line per finished cutout to ``<folder>/.manifest-journal.tsv``.

    Lines are ``encoded id, filter, file name, status, UTC time, ra, dec``; they are written by the
    download threads under a lock and flushed one by one.
    """

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / JOURNAL_NAME
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()

    def record(self, request: CutoutRequest, status: str) -> None:
        """Append the outcome of one cutout."""
        filename = request.filename if status == "ok" else ""
        line = (
            f"{quote(request.object_id, safe='')}\t{request.filter}\t{filename}\t{status}\t"
            f"{format_time(time.time())}\t{request.ra!r}\t{request.dec!r}\n"
        )
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def remove(self) -> None:
        """Close and delete the journal, once the manifest holds everything it says."""
        with self._lock:
            self._file.close()
        self.path.unlink(missing_ok=True)


def write_manifest(
    folder: str | os.PathLike,
    ids: Sequence[str],
    ras: np.ndarray,
    decs: np.ndarray,
    filters: Sequence[str],
    outcomes: Mapping[tuple[str, str], tuple[str, float]],
) -> Path:
    """Write ``<folder>/manifest.fits``: one row per object and filter, in catalog order.

    A cutout whose file exists is ``"ok"`` with the file's time; otherwise its row takes the status
    and time this run recorded for it in ``outcomes``, or ``"not tried"``.

    Parameters
    ----------
    folder : path
        The download folder.
    ids, ras, decs : sequences
        The catalog's object ids and positions in degrees.
    filters : sequence of str
        The filters downloaded.
    outcomes : mapping
        ``(object_id, filter) -> (status, UNIX time)`` for the cutouts this run could not fetch.

    Returns
    -------
    Path
        The manifest.
    """
    folder = Path(folder)
    widths = {
        "object_id": max((len(object_id.encode()) for object_id in ids), default=1),
        "filter": max(len(name.encode()) for name in filters),
        "filename": max((len(quote(object_id, safe="")) for object_id in ids), default=1)
        + max(len(f"_{name}.fits") for name in filters),
        "status": max(len(status) for status in STATUSES),
        "time": len(format_time(0)),
    }

    names = (*widths, "ra", "dec")

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(ids), _CHUNK_OBJECTS):
            rows = []
            for index in range(start, min(start + _CHUNK_OBJECTS, len(ids))):
                object_id = ids[index]
                for filter_name in filters:
                    filename = cutout_filename(object_id, filter_name)
                    try:
                        status, when = "ok", os.stat(folder / filename).st_mtime
                    except FileNotFoundError:
                        filename = ""
                        status, when = outcomes.get((object_id, filter_name), ("not tried", None))
                    stamp = format_time(when) if when is not None else ""
                    rows.append((object_id, filter_name, filename, status, stamp, ras[index], decs[index]))
            columns = zip(*rows, strict=True)
            yield dict(zip(names, map(np.asarray, columns), strict=True))

    return write_manifest_in_chunks(
        folder / MANIFEST_NAME, len(ids) * len(filters), widths, ("ra", "dec"), chunks()
    )
