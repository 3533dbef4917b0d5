"""The folder of cutouts the ``download`` verb writes and ``HSCDataSet`` reads.

Its layout is in the "The folder and its manifest" section of docs/download.md: one
``<object_id>_<filter>.fits`` file per object and filter; ``manifest.fits``, a FITS table with one row
per object and filter (``object_id``, ``filter``, ``filename``, empty when the cutout was not fetched,
``status``, one of :data:`STATUSES`, ``time``, UTC ISO 8601) and per-object columns such as ``ra`` and
``dec`` in degrees; and, while a download runs, the journal ``.manifest-journal.tsv``, one line per
finished cutout, appended and flushed as it goes, so a killed download loses nothing it fetched.

Object ids are percent-encoded in file names, so no id can name a file outside the folder. File names
are split at their last underscore, so an id may contain underscores but a filter name may not.

Nothing here imports torch: the ``download`` and ``rebuild_manifest`` verbs use this module alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from hyrax.datasets.catalogs import column_values, read_catalog
from hyrax.errors import DataError
from hyrax.files import replacing

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.fits"
JOURNAL_NAME = ".manifest-journal.tsv"
# Written by the download verb into its results directory; names the folder it filled.
DOWNLOAD_INFO_NAME = "download_info.json"
MANIFEST_COLUMNS = ("object_id", "filter", "filename")
# Columns that describe one file rather than one object; they are not dataset metadata.
FILE_COLUMNS = (*MANIFEST_COLUMNS, "status", "time")
STATUSES = ("ok", "no data", "failed", "not tried")
HSC_FILTER_ORDER = ("HSC-G", "HSC-R", "HSC-R2", "HSC-I", "HSC-I2", "HSC-Z", "HSC-Y")
_BAND_ORDER = ("u", "g", "r", "i", "z", "y", "Y")
_LISTED = 5
_MAX_NAME_BYTES = 255
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def filter_sort_key(name: str) -> tuple[int, int, str]:
    """Sort key putting HSC filters, then one-letter bands, in wavelength order; other names last."""
    for rank, order in enumerate((HSC_FILTER_ORDER, _BAND_ORDER)):
        if name in order:
            return (rank, order.index(name), name)
    return (2, 0, name)


def cutout_filename(object_id: str, filter_name: str) -> str:
    """The file name of one cutout: ``<encoded object id>_<filter>.fits``.

    Parameters
    ----------
    object_id : str
        Any non-empty id; characters other than letters, digits and ``_.-~`` are percent-encoded.
    filter_name : str
        A filter name without underscores or path separators.

    Returns
    -------
    str
        A bare file name (never a path), at most 255 bytes.

    Raises
    ------
    DataError
        When the id is empty or too long for a file name.
    """
    if not object_id:
        raise DataError("An object id is empty; every object needs an id to name its cutout files.")
    name = f"{quote(object_id, safe='')}_{filter_name}.fits"
    if len(name) > _MAX_NAME_BYTES:
        raise DataError(
            f"The object id {object_id[:40]!r}... is too long for a file name ({len(name)} bytes once "
            f"encoded, at most {_MAX_NAME_BYTES}). Use shorter ids in the catalog."
        )
    return name


def parse_cutout_filename(name: str) -> tuple[str, str] | None:
    """Return ``(object_id, filter)`` of a cutout file name, or None when it is not one."""
    stem, suffix = os.path.splitext(name)
    encoded_id, _, filter_name = stem.rpartition("_")
    if suffix != ".fits" or name == MANIFEST_NAME or not encoded_id or not filter_name:
        return None
    return unquote(encoded_id), filter_name


def _id_sort_key(object_id: str) -> tuple[int, int, str]:
    return (0, int(object_id), "") if object_id.isdigit() else (1, 0, object_id)


def scan_folder(directory: str | os.PathLike) -> list[tuple[str, str, str]]:
    """List the ``<object_id>_<filter>.fits`` files of a folder.

    Parameters
    ----------
    directory : path
        The folder; sub-folders are not searched.

    Returns
    -------
    list of (str, str, str)
        ``(object_id, filter, filename)`` per file, sorted by object id (numerically when the ids are
        numbers) and filter.
    """
    rows = [(*parsed, name) for name in os.listdir(directory) if (parsed := parse_cutout_filename(name))]
    return sorted(rows, key=lambda row: (_id_sort_key(row[0]), filter_sort_key(row[1])))


def read_manifest(directory: str | os.PathLike) -> tuple[list[tuple[str, str, str]], dict[str, np.ndarray]]:
    """Read ``<directory>/manifest.fits``.

    Returns
    -------
    rows : list of (str, str, str)
        ``(object_id, filter, filename)`` per row, in file order.
    extra : dict of str to numpy.ndarray
        The manifest's per-object one-dimensional columns (not ``status`` or ``time``), aligned with
        ``rows``.

    Raises
    ------
    DataError
        When the manifest cannot be read or lacks a required column.
    """
    path = Path(directory) / MANIFEST_NAME
    table = read_catalog(path, "the cutout manifest")
    absent = [name for name in MANIFEST_COLUMNS if name not in table.colnames]
    if absent:
        raise DataError(
            f"The manifest {path} lacks the column(s) {', '.join(absent)}; its columns: "
            f"{', '.join(table.colnames)}. Rebuild it from the files with `hyrax rebuild_manifest` or "
            f"hyrax.datasets.hsc_dataset.rebuild_manifest('{directory}')."
        )
    ids, filters, names = (_strings(table[name]) for name in MANIFEST_COLUMNS)
    rows = [(i, f.strip(), n.strip()) for i, f, n in zip(ids, filters, names, strict=True)]
    extra = {
        name: column_values(table[name])
        for name in table.colnames
        if name not in FILE_COLUMNS and table[name].ndim == 1
    }
    return rows, extra


def _strings(column) -> list[str]:
    """A string column as ``str`` values; masked entries (astropy masks empty FITS strings) are ``""``."""
    if getattr(column, "mask", None) is not None:
        column = column.filled(b"" if column.dtype.kind == "S" else "")
    values = np.asarray(column)
    return (np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values.astype(str)).tolist()


def cutout_folder(
    data_dir: str | os.PathLike | bool, results_root: str | os.PathLike, fallback: str | os.PathLike
) -> Path:
    """The cutout folder to read: ``data_dir``, else the newest complete download's, else ``fallback``.

    Parameters
    ----------
    data_dir : path or False
        ``data_set.HSCDataSet.data_dir``.
    results_root : path
        ``general.results_dir``, where download runs are looked for.
    fallback : path
        ``general.data_dir``.
    """
    import json

    from hyrax.results import list_results_dirs

    if data_dir:
        return Path(data_dir)
    for run in reversed(list_results_dirs(results_root, "download")):
        try:
            downloaded = Path(json.loads((run / DOWNLOAD_INFO_NAME).read_text())["data_dir"])
        except (OSError, ValueError, KeyError):
            continue
        logger.info("Reading the cutouts of the newest download, in %s", downloaded)
        return downloaded
    return Path(fallback)


def format_time(seconds: float) -> str:
    """A UNIX time as the manifest writes it: UTC, ISO 8601, to the second."""
    return time.strftime(_TIME_FORMAT, time.gmtime(seconds))


def journal_positions(directory: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """Per-object ``(ra, dec)`` recorded in the folder's download journal, if it has one."""
    path = Path(directory) / JOURNAL_NAME
    positions: dict[str, tuple[float, float]] = {}
    if not path.is_file():
        return positions
    with open(path, encoding="utf-8") as journal:
        for line in journal:
            fields = line.rstrip("\n").split("\t")
            # A download killed while writing leaves a partial last line, which is skipped.
            if len(fields) == 7:
                with contextlib.suppress(ValueError):
                    positions[unquote(fields[0])] = (float(fields[5]), float(fields[6]))
    return positions


