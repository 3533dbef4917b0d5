"""``SyntheticGalaxyDataSet``: simulated galaxies, stars and blends; the offline default dataset."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from hyrax.datasets._settings import check_choice, check_number, config_or_defaults
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.random_dataset import NumberedIds
from hyrax.datasets.synthetic_sky import METADATA_FIELDS, SyntheticSkyRenderer
from hyrax.datasets.transforms import HyraxImageDataset
from hyrax.errors import ConfigError

TABLE = "data_set.SyntheticGalaxyDataSet"
STRETCHES = ("asinh", "counts")


def _class_weights(weights, classes) -> list[float] | None:
    """Check ``class_weights`` against ``classes``; None (equal weights) for an empty list."""
    key, weights, classes = f"{TABLE}.class_weights", list(weights), list(classes)
    if not weights:
        return None
    if len(weights) != len(classes):
        raise ConfigError(
            f"{key} = {weights!r} has {len(weights)} weights for the {len(classes)} classes {classes}; "
            f"give one weight per class, in the same order (e.g. {[1] * len(classes)}), or [] for equal "
            "frequencies.",
            key=key,
        )
    numbers = all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)
    if not numbers or not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(
            f"{key} = {weights!r} is not a list of relative frequencies: every weight must be a number "
            f">= 0 and at least one must be > 0 (e.g. {[1] * len(classes)}), or [] for equal frequencies.",
            key=key,
        )
    return [float(w) for w in weights]


class SyntheticGalaxyDataSet(HyraxImageDataset, HyraxDataset):
    """Multi-band stamps of Sérsic galaxies of several classes, stars and blends, drawn per object.

    Each object is rendered on demand from ``(seed, index)`` by
    :class:`~hyrax.datasets.synthetic_sky.SyntheticSkyRenderer`: Sérsic profiles convolved with a
    Moffat PSF, class-dependent colours, sky and read noise. The classes (elliptical, spiral, edge-on
    disk, star, blend) are the labels, so a latent space learned on it has structure to check. Any
    size costs nothing up front, and it needs no download.

    Settings come from ``[data_set.SyntheticGalaxyDataSet]`` (see the configuration reference).
    ``stretch = "asinh"`` serves ``arcsinh(counts / asinh_softening) / 10``, which keeps faint wings
    and bright cores within a range a network trains on. Artefacts (``artefact_fraction``) are added in
    counts, before the stretch; the configured ``data_set.transforms`` apply after it.

    Parameters
    ----------
    config : ConfigDict or mapping, optional
        The whole configuration; the defaults when omitted.

    Examples
    --------
    >>> from hyrax.config import load_config
    >>> from hyrax.datasets.synthetic_galaxy_dataset import SyntheticGalaxyDataSet
    >>> config = load_config()
    >>> config["data_set"]["SyntheticGalaxyDataSet"]["size"] = 10
    >>> dataset = SyntheticGalaxyDataSet(config)
    >>> item = dataset[3]
    >>> item["object_id"], tuple(item["data"].shape), 0 <= item["label"] < len(dataset.class_names)
    ('galaxy_000003', (3, 64, 64), True)
    """

    def __init__(self, config: Mapping | None = None):
        config = config_or_defaults(config)
        super().__init__(config)
        settings = config["data_set"]["SyntheticGalaxyDataSet"]
        self.size = check_number(settings["size"], f"{TABLE}.size", 1, integer=True)
        seed = config["general"]["seed"] if settings["seed"] is False else settings["seed"]
        self.stretch = check_choice(settings["stretch"], f"{TABLE}.stretch", STRETCHES)
        self.softening = float(
            check_number(settings["asinh_softening"], f"{TABLE}.asinh_softening", 0, above=True)
        )
        fraction = check_number(settings["artefact_fraction"], f"{TABLE}.artefact_fraction", 0, 1)
        weights = _class_weights(settings["class_weights"], settings["classes"])
        try:
            self.renderer = SyntheticSkyRenderer(
                image_size=settings["image_size"],
                bands=tuple(settings["bands"]),
                seed=seed,
                class_names=tuple(settings["classes"]),
                class_weights=weights,
                artefact_fraction=float(fraction),
            )
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{TABLE}: {error}", key=TABLE) from None
        self._configure_transforms(config)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The class names; a label is a position in this tuple."""
        return tuple(self.renderer.class_names)

    def __len__(self) -> int:
        return self.size

    def ids(self) -> Sequence[str]:
        """``"galaxy_000000"``, ``"galaxy_000001"``, ..."""
        return NumberedIds("galaxy_", self.size)

    def get_data(self, index: int) -> np.ndarray:
        """Render object ``index``, stretched and transformed."""
        image, _, _ = self.renderer.render(index)
        if self.stretch == "asinh":
            image = np.arcsinh(image / self.softening) / 10.0
        return self.apply_transforms(image)

    def get_label(self, index: int) -> int:
        """The class of object ``index``, known without rendering it."""
        return self.renderer.label(index)

    def metadata_fields(self) -> list[str]:
        """The simulation's parameters: class, magnitude, size, ellipticity, Sérsic index, ..., artefact."""
        return list(METADATA_FIELDS)

    def metadata(self, indices: Sequence[int] | np.ndarray, fields: Sequence[str]) -> dict[str, np.ndarray]:
        """The simulation parameters of the objects at ``indices``.

        ``class``, ``label`` and ``artefact`` (``"none"``, ``"trail"`` or ``"cosmic_ray"``) are known
        without drawing the objects; any other field re-draws each object to get it.
        """
        self.check_metadata_fields(fields)
        indices = [int(index) for index in np.asarray(indices).reshape(-1)]
        cheap = {
            "label": self.renderer.label,
            "class": lambda index: self.class_names[self.renderer.label(index)],
            "artefact": self.renderer.artefact,
        }
        if set(fields) <= set(cheap):
            return {field: np.asarray([cheap[field](index) for index in indices]) for field in fields}
        rows = [self.renderer.render(index)[2] for index in indices]
        return {field: np.asarray([row[field] for row in rows]) for field in fields}
