"""Timestamped results directories, and how verbs find the ones earlier verbs wrote.

Each verb run writes into ``<results_dir>/YYYYMMDD-HHMMSS-<verb>-<uid>/``. The directory holds a
``.hyrax_run.json`` from the start (verb, start time) and gets a ``.hyrax_complete`` marker, written
atomically, only when the run finishes. :func:`find_most_recent_results_dir` ignores directories
without the marker, so a run that failed or was interrupted is never taken for complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from pathlib import Path

from hyrax.errors import ResultsNotFoundError
from hyrax.files import write_text_atomically

RUN_INFO_NAME = ".hyrax_run.json"
COMPLETE_MARKER_NAME = ".hyrax_complete"
_DIR_PATTERN = re.compile(r"^(\d{8}-\d{6})-(?P<verb>[a-z0-9_]+)-(?P<uid>[0-9a-f]+)$")


def create_results_dir(results_root: str | os.PathLike, verb: str) -> Path:
    """Create and return a new, unique ``YYYYMMDD-HHMMSS-<verb>-<uid>`` directory.

    Parameters
    ----------
    results_root : path
        The ``general.results_dir`` folder; created if missing.
    verb : str
        Name of the verb that owns the directory.

    Returns
    -------
    Path
        The new directory, holding its run information file.
    """
    root = Path(results_root)
    root.mkdir(parents=True, exist_ok=True)
    started = time.time_ns()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started / 1e9))
    while True:
        directory = root / f"{stamp}-{verb}-{secrets.token_hex(3)}"
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
            break
    info = {"verb": verb, "started_ns": started, "pid": os.getpid()}
    write_text_atomically(directory / RUN_INFO_NAME, json.dumps(info))
    return directory


def mark_complete(directory: str | os.PathLike) -> None:
    """Write the completion marker of ``directory``; call it last, after every result is written."""
    write_text_atomically(Path(directory) / COMPLETE_MARKER_NAME, json.dumps({"finished_ns": time.time_ns()}))


def is_complete(directory: str | os.PathLike) -> bool:
    """True when ``directory`` holds the completion marker of a finished run."""
    return (Path(directory) / COMPLETE_MARKER_NAME).is_file()


def _started_ns(directory: Path) -> int:
    try:
        return int(json.loads((directory / RUN_INFO_NAME).read_text())["started_ns"])
    except (OSError, ValueError, KeyError):
        return int(directory.stat().st_mtime_ns)


def list_results_dirs(results_root: str | os.PathLike, verb: str, complete_only: bool = True) -> list[Path]:
    """Results directories of ``verb`` under ``results_root``, oldest first."""
    root = Path(results_root)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        match = _DIR_PATTERN.match(entry.name)
        if match and match["verb"] == verb and entry.is_dir() and (is_complete(entry) or not complete_only):
            found.append(entry)
    return sorted(found, key=_started_ns)


def find_most_recent_results_dir(results_root: str | os.PathLike, verb: str) -> Path:
    """Return the newest complete results directory of ``verb`` under ``results_root``.

    Parameters
    ----------
    results_root : path
        The folder holding the results directories (``general.results_dir``).
    verb : str
        The verb whose results are wanted (``"train"``, ``"infer"``, ...).

    Raises
    ------
    ResultsNotFoundError
        When there is none, saying where it looked and what to run first.
    """
    root = Path(results_root)
    found = list_results_dirs(root, verb)
    if not found:
        # None is complete, so every run listed here did not finish.
        unfinished = len(list_results_dirs(root, verb, complete_only=False))
        note = f" {unfinished} {verb} run(s) there did not finish (no {COMPLETE_MARKER_NAME} marker)."
        raise ResultsNotFoundError(
            f"No complete '{verb}' results in {root}.{note if unfinished else ''} Run `hyrax {verb}` first, "
            f"or name the results directory to use in the configuration."
        )
    return found[-1]


def resolve_input_dir(
    configured: str | os.PathLike | bool, verb: str, results_root: str | os.PathLike
) -> Path:
    """Return ``configured`` if it is a path, else the newest complete results of ``verb``.

    A named directory must exist and be complete: an interrupted run is refused by name.

    Parameters
    ----------
    configured : path or False
        The directory a user named (an ``input_dir`` key), or False for the newest one.
    verb : str
        The verb whose results are wanted.
    results_root : path
        Where to look for the newest one (``general.results_dir``).
    """
    if not configured:
        return find_most_recent_results_dir(results_root, verb)
    directory = Path(configured)
    if not directory.is_dir():
        raise ResultsNotFoundError(f"Results directory {directory} does not exist.")
    if (directory / RUN_INFO_NAME).is_file() and not is_complete(directory):
        raise ResultsNotFoundError(
            f"Results directory {directory} is from a run that did not finish (no {COMPLETE_MARKER_NAME} "
            f"marker); its results may be partial. Run the verb again, or name a complete directory."
        )
    return directory