def rebuild_manifest(directory: str | os.PathLike) -> Path:
    """Write ``<directory>/manifest.fits`` from a scan of the folder's cutout files.

    Per-object columns of an existing, readable manifest (``ra``, ``dec``, ...) are kept for the
    objects still present, and the positions in the journal of a download that was killed fill them
    in for objects the old manifest lacks; other objects get masked (blank) values. Every row has
    status ``"ok"`` and the time its file was last written.

    Parameters
    ----------
    directory : path
        A folder in the layout described in the module docstring.

    Returns
    -------
    Path
        The manifest written.

    Raises
    ------
    DataError
        When ``directory`` is not a folder or holds no ``<object_id>_<filter>.fits`` files; an empty
        manifest would describe a dataset without objects, which is never what a rebuild is for.
    """
    from astropy.table import MaskedColumn, Table

    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"Cannot rebuild the manifest: {directory} is not a folder.")
    rows = scan_folder(directory)
    if not rows:
        raise DataError(_no_cutouts_message(directory))
    old_columns = _old_object_columns(directory)
    positions = journal_positions(directory)
    if positions:
        for axis, name in enumerate(("ra", "dec")):
            _, by_id = old_columns.setdefault(name, (np.dtype(float), {}))
            for object_id, position in positions.items():
                by_id.setdefault(object_id, position[axis])
    ids = [r[0] for r in rows]
    table = Table([ids, [r[1] for r in rows], [r[2] for r in rows]], names=MANIFEST_COLUMNS)
    table["status"] = np.full(len(rows), "ok")
    table["time"] = [format_time(os.stat(directory / r[2]).st_mtime) for r in rows]
    for name, (dtype, by_id) in old_columns.items():
        # New objects get a masked placeholder of the column's type; an old manifest with no rows
        # still has typed columns, which stay in the new manifest, fully masked.
        blank = np.zeros((), dtype).item()
        values = np.array([by_id.get(object_id, blank) for object_id in ids], dtype=dtype)
        table[name] = MaskedColumn(values, mask=[object_id not in by_id for object_id in ids])
    path = directory / MANIFEST_NAME
    with replacing(path) as temporary:
        table.write(temporary, format="fits", overwrite=True)
    return path


