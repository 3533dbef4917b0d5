"""``HyraxRandomDataset``: reproducible random data of any size and shape, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.transforms import HyraxImageDataset
from hyrax.errors import ConfigError

TABLE = "data_set.HyraxRandomDataset"


def _check_int(settings: Mapping, key: str, minimum: int) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{TABLE}.{key} must be an integer >= {minimum}; got {value!r}.", key=f"{TABLE}.{key}"
        )
    return value


def _check_fraction(settings: Mapping, key: str) -> float:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{TABLE}.{key} must be a number from 0 to 1; got {value!r}.", key=f"{TABLE}.{key}")
    return float(value)


class NumberedIds(Sequence):
    """The ids ``prefix + zero-padded index``, made on demand so that huge datasets cost no memory."""

    def __init__(self, prefix: str, count: int):
        self.prefix = prefix
        self.count = count
        self.width = max(6, len(str(max(count - 1, 0))))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        index = int(index)
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(f"id index {index} is out of range for {self.count} objects")
        return f"{self.prefix}{index:0{self.width}d}"


class HyraxRandomDataset(HyraxImageDataset, HyraxDataset):
    """Uniform random float32 data in [0, 1), drawn per object from ``(seed, index)``.

    Construction costs nothing per object: any object is generated on demand, identically in any
    order and any process. Settings come from ``[data_set.HyraxRandomDataset]``: ``size``, ``shape``,
    ``seed`` (false uses ``general.seed``), ``num_classes`` (0 for unlabelled data),
    ``metadata_fields`` (random columns in [0, 1)), and ``nan_fraction`` / ``inf_fraction``, the
    share of each object's pixels replaced by NaN and by +/-inf. The configured transforms apply
    before the bad pixels are injected, so they reach the model as configured.

    Parameters
    ----------
    config : ConfigDict or mapping, optional
        The whole configuration; the defaults when omitted.

    Examples
    --------
    >>> from hyrax.config import load_config
    >>> from hyrax.datasets.random_dataset import HyraxRandomDataset
    >>> config = load_config()
    >>> config["data_set"]["HyraxRandomDataset"]["size"] = 5
    >>> dataset = HyraxRandomDataset(config)
    >>> len(dataset), dataset.ids()[4], dataset[4]["data"].shape
    (5, 'random_000004', torch.Size([3, 32, 32]))
    """

    def __init__(self, config: Mapping | None = None):
        if config is None:
            from hyrax.config import load_config

            config = load_config()
        super().__init__(config)
        settings = config["data_set"]["HyraxRandomDataset"]
        self.size = _check_int(settings, "size", 0)
        shape = settings["shape"]
        if (
            not isinstance(shape, Sequence)
            or not shape
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
        ):
            raise ConfigError(
                f"{TABLE}.shape must be a list of positive integers such as [3, 32, 32]; got {shape!r}.",
                key=f"{TABLE}.shape",
            )
        self.shape = tuple(shape)
        seed_key = "general.seed" if settings["seed"] is False else f"{TABLE}.seed"
        self.seed = config["general"]["seed"] if settings["seed"] is False else settings["seed"]
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"{seed_key} must be an integer >= 0; got {self.seed!r}.", key=seed_key)
        self.num_classes = _check_int(settings, "num_classes", 0)
        self.nan_fraction = _check_fraction(settings, "nan_fraction")
        self.inf_fraction = _check_fraction(settings, "inf_fraction")
        if self.nan_fraction + self.inf_fraction > 1:
            raise ConfigError(
                f"{TABLE}.nan_fraction + {TABLE}.inf_fraction = {self.nan_fraction + self.inf_fraction} "
                f"is more than every pixel; make them sum to at most 1.",
                key=f"{TABLE}.nan_fraction",
            )
        self._metadata_names = [str(name) for name in settings["metadata_fields"]]
        if self.num_classes and "label" not in self._metadata_names:
            self._metadata_names.append("label")
        self._labels: np.ndarray | None = None
        self._configure_transforms(config)

    def __len__(self) -> int:
        return self.size

    def _rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream, index])

    def get_data(self, index: int) -> np.ndarray:
        """Return object ``index``: random values, transformed, with the configured bad pixels."""
        rng = self._rng(index, 0)
        data = self.apply_transforms(rng.random(self.shape, dtype=np.float32))
        n_pixels = data.size
        n_nan = int(round(self.nan_fraction * n_pixels))
        n_inf = min(int(round(self.inf_fraction * n_pixels)), n_pixels - n_nan)
        if n_nan or n_inf:
            flat = data.reshape(-1)
            chosen = rng.choice(n_pixels, size=n_nan + n_inf, replace=False)
            flat[chosen[:n_nan]] = np.nan
            flat[chosen[n_nan:]] = np.where(rng.random(n_inf) < 0.5, -np.inf, np.inf)
        return data

    def ids(self) -> NumberedIds:
        """``"random_000000"``, ``"random_000001"``, ...; wider numbers beyond a million objects."""
        return NumberedIds("random_", self.size)

    def labels(self) -> np.ndarray | None:
        """Every object's label, uniform over ``num_classes``; None for unlabelled data."""
        if not self.num_classes:
            return None
        if self._labels is None:
            self._labels = np.random.default_rng([self.seed, 1]).integers(0, self.num_classes, self.size)
        return self._labels

    def get_label(self, index: int) -> int | None:
        """The label of object ``index``, or None when ``num_classes`` is 0."""
        labels = self.labels()
        return None if labels is None else int(labels[index])

    def metadata_fields(self) -> list[str]:
        """The configured ``metadata_fields``, plus ``label`` for labelled data."""
        return list(self._metadata_names)

    def metadata_table(self) -> dict[str, np.ndarray]:
        """Uniform random columns, one per configured field, and ``label`` for labelled data."""
        rng = np.random.default_rng([self.seed, 2])
        table = {name: rng.random(self.size) for name in self._metadata_names if name != "label"}
        if self.num_classes:
            table["label"] = self.labels()
        return table
