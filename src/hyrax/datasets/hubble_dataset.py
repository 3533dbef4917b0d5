"""``HubbleDeepFieldDataSet``: stamps of the sources detected in the Hubble Deep Field image.

The image is the public-domain colour picture of the Hubble eXtreme Deep Field that ships with
scikit-image (``skimage.data.hubble_deep_field()``, 872x1000 pixels, RGB), so this dataset works
offline and needs no download. Sources are found once per process and setting: the sky level and
noise are estimated robustly (median and scaled median absolute deviation of the RGB mean), the image
is smoothed with a Gaussian, and connected groups of at least ``min_area`` pixels above
``detection_sigma`` noise levels become sources. Overlapping sources are not deblended.
"""

from __future__ import annotations

import functools
import logging
import time
import types
from collections.abc import Mapping

import numpy as np

from hyrax.datasets._settings import check_number
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.transforms import HyraxImageDataset

logger = logging.getLogger(__name__)

TABLE = "data_set.HubbleDeepFieldDataSet"
_SHAPE_PROPERTIES = ("area", "eccentricity", "orientation", "axis_major_length", "axis_minor_length")
CATALOG_FIELDS = ("x", "y", "flux", "flux_r", "flux_g", "flux_b", "peak", *_SHAPE_PROPERTIES)


@functools.lru_cache(maxsize=1)
def _load_image() -> np.ndarray:
    from skimage.data import hubble_deep_field

    image = np.moveaxis(hubble_deep_field(), -1, 0).astype(np.float32) / 255.0
    image.flags.writeable = False
    return image


@functools.lru_cache(maxsize=4)
def detect_sources(detection_sigma: float, smoothing_sigma: float, min_area: int) -> Mapping[str, np.ndarray]:
    """Detect the sources of the Hubble Deep Field image and measure them.

    Results are cached per setting for the life of the process; the arrays are read-only.

    Parameters
    ----------
    detection_sigma : float
        Threshold above the sky median, in robust noise standard deviations.
    smoothing_sigma : float
        Standard deviation in pixels of the Gaussian applied before thresholding; 0 for none.
    min_area : int
        Smallest number of connected pixels above the threshold that makes a source.

    Returns
    -------
    mapping of str to numpy.ndarray
        ``seconds``, the time detection took, then :data:`CATALOG_FIELDS`, one row per source,
        brightest first: ``x``, ``y`` (flux-weighted centroid, pixels),
        ``flux`` (sky-subtracted sum of the RGB mean over the source's pixels, pixel values in 0-1),
        ``flux_r``, ``flux_g``, ``flux_b``, ``peak``, ``area`` (pixels), ``eccentricity``,
        ``orientation`` (radians), ``axis_major_length`` and ``axis_minor_length`` (pixels).
    """
    from scipy import ndimage
    from skimage.measure import regionprops_table

    image = _load_image()
    start = time.perf_counter()
    sky = np.median(image.reshape(3, -1), axis=1)[:, None, None]
    bands = image - sky
    mean = bands.mean(axis=0)
    centre = np.median(mean)
    noise = 1.4826 * np.median(np.abs(mean - centre))
    smoothed = ndimage.gaussian_filter(mean, smoothing_sigma) if smoothing_sigma > 0 else mean
    labels, _ = ndimage.label(smoothed > centre + detection_sigma * noise)
    keep = np.bincount(labels.ravel()) >= min_area
    keep[0] = False
    # Number the sources that are kept 1, 2, ... in their original order, and the rest 0 (sky).
    labels = (np.cumsum(keep) * keep)[labels]
    index = np.arange(1, keep.sum() + 1)

    catalog = {
        name: np.asarray(v) for name, v in regionprops_table(labels, properties=_SHAPE_PROPERTIES).items()
    }
    catalog["flux"] = ndimage.sum_labels(mean, labels, index)
    for band, name in enumerate("rgb"):
        catalog[f"flux_{name}"] = ndimage.sum_labels(bands[band], labels, index)
    catalog["peak"] = ndimage.maximum(mean, labels, index)
    # Weighting by clipped flux keeps the centroid inside the source even where noise dips below the sky.
    centroids = ndimage.center_of_mass(np.clip(mean, 0, None), labels, index)
    catalog["y"], catalog["x"] = np.array(centroids, dtype=np.float64).reshape(-1, 2).T
    catalog["area"] = catalog["area"].astype(np.int64)
    order = np.argsort(-catalog["flux"], kind="stable")
    table = {}
    for name in CATALOG_FIELDS:
        table[name] = np.asarray(catalog[name])[order]
        table[name].flags.writeable = False
    seconds = time.perf_counter() - start
    logger.info("Detected %d sources in the Hubble Deep Field in %.2f s.", len(order), seconds)
    return types.MappingProxyType({"seconds": np.float64(seconds), **table})


class HubbleDeepFieldDataSet(HyraxImageDataset, HyraxDataset):
    """Square RGB stamps centred on the sources detected in the Hubble Deep Field.

    Settings come from ``[data_set.HubbleDeepFieldDataSet]``: ``stamp_size``, ``detection_sigma``,
    ``smoothing_sigma`` and ``min_area``. Objects are ordered brightest first with ids ``"hdf_00000"``,
    ``"hdf_00001"``, ...; ``get_data`` returns float32 ``(3, stamp_size, stamp_size)`` stamps with
    pixel values in 0-1 (zero beyond the image edge), transformed as configured. The metadata fields
    are the columns of :func:`detect_sources`. Detection runs in the constructor, once per process and
    setting; ``detection_seconds`` says how long it took.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole configuration.
    """

    def __init__(self, config: Mapping):
        super().__init__(config)
        settings = config["data_set"]["HubbleDeepFieldDataSet"]
        self.stamp_size = check_number(settings["stamp_size"], f"{TABLE}.stamp_size", 1, integer=True)
        detection = (
            float(check_number(settings["detection_sigma"], f"{TABLE}.detection_sigma", 0, above=True)),
            float(check_number(settings["smoothing_sigma"], f"{TABLE}.smoothing_sigma", 0)),
            check_number(settings["min_area"], f"{TABLE}.min_area", 1, integer=True),
        )
        catalog = dict(detect_sources(*detection))
        self.detection_seconds = float(catalog.pop("seconds"))
        self._catalog = catalog
        size = self.stamp_size
        # Padding once by the stamp size lets every stamp be a plain slice, even at the edges.
        self._padded = np.pad(_load_image(), ((0, 0), (size, size), (size, size)))
        centres = np.rint(np.column_stack([catalog["y"], catalog["x"]])).astype(np.int64)
        self._corners = centres - size // 2 + size
        self._ids = [f"hdf_{index:05d}" for index in range(len(catalog["flux"]))]
        self._configure_transforms(config)

    def __len__(self) -> int:
        return len(self._ids)

    def get_data(self, index: int) -> np.ndarray:
        """The stamp around source ``index``, float32 ``(3, stamp_size, stamp_size)``, transformed."""
        top, left = self._corners[index]
        stamp = self._padded[:, top : top + self.stamp_size, left : left + self.stamp_size].copy()
        return self.apply_transforms(stamp)

    def ids(self) -> list[str]:
        """``"hdf_00000"`` (the brightest source), ``"hdf_00001"``, ..."""
        return self._ids

    def metadata_fields(self) -> list[str]:
        """The measured columns: position, fluxes, peak, area and shape."""
        return list(self._catalog)

    def metadata_table(self) -> dict[str, np.ndarray]:
        """The source catalog, one read-only array per field."""
        return dict(self._catalog)
