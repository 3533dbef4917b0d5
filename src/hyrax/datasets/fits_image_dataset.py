"""``FitsImageDataSet``: FITS cutouts listed in a catalog, stacked into ``(filters, height, width)``.

The catalog is any table :meth:`astropy.table.Table.read` reads (FITS, CSV, ECSV, Parquet, VOTable,
...). It names each object's id and either one FITS file per object (``filename_column``) or one file
per filter (the ``[data_set.FitsImageDataSet.filename_columns]`` table, ``filter = "column"``):

.. code-block:: toml

    [data_set]
    name = "FitsImageDataSet"

    [data_set.FitsImageDataSet]
    catalog = "catalog.parquet"
    object_id_column = "object_id"

    [data_set.FitsImageDataSet.filename_columns]
    g = "g_file"
    r = "r_file"

Every file's header is read once when the dataset is built, which finds missing, truncated and
unreadable files up front and the most common cutout size. Pixels are read by a small FITS reader that
skips astropy's per-card header parsing for plain images (see :mod:`hyrax.datasets._fits_reading`).
What happens to each cutout (``nan_mode``, ``scaling``, cropping or padding, then
``data_set.transforms``) and how to choose the scaling is told in the "Your data" page of the docs.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hyrax.datasets._fits_reading import ImageReadError, fill_nonfinite, image_shape, read_image
from hyrax.datasets._settings import check_choice, check_number, config_or_defaults, positive_ints
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.catalogs import catalog_column, column_values, read_catalog
from hyrax.datasets.transforms import DEFAULT_SCALING, SCALINGS, HyraxImageDataset, crop_or_pad
from hyrax.errors import ConfigError, DataError, did_you_mean

logger = logging.getLogger(__name__)

NAN_MODES = ("quantile", "zero", "leave")
ON_MISSING = ("error", "skip")
_LISTED = 5


@dataclass
class ObjectFiles:
    """The objects of a FITS image dataset, before their files are checked.

    Attributes
    ----------
    ids : list of str
        Unique object ids.
    channels : list of str
        Filter (or column) names, in stacking order.
    paths : list of list of str
        ``paths[channel][object]``: absolute file paths; an empty string means no file is listed.
    metadata : dict of str to numpy.ndarray
        Per-object columns aligned with ``ids``.
    """

    ids: list[str]
    channels: list[str]
    paths: list[list[str]]
    metadata: dict[str, np.ndarray] = field(default_factory=dict)


class FitsImageDataSet(HyraxImageDataset, HyraxDataset):
    """FITS cutouts named by a catalog, one file per object or per filter; see the module docstring.

    Parameters
    ----------
    config : ConfigDict
        The whole configuration; this class reads ``[data_set]`` and ``[data_set.FitsImageDataSet]``.

    Attributes
    ----------
    filters : tuple of str
        Channel names in stacking order: the filters, or the filename column for one file per object.
    shape : tuple of int
        ``(height, width)`` every cutout is brought to.
    scaling : str
        How each cutout is scaled before the transforms: ``"asinh"``, ``"robust"`` or ``"none"``.
    left_out : list of (str, str)
        ``(object_id, reason)`` of each object of the catalog or folder that was left out (a missing
        or unreadable file, or a missing filter).

    Examples
    --------
    >>> from hyrax.config import load_config  # doctest: +SKIP
    >>> config = load_config()  # doctest: +SKIP
    >>> config["data_set"]["name"] = "FitsImageDataSet"  # doctest: +SKIP
    >>> config["data_set"]["FitsImageDataSet"]["catalog"] = "stars.fits"  # doctest: +SKIP
    >>> config["data_set"]["FitsImageDataSet"]["filename_column"] = "star_filename"  # doctest: +SKIP
    >>> FitsImageDataSet(config)[0]["data"].shape  # doctest: +SKIP
    torch.Size([1, 25, 25])
    """

    config_table = "FitsImageDataSet"
    """Name of the table in ``[data_set]`` this class reads its settings from."""

    def __init__(self, config: Mapping | None = None):
        config = config_or_defaults(config)
        super().__init__(config)
        self._configure_transforms(config)
        self._key = f"data_set.{self.config_table}"
        self.left_out: list[tuple[str, str]] = []
        table = config["data_set"][self.config_table]
        self._read_options(table)
        self._load(self._read_objects(table))

    def _read_options(self, table: Mapping) -> None:
        self._nan_mode = check_choice(table["nan_mode"], f"{self._key}.nan_mode", NAN_MODES)
        self._on_missing = check_choice(table["on_missing"], f"{self._key}.on_missing", ON_MISSING)
        # Tables of subclasses written before the key existed lack it; they get the same default.
        scaling = table.get("scaling", DEFAULT_SCALING)
        self.scaling = check_choice(scaling, f"{self._key}.scaling", SCALINGS)
        self._nan_quantile = float(
            check_number(table["nan_quantile"], f"{self._key}.nan_quantile", 0, 1, example=0.05)
        )
        shape = table["shape"]
        if shape is not False and not positive_ints(shape, 2):
            raise ConfigError(
                f"{self._key}.shape must be [height, width] with two positive integers, or false for the "
                f"most common cutout size; got {shape!r}.",
                key=f"{self._key}.shape",
            )
        self._configured_shape = None if shape is False else (int(shape[0]), int(shape[1]))

    def _read_objects(self, table: Mapping) -> ObjectFiles:
        """Read the catalog: ids, per-filter file paths and metadata columns."""
        if not table["catalog"]:
            raise ConfigError(
                f"{type(self).__name__} needs a catalog: set {self._key}.catalog to a table file "
                f"(FITS, CSV, Parquet, VOTable, ...) listing object ids and FITS file names.",
                key=f"{self._key}.catalog",
            )
        path = Path(table["catalog"])
        catalog = read_catalog(path, f"{self._key}.catalog")
        if len(catalog) == 0:
            raise DataError(f"The catalog {path} ({self._key}.catalog) has no rows; it lists no objects.")
        id_column = catalog_column(catalog, table["object_id_column"], f"{self._key}.object_id_column", path)
        ids = [str(value) for value in id_column.tolist()]
        columns = self._filename_columns(table)
        base = Path(table["data_dir"]) if table["data_dir"] else path.parent
        paths = []
        for column_name, column_key in columns.values():
            names = catalog_column(catalog, column_name, column_key, path).tolist()
            paths.append([os.path.join(base, os.path.expanduser(str(n))) if n else "" for n in names])
        metadata = {
            name: column_values(catalog[name]) for name in catalog.colnames if catalog[name].ndim == 1
        }
        return ObjectFiles(ids=ids, channels=list(columns), paths=paths, metadata=metadata)

    def _filename_columns(self, table: Mapping) -> dict[str, tuple[str, str]]:
        """Map each channel to its catalog column and the configuration key that names that column."""
        per_filter = dict(table["filename_columns"])
        filters = table["filters"]
        if not per_filter:
            if filters is not False:
                raise ConfigError(
                    f"{self._key}.filters selects among the keys of [{self._key}.filename_columns], which is "
                    f"empty. List one catalog column per filter there, or set filters = false.",
                    key=f"{self._key}.filters",
                )
            column = table["filename_column"]
            return {column: (column, f"{self._key}.filename_column")}
        filters = per_filter if filters is False else filters
        unknown = [name for name in filters if name not in per_filter]
        if unknown:
            raise ConfigError(
                f"{self._key}.filters names {', '.join(map(repr, unknown))}, which "
                f"[{self._key}.filename_columns] does not define.{did_you_mean(str(unknown[0]), per_filter)} "
                f"Defined filters: {', '.join(per_filter)}.",
                key=f"{self._key}.filters",
            )
        return {name: (per_filter[name], f"{self._key}.filename_columns.{name}") for name in filters}

    def _load(self, objects: ObjectFiles) -> None:
        """Check every file's header, drop or report bad ones, and fix the common cutout shape."""
        counts = Counter(objects.ids)
        if len(counts) != len(objects.ids):
            repeated = [object_id for object_id, n in counts.items() if n > 1]
            raise DataError(
                f"{type(self).__name__}: object ids must be unique, but {len(repeated)} repeat, e.g. "
                f"{', '.join(repeated[:_LISTED])}. Check {self._key}.object_id_column."
            )
        shapes: list[list[tuple[int, int]]] = []
        failures: list[tuple[int, str, str]] = []
        for index in range(len(objects.ids)):
            row = []
            for paths in objects.paths:
                try:
                    if not paths[index]:
                        raise ImageReadError("the catalog gives no file name")
                    row.append(_plane_shape(image_shape(paths[index])))
                except ImageReadError as error:
                    failures.append((index, paths[index], str(error)))
                    break
            shapes.append(row)
        keep = self._handle_failures(objects, failures)
        self.shape = self._common_shape([shapes[index] for index in keep])
        self.filters = tuple(objects.channels)
        self._object_ids = [objects.ids[index] for index in keep]
        self._paths = [[paths[index] for index in keep] for paths in objects.paths]
        self._metadata = {name: np.asarray(column)[keep] for name, column in objects.metadata.items()}

    def _handle_failures(self, objects: ObjectFiles, failures: list[tuple[int, str, str]]) -> np.ndarray:
        if not failures:
            return np.arange(len(objects.ids))
        reasons = [(objects.ids[index], f"{path}: {why}" if path else why) for index, path, why in failures]
        listed = "; ".join(f"object '{object_id}': {reason}" for object_id, reason in reasons[:_LISTED])
        more = f"; and {len(failures) - _LISTED} more" if len(failures) > _LISTED else ""
        summary = f"{len(failures)} of {len(objects.ids)} objects"
        if self._on_missing == "error":
            raise DataError(
                f"{type(self).__name__}: {summary} have a missing or unreadable file: {listed}{more}. "
                f'Fix or remove those files, or set {self._key}.on_missing = "skip" to leave the objects out.'
            )
        logger.warning(
            "%s: left out %s whose file is missing or unreadable (%s.on_missing = 'skip'): %s%s.",
            type(self).__name__,
            summary,
            self._key,
            listed,
            more,
        )
        self.left_out.extend(reasons)
        keep = np.setdiff1d(np.arange(len(objects.ids)), [index for index, _, _ in failures])
        if keep.size == 0:
            raise DataError(f"{type(self).__name__}: no object has readable files; every one was skipped.")
        return keep

    def _common_shape(self, shapes: list[list[tuple[int, int]]]) -> tuple[int, int]:
        target = self._configured_shape or Counter(s for row in shapes for s in row).most_common(1)[0][0]
        odd = Counter(s for row in shapes for s in row if s != target)
        if odd:
            n_objects = sum(any(s != target for s in row) for row in shapes)
            sources = ", ".join(f"{n} from {h}x{w}" for (h, w), n in odd.most_common())
            logger.warning(
                "%s: %d of %d objects have cutouts that are not %dx%d and are centre-cropped or "
                "zero-padded to it (files: %s). Set %s.shape = [height, width] to choose the size.",
                type(self).__name__,
                n_objects,
                len(shapes),
                target[0],
                target[1],
                sources,
                self._key,
            )
        return target

    def __len__(self) -> int:
        return len(self._object_ids)

    def ids(self) -> list[str]:
        """Return the object ids, as strings, in index order."""
        return self._object_ids

    def get_data(self, index: int) -> np.ndarray:
        """Return the cutouts of object ``index`` as a float32 ``(filters, height, width)`` array.

        Each cutout has its bad pixels replaced (``nan_mode``) and is scaled (``scaling``) on its own,
        before it is cropped or padded, so padding is at the scaled sky level, zero; then the
        configured transforms run on the stacked array.
        """
        height, width = self.shape
        scale = SCALINGS[self.scaling]
        out = np.empty((len(self._paths), height, width), dtype=np.float32)
        for channel, paths in enumerate(self._paths):
            try:
                image = read_image(paths[index])
                image = image.reshape(_plane_shape(image.shape))
            except ImageReadError as error:
                raise DataError(
                    f"Cannot read {paths[index]}, the {self.filters[channel]} image of object "
                    f"'{self._object_ids[index]}': {error}."
                ) from None
            if image.shape == (height, width) and scale is None:
                out[channel] = image
                fill_nonfinite(out[channel], self._nan_mode, self._nan_quantile)
            else:
                image = image.astype(np.float32)
                fill_nonfinite(image, self._nan_mode, self._nan_quantile)
                image = scale(image) if scale else image
                out[channel] = image if image.shape == (height, width) else crop_or_pad(image, height, width)
        return self.apply_transforms(out)

    def metadata_fields(self) -> list[str]:
        """Names of the catalog's one-dimensional columns."""
        return list(self._metadata)

    def metadata_table(self) -> dict[str, np.ndarray]:
        """Catalog columns of the objects in the dataset, read once when it was built."""
        return self._metadata


def _plane_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2 or any(size != 1 for size in shape[:-2]):
        raise ImageReadError(f"it holds an image of shape {shape}; one 2-D image per file is expected")
    return int(shape[-2]), int(shape[-1])
