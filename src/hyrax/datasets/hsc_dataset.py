"""``HSCDataSet``: Hyper Suprime-Cam cutouts in the folder layout the ``download`` verb writes.

Folder layout
-------------
.. code-block:: text

    <data_dir>/
        <object_id>_<filter>.fits   one cutout per object and filter, e.g. 36411452835238206_HSC-G.fits;
                                    the image is in the primary HDU, or in the first extension when the
                                    primary HDU is empty (as the HSC cutout service writes it)
        manifest.fits               optional FITS table, one row per file, with the columns
                                        object_id  str   the object's id
                                        filter     str   the filter name, e.g. "HSC-G"
                                        filename   str   the file, relative to <data_dir> (or absolute);
                                                         empty when the cutout could not be fetched
                                    and any per-object columns, such as ra and dec in degrees

File names are split at their last underscore, so an object id may contain underscores but a filter
name may not. When ``manifest.fits`` exists it is the list of objects and files; otherwise the folder
is scanned. :func:`rebuild_manifest` rewrites the manifest from a scan, keeping the per-object columns
of the old one.

The dataset stacks the filters chosen by ``data_set.HSCDataSet.filters`` (all filters found, in
wavelength order, by default) and leaves out objects that lack one of them, with one warning that
counts the objects missing each filter. Reading, cropping to a common size and NaN handling are those
of :class:`~hyrax.datasets.fits_image_dataset.FitsImageDataSet`, and so is the scaling of each cutout
(``data_set.HSCDataSet.scaling``, ``"asinh"`` by default), which puts the cutouts of every filter in
units of their own noise.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hyrax.datasets.fits_image_dataset import FitsImageDataSet, ObjectFiles, column_values, read_catalog
from hyrax.errors import DataError, did_you_mean

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.fits"
MANIFEST_COLUMNS = ("object_id", "filter", "filename")
HSC_FILTER_ORDER = ("HSC-G", "HSC-R", "HSC-R2", "HSC-I", "HSC-I2", "HSC-Z", "HSC-Y")
_LISTED = 5


def filter_sort_key(name: str) -> tuple[int, str]:
    """Sort key putting HSC broad-band filters in wavelength order, then any other name alphabetically."""
    return (HSC_FILTER_ORDER.index(name) if name in HSC_FILTER_ORDER else len(HSC_FILTER_ORDER), name)


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
    rows = []
    with os.scandir(directory) as entries:
        for entry in entries:
            stem, suffix = os.path.splitext(entry.name)
            object_id, _, filter_name = stem.rpartition("_")
            if suffix == ".fits" and entry.name != MANIFEST_NAME and object_id and filter_name:
                rows.append((object_id, filter_name, entry.name))
    return sorted(rows, key=lambda row: (_id_sort_key(row[0]), filter_sort_key(row[1])))


def read_manifest(directory: str | os.PathLike) -> tuple[list[tuple[str, str, str]], dict[str, np.ndarray]]:
    """Read ``<directory>/manifest.fits``.

    Returns
    -------
    rows : list of (str, str, str)
        ``(object_id, filter, filename)`` per row, in file order.
    extra : dict of str to numpy.ndarray
        The manifest's other one-dimensional columns, aligned with ``rows``.

    Raises
    ------
    DataError
        When the manifest cannot be read or lacks a required column.
    """
    path = Path(directory) / MANIFEST_NAME
    table = read_catalog(path, "the HSC manifest")
    absent = [name for name in MANIFEST_COLUMNS if name not in table.colnames]
    if absent:
        raise DataError(
            f"The manifest {path} lacks the column(s) {', '.join(absent)}; its columns: "
            f"{', '.join(table.colnames)}. "
            f"Rebuild it from the files with hyrax.datasets.hsc_dataset.rebuild_manifest('{directory}')."
        )
    ids, filters, names = (table[name].tolist() for name in MANIFEST_COLUMNS)
    rows = [
        (str(i), str(f).strip(), str(n).strip() if n else "")
        for i, f, n in zip(ids, filters, names, strict=True)
    ]
    extra = {
        name: column_values(table[name])
        for name in table.colnames
        if name not in MANIFEST_COLUMNS and table[name].ndim == 1
    }
    return rows, extra


def rebuild_manifest(directory: str | os.PathLike) -> Path:
    """Write ``<directory>/manifest.fits`` from a scan of the folder's cutout files.

    Per-object columns of an existing, readable manifest (``ra``, ``dec``, ...) are kept for the
    objects still present; objects new to the manifest get blank values.

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
    old_columns: dict[str, tuple[np.dtype, dict[str, object]]] = {}
    if (directory / MANIFEST_NAME).is_file():
        try:
            old_rows, old_extra = read_manifest(directory)
        except DataError as error:
            logger.warning("The old manifest is unreadable; its extra columns are lost: %s", error)
            old_rows, old_extra = [], {}
        for name, values in old_extra.items():
            by_id: dict[str, object] = {}
            for (object_id, _, _), value in zip(old_rows, values, strict=True):
                by_id.setdefault(object_id, value)
            old_columns[name] = (values.dtype, by_id)
    table = Table([[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]], names=MANIFEST_COLUMNS)
    for name, (dtype, by_id) in old_columns.items():
        # New objects get a masked placeholder of the column's type; an old manifest with no rows
        # still has typed columns, which stay in the new manifest, fully masked.
        blank = np.zeros((), dtype).item()
        values = np.array([by_id.get(r[0], blank) for r in rows], dtype=dtype)
        table[name] = MaskedColumn(values, mask=[r[0] not in by_id for r in rows])
    path = directory / MANIFEST_NAME
    temporary = directory / f".{MANIFEST_NAME}.tmp"
    table.write(temporary, format="fits", overwrite=True)
    os.replace(temporary, path)
    return path


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