def _old_object_columns(directory: Path) -> dict[str, tuple[np.dtype, dict[str, object]]]:
    """The per-object columns of the folder's current manifest, as ``name -> (dtype, {id: value})``."""
    if not (directory / MANIFEST_NAME).is_file():
        return {}
    try:
        old_rows, old_extra = read_manifest(directory)
    except DataError as error:
        logger.warning("The old manifest is unreadable; its extra columns are lost: %s", error)
        return {}
    # Reversed, so that an object's first row gives its value.
    old_ids = [row[0] for row in reversed(old_rows)]
    return {
        name: (values.dtype, dict(zip(old_ids, values[::-1], strict=True)))
        for name, values in old_extra.items()
    }


def _no_cutouts_message(directory: Path) -> str:
    """Say that ``directory`` holds no cutouts, what their names look like, and which files it holds."""
    others = sorted(entry.name for entry in directory.iterdir() if entry.name != MANIFEST_NAME)
    if others:
        shown = ", ".join(others[:_LISTED]) + (", ..." if len(others) > _LISTED else "")
        found = f"It holds {len(others)} other file(s) or folder(s): {shown}."
    else:
        found = "It is empty."
    return (
        f"Cannot rebuild the manifest: {directory} holds no <object_id>_<filter>.fits files (cutouts "
        f"named like 36411452835238206_HSC-G.fits, as the download verb writes them). {found} Give the "
        "folder the download verb wrote its cutouts to."
    )


def write_manifest_in_chunks(
    path: str | os.PathLike,
    n_rows: int,
    string_widths: Mapping[str, int],
    float_columns: Iterable[str],
    chunks: Iterator[dict[str, np.ndarray]],
) -> Path:
    """Write a FITS table of ``n_rows`` rows from chunks of rows, holding one chunk in memory at a time.

    Astropy writes a table from a whole in-memory copy; at ten million rows that is gigabytes. Here
    the header is made by astropy for the final row count and the rows are streamed after it, in the
    big-endian layout the header declares.

    Parameters
    ----------
    path : path
        The table to write; it appears (atomically) only once every row is written.
    n_rows : int
        The number of rows ``chunks`` yields in all.
    string_widths : mapping of str to int
        The string columns, in order, with their width in bytes (UTF-8).
    float_columns : iterable of str
        Float64 columns written after the string columns.
    chunks : iterator of dict of str to numpy.ndarray
        Each chunk maps every column to an equal-length array.

    Returns
    -------
    Path
        ``path``.
    """
    from astropy.io import fits

    dtype = np.dtype(
        [(name, f"S{max(1, width)}") for name, width in string_widths.items()]
        + [(name, ">f8") for name in float_columns]
    )
    # Astropy writes the header of an empty table of this layout; only the row count changes.
    header = fits.BinTableHDU(np.zeros(0, dtype)).header
    header["NAXIS2"] = n_rows
    path = Path(path)
    written = 0
    with replacing(path) as temporary, open(temporary, "wb") as stream:
        stream.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
        stream.write(header.tostring().encode("ascii"))
        for chunk in chunks:
            size = len(next(iter(chunk.values())))
            rows = np.zeros(size, dtype)
            for name in dtype.names:
                values = chunk[name]
                rows[name] = np.char.encode(values, "utf-8") if values.dtype.kind == "U" else values
            stream.write(rows.tobytes())
            written += size
        if written != n_rows:
            raise ValueError(f"write_manifest_in_chunks was told {n_rows} rows but got {written}.")
        stream.write(b"\0" * (-(written * dtype.itemsize) % 2880))
    return path
