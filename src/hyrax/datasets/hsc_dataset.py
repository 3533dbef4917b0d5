"""``HSCDataSet``: cutouts in the folder layout the ``download`` verb writes (from any survey).

The layout and :func:`rebuild_manifest` are in :mod:`hyrax.datasets.cutout_folder`. The objects and
files are those of ``manifest.fits`` when it exists, else of a scan of the folder. Objects that lack
one of the chosen filters are left out, with one warning that counts the objects missing each filter.
Reading, cropping, NaN handling and scaling are those of
:class:`~hyrax.datasets.fits_image_dataset.FitsImageDataSet`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping

import numpy as np

# rebuild_manifest is re-exported so that hyrax.datasets.hsc_dataset.rebuild_manifest keeps working.
from hyrax.datasets.cutout_folder import (
    MANIFEST_NAME,
    cutout_folder,
    filter_sort_key,
    read_manifest,
    scan_folder,
)
from hyrax.datasets.cutout_folder import rebuild_manifest as rebuild_manifest
from hyrax.datasets.fits_image_dataset import FitsImageDataSet, ObjectFiles
from hyrax.errors import DataError, did_you_mean

logger = logging.getLogger(__name__)

_LISTED = 5


class HSCDataSet(FitsImageDataSet):
    """HSC cutouts, one FITS file per object and filter, in the layout of the module docstring.

    Parameters
    ----------
    config : ConfigDict
        The whole configuration; this class reads ``[data_set]`` and ``[data_set.HSCDataSet]``, and
        ``general.data_dir`` when ``data_set.HSCDataSet.data_dir`` is false.

    Attributes
    ----------
    folder : Path
        The cutout folder read: ``data_dir``, or the newest download's folder, or ``general.data_dir``.

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
        general = self.config["general"]
        directory = self.folder = cutout_folder(
            table["data_dir"], general["results_dir"], general["data_dir"]
        )
        if not directory.is_dir():
            raise DataError(
                f"HSCDataSet: the cutout folder {directory} does not exist. Run `hyrax download`, or set "
                f"{self._key}.data_dir (or general.data_dir) to the folder the download verb wrote."
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
        complete, lacking, left_out = [], Counter(), []
        for object_id in ids:
            missing = [name for name in filters if name not in files.get(object_id, {})]
            if missing:
                lacking.update(missing)
                left_out.append(object_id)
                self.left_out.append((object_id, f"no cutout in {', '.join(missing)}"))
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