class HSCDataSet(FitsImageDataSet):
    """HSC cutouts, one FITS file per object and filter, in the layout of the module docstring.

    Parameters
    ----------
    config : ConfigDict
        The whole configuration; this class reads ``[data_set]`` and ``[data_set.HSCDataSet]``, and
        ``general.data_dir`` when ``data_set.HSCDataSet.data_dir`` is false.

    Examples
    --------
    >>> from hyrax.config import load_config  # doctest: +SKIP
    >>> config = load_config()  # doctest: +SKIP
    >>> config["data_set"]["HSCDataSet"]["data_dir"] = "./data/hsc"  # doctest: +SKIP
    >>> config["data_set"]["HSCDataSet"]["filters"] = ["HSC-G", "HSC-R", "HSC-I"]  # doctest: +SKIP
    >>> HSCDataSet(config)[0]["data"].shape  # doctest: +SKIP
    torch.Size([3, 64, 64])
    """

    config_table = "HSCDataSet"

    def _read_objects(self, table: Mapping) -> ObjectFiles:
        directory = Path(table["data_dir"] or self.config["general"]["data_dir"])
        if not directory.is_dir():
            raise DataError(
                f"HSCDataSet: the cutout folder {directory} does not exist. Set {self._key}.data_dir (or "
                f"general.data_dir) to the folder the download verb wrote."
            )
        if (directory / MANIFEST_NAME).is_file():
            rows, extra = read_manifest(directory)
            source = f"the manifest {directory / MANIFEST_NAME}"
        else:
            rows, extra = scan_folder(directory), {}
            source = f"the folder {directory}"
        files: dict[str, dict[str, str]] = {}
        first_row: dict[str, int] = {}
        for number, (object_id, filter_name, filename) in enumerate(rows):
            first_row.setdefault(object_id, number)
            if filename:
                files.setdefault(object_id, {})[filter_name] = os.path.join(directory, filename)
        found = sorted({name for by_filter in files.values() for name in by_filter}, key=filter_sort_key)
        if not found:
            raise DataError(f"HSCDataSet: {source} lists no <object_id>_<filter>.fits cutouts.")
        filters = list(table["filters"]) if table["filters"] is not False else found
        absent = [name for name in filters if name not in found]
        if absent:
            raise DataError(
                f"HSCDataSet: no cutout in {source} has filter {', '.join(map(repr, absent))} "
                f"({self._key}.filters).{did_you_mean(str(absent[0]), found)} "
                f"Filters found: {', '.join(found)}."
            )
        ids = self._complete_objects(list(first_row), files, filters)
        paths = [[files[object_id][name] for object_id in ids] for name in filters]
        rows_of_ids = [first_row[object_id] for object_id in ids]
        metadata = {"object_id": np.array(ids)}
        metadata.update({name: values[rows_of_ids] for name, values in extra.items() if name != "object_id"})
        return ObjectFiles(ids=ids, channels=filters, paths=paths, metadata=metadata)

    def _complete_objects(self, ids: list[str], files: dict[str, dict[str, str]], filters: list[str]) -> list:
        """Return the ids that have a file for every filter, warning once about the others."""
        complete, lacking = [], Counter()
        left_out = []
        for object_id in ids:
            missing = [name for name in filters if name not in files.get(object_id, {})]
            if missing:
                lacking.update(missing)
                left_out.append(object_id)
            else:
                complete.append(object_id)
        if not complete:
            raise DataError(
                f"HSCDataSet: no object has a cutout in every filter of {', '.join(filters)}. Choose fewer "
                f"filters with {self._key}.filters."
            )
        if left_out:
            counts = ", ".join(f"{name}: {lacking[name]}" for name in filters if lacking[name])
            logger.warning(
                "HSCDataSet: left out %d of %d objects that lack a filter (objects missing each filter: "
                "%s); first ids: %s%s. Download the missing cutouts, or choose fewer filters with "
                "%s.filters.",
                len(left_out),
                len(ids),
                counts,
                ", ".join(left_out[:_LISTED]),
                ", ..." if len(left_out) > _LISTED else "",
                self._key,
            )
        return complete
