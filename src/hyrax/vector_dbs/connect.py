"""Open the vector database the ``[vector_db]`` configuration names: the one place that decides which.

``vector_db.server_url`` comes before ``vector_db.vector_db_dir``. With neither, ``save_to_database``
writes to the folder it passes, and readers (``lookup``, ``database_connection``) use the database
that the newest complete ``save_to_database`` run recorded in its ``vector_db.json``, so they find it
even when the configuration has changed since.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyrax.config.redact import REDACTED, redact_text
from hyrax.errors import ResultsNotFoundError
from hyrax.vector_dbs.base import VectorDB

logger = logging.getLogger(__name__)

RECORD_NAME = "vector_db.json"
"""File in a ``save_to_database`` results directory that says where its database is."""
SAVE_VERB = "save_to_database"


def _unset(value: Any) -> bool:
    return value is False or value is None or value == ""


def write_record(results_dir: str | os.PathLike, db: VectorDB, **extra: Any) -> Path:
    """Write ``vector_db.json`` into ``results_dir``, recording where ``db`` lives.

    A folder inside ``results_dir`` is stored relative to it, so the results directory can be moved.
    """
    results_dir = Path(results_dir).resolve()
    path = None
    if db.path is not None:
        path = Path(db.path).resolve()
        path = path.relative_to(results_dir) if path.is_relative_to(results_dir) else path
    record = {
        "name": type(db).registry_name or f"{type(db).__module__}.{type(db).__qualname__}",
        "collection": db.collection,
        "path": None if path is None else str(path),
        "server_url": None if db.server_url is None else redact_text(db.server_url),
        **extra,
    }
    target = results_dir / RECORD_NAME
    target.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return target


def read_record(results_dir: str | os.PathLike) -> dict[str, Any]:
    """Read the ``vector_db.json`` of a ``save_to_database`` results directory; paths made absolute."""
    results_dir = Path(results_dir)
    file = results_dir / RECORD_NAME
    if not file.is_file():
        raise ResultsNotFoundError(
            f"{file} does not exist, so the database that run wrote to is unknown. Set "
            "vector_db.vector_db_dir (or vector_db.server_url) to the database to use."
        )
    record = json.loads(file.read_text(encoding="utf-8"))
    if record.get("path") is not None:
        record["path"] = str((results_dir / record["path"]).resolve())
    return record


def open_vector_db(
    settings: Mapping,
    *,
    results_root: str | os.PathLike | None = None,
    for_writing: bool = False,
    default_path: str | os.PathLike | None = None,
) -> VectorDB:
    """Create (without connecting) the :class:`VectorDB` that a ``[vector_db]`` table names.

    Parameters
    ----------
    settings : mapping
        The ``[vector_db]`` table: ``name``, ``server_url``, ``vector_db_dir``, ``collection``, ``metric``.
    results_root : path, optional
        Where to look for the newest ``save_to_database`` run (``general.results_dir``), when reading
        and ``settings`` names neither a server nor a folder.
    for_writing : bool
        Open for ``save_to_database``: the database is created if missing, in ``default_path`` when
        neither ``vector_db.server_url`` nor ``vector_db.vector_db_dir`` is set, and a new collection
        gets ``vector_db.metric``. For reading, the folder must exist and the collection keeps its own
        metric.
    default_path : path, optional
        Folder to write to when the configuration names none (required then, when writing).

    Returns
    -------
    VectorDB
        The database object; its methods connect on first use, and it is a context manager.

    Raises
    ------
    ResultsNotFoundError
        When reading and there is no database: no such folder, or no complete save_to_database run.
    """
    collection = str(settings.get("collection", "hyrax"))
    metric = settings.get("metric", "l2") if for_writing else None
    name = str(settings["name"])
    server_url = None if _unset(settings["server_url"]) else str(settings["server_url"])
    path: str | None = None
    if server_url is None:
        if not _unset(settings["vector_db_dir"]):
            path = str(settings["vector_db_dir"])
        elif for_writing:
            if default_path is None:
                raise ValueError("open_vector_db needs default_path to write when vector_db_dir is false.")
            path = str(default_path)
        else:
            from hyrax.results import find_most_recent_results_dir

            if results_root is None:
                raise ValueError("open_vector_db needs results_root to find the newest saved database.")
            try:
                run_dir = find_most_recent_results_dir(results_root, SAVE_VERB)
            except ResultsNotFoundError as error:
                raise ResultsNotFoundError(
                    f"{error} (Or set vector_db.vector_db_dir or vector_db.server_url to an existing "
                    "database.)"
                ) from None
            logger.info("Using the vector database written by %s", run_dir)
            name, collection, path, server_url = _recorded_target(read_record(run_dir), run_dir)
    if path is not None and not for_writing and not Path(path).is_dir():
        raise ResultsNotFoundError(
            f"There is no vector database at {path}. Run `hyrax save_to_database` first, or set "
            "vector_db.vector_db_dir to an existing database folder."
        )
    return _make(name, path, server_url, collection, metric=metric)


def _make(name: str, path: str | None, server_url: str | None, collection: str, **options: Any) -> VectorDB:
    """The backend ``name`` at ``path`` or ``server_url``, given the ``options`` its constructor takes."""
    import inspect

    from hyrax.registry import VECTOR_DB_REGISTRY, get_or_load_class

    backend = get_or_load_class({"name": name}, VECTOR_DB_REGISTRY)
    accepted = inspect.signature(backend).parameters
    options = {key: value for key, value in options.items() if key in accepted or key == "metric"}
    if server_url is not None:
        return backend(server_url=server_url, collection=collection, **options)
    return backend(path, collection=collection, **options)


def _recorded_target(record: Mapping, run_dir: Path) -> tuple[str, str, str | None, str | None]:
    """``(name, collection, path, server_url)`` of the database a save_to_database run recorded."""
    server_url = record.get("server_url")
    if server_url is not None and f"://{REDACTED}@" in server_url:
        # The record keeps no credentials: connect without them, unless the config gives them.
        logger.info(
            "%s stores the server URL without its credentials; set vector_db.server_url to a URL with "
            "them if the server needs them.",
            run_dir / RECORD_NAME,
        )
        server_url = server_url.replace(f"://{REDACTED}@", "://", 1)
    return record["name"], record["collection"], record.get("path"), server_url


def open_saved_database(
    results_root: str | os.PathLike, input_dir: str | os.PathLike, count: int, **options: Any
) -> VectorDB | None:
    """The database of the newest complete save_to_database run under ``results_root`` that stored
    all ``count`` vectors of ``input_dir``, or None when there is none.

    ``options`` go to the backend's constructor where it takes them (e.g. ``nprobe`` for FAISS).
    """
    from hyrax.results import list_results_dirs

    wanted = Path(input_dir).resolve()
    for run_dir in reversed(list_results_dirs(results_root, SAVE_VERB)):
        if not (run_dir / RECORD_NAME).is_file():
            continue
        record = read_record(run_dir)
        if (
            record.get("input_dir")
            and Path(record["input_dir"]).resolve() == wanted
            and record.get("count") == count
        ):
            name, collection, path, server_url = _recorded_target(record, run_dir)
            return _make(name, path, server_url, collection, **options)
    return None
