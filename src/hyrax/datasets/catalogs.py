"""Reading object catalogs: any table astropy reads, with errors that name the file and the column.

Kept apart from the datasets so that verbs which only read a catalog (``download``) do not import torch.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import DataError, did_you_mean

# Extensions Table.read cannot identify by name alone.
_FORMATS = {".pq": "parquet", ".parquet": "parquet", ".votable": "votable", ".vot": "votable"}


def read_catalog(path: str | os.PathLike, key: str = "catalog"):
    """Read a catalog with :meth:`astropy.table.Table.read`, turning failures into :class:`DataError`.

    Parameters
    ----------
    path : path
        The catalog file; ``.pq``/``.parquet`` and ``.votable``/``.vot`` are read as Parquet and
        VOTable, other formats are identified by astropy.
    key : str
        The configuration key that named the file, for messages.

    Returns
    -------
    astropy.table.Table
        The catalog.
    """
    from astropy.table import Table
    from astropy.utils.exceptions import AstropyWarning

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Catalog file not found: {path} ({key}). Check the path.")
    try:
        with warnings.catch_warnings():
            # Column-name style and Parquet string-length notes do not affect reading.
            warnings.simplefilter("ignore", AstropyWarning)
            return Table.read(path, format=_FORMATS.get(path.suffix.lower()))
    except Exception as error:
        raise DataError(
            f"Cannot read the catalog {path} ({key}): {type(error).__name__}: {error}. Use a format "
            f"astropy.table.Table.read reads (FITS, CSV, ECSV, Parquet, VOTable, HDF5) with its usual "
            f"file extension."
        ) from None


def catalog_column(table, name: str, key: str, path: str | os.PathLike) -> Any:
    """Return column ``name`` of ``table``, or raise :class:`DataError` listing the columns it has."""
    if name not in table.colnames:
        raise DataError(
            f"The catalog {path} has no column '{name}' (set by {key}).{did_you_mean(name, table.colnames)} "
            f"Its columns: {', '.join(table.colnames)}."
        )
    return table[name]


def column_values(column) -> np.ndarray:
    """Return a table column as a plain array: masked floats become NaN, bytes become ``str``."""
    if getattr(column, "mask", None) is not None and np.any(column.mask):
        column = column.filled(np.nan if column.dtype.kind == "f" else column.fill_value)
    array = np.asarray(column)
    return np.char.decode(array, "utf-8") if array.dtype.kind == "S" else array
