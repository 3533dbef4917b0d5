"""The objects and the cutout size of a download, read and checked before any request is made."""

from __future__ import annotations

import os
import re
from collections import Counter

import numpy as np

from hyrax.datasets.catalogs import catalog_column, column_values, read_catalog
from hyrax.download.services.base import DownloadError

_LISTED = 5
_ANGLE_ALIASES = {"asec": "arcsec", "amin": "arcmin"}


def parse_angle(text: str, key: str) -> float:
    """Return an angle such as ``"10asec"``, ``"10 arcsec"`` or ``"0.2arcmin"`` in degrees.

    Parameters
    ----------
    text : str
        A positive number with an angular unit.
    key : str
        The configuration key, for messages.

    Raises
    ------
    DownloadError
        When ``text`` has no angular unit or is not positive.
    """
    from astropy import units

    normalised = re.sub(r"(?<=[\d\s.])(asec|amin)\b", lambda m: _ANGLE_ALIASES[m[1]], str(text).strip())
    try:
        degrees = units.Quantity(normalised).to_value(units.deg)
    except (TypeError, ValueError, units.UnitsError):
        raise DownloadError(
            f'{key} = {text!r} is not an angle with a unit; write it like "10arcsec", "10asec" or '
            '"0.2arcmin".'
        ) from None
    if not np.isfinite(degrees) or degrees <= 0:
        raise DownloadError(f"{key} = {text!r} must be a positive angle.")
    return float(degrees)


def read_targets(
    path: str | os.PathLike, id_column: str, ra_column: str, dec_column: str
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read the object ids and positions of a download catalog, checking every row.

    Parameters
    ----------
    path : path
        ``download.source_catalog``: any table astropy reads.
    id_column, ra_column, dec_column : str
        The column names (``download.object_id_column``, ``ra_column``, ``dec_column``).

    Returns
    -------
    ids : list of str
        Object ids, unique and non-empty.
    ras, decs : numpy.ndarray
        Right ascension and declination in degrees.

    Raises
    ------
    DataError
        When the catalog cannot be read or lacks a column (naming the columns it has).
    DownloadError
        When ids repeat or are empty, or a position is missing or out of range (naming the objects).
    """
    table = read_catalog(path, "download.source_catalog")
    if len(table) == 0:
        raise DownloadError(f"The catalog {path} (download.source_catalog) has no rows.")
    columns = {}
    for name, key in ((id_column, "object_id_column"), (ra_column, "ra_column"), (dec_column, "dec_column")):
        columns[key] = column_values(catalog_column(table, name, f"download.{key}", path))
    ids = [str(value).strip() for value in columns["object_id_column"].tolist()]
    _check_ids(ids, path, id_column)
    ras, decs = (np.asarray(columns[key], dtype=np.float64) for key in ("ra_column", "dec_column"))
    bad = ~(np.isfinite(ras) & np.isfinite(decs) & (np.abs(decs) <= 90))
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(
            f"{ids[row]!r} (row {row}: ra={ras[row]}, dec={decs[row]})" for row in rows[:_LISTED]
        )
        raise DownloadError(
            f"The catalog {path} has {len(rows)} object(s) without a valid position in columns "
            f"'{ra_column}' and '{dec_column}' (degrees; dec within ±90): {shown}. Fix or remove those rows."
        )
    return ids, np.mod(ras, 360.0), decs


def _check_ids(ids: list[str], path: str | os.PathLike, column: str) -> None:
    empty = [row for row, object_id in enumerate(ids) if not object_id]
    if empty:
        raise DownloadError(
            f"The catalog {path} has {len(empty)} row(s) with an empty '{column}' (rows "
            f"{', '.join(map(str, empty[:_LISTED]))}); every object needs an id to name its files."
        )
    repeated = [object_id for object_id, count in Counter(ids).items() if count > 1]
    if repeated:
        raise DownloadError(
            f"The catalog {path} repeats {len(repeated)} object id(s) in '{column}': "
            f"{', '.join(map(repr, repeated[:_LISTED]))}. Each object's files are named by its id, so ids "
            "must be unique."
        )
