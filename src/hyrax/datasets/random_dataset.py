"""``HyraxRandomDataset``: reproducible random data of any size and shape, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hyrax.datasets._settings import check_number, config_or_defaults, positive_ints
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.transforms import HyraxImageDataset
from hyrax.errors import ConfigError

TABLE = "data_set.HyraxRandomDataset"


class NumberedIds(Sequence):
    """The ids ``prefix + zero-padded index``, made on demand so that huge datasets cost no memory."""

    def __init__(self, prefix: str, count: int):
        self.prefix = prefix
        self.count = count
        self.width = max(6, len(str(max(count - 1, 0))))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        # Indexing a range gives Python's handling of negative indices and slices.
        if isinstance(index, slice):
            return [self[i] for i in range(self.count)[index]]
        try:
            position = range(self.count)[index]
        except IndexError:
            raise IndexError(f"id index {index} is out of range for {self.count} objects") from None
        return f"{self.prefix}{position:0{self.width}d}"


class HyraxRandomDataset(HyraxImageDataset, HyraxDataset):
    """Uniform random float32 data in [0, 1), drawn per object from ``(seed, index)``.

    Construction costs nothing per object: any object is generated on demand, identically in any
    order and any process. Settings come from ``[data_set.HyraxRandomDataset]`` (see the
    configuration reference). The configured transforms apply before the bad pixels of
    ``nan_fraction`` and ``inf_fraction`` are injected, so those reach the model as configured.

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
        config = config_or_defaults(config)
        super().__init__(config)
        settings = config["data_set"]["HyraxRandomDataset"]
        self.size = check_number(settings["size"], f"{TABLE}.size", 0, integer=True)
        shape = settings["shape"]
        if not positive_ints(shape):
            raise ConfigError(
                f"{TABLE}.shape must be a list of positive integers such as [3, 32, 32]; got {shape!r}.",
                key=f"{TABLE}.shape",
            )
        self.shape = tuple(shape)
        if settings["seed"] is False:
            self.seed = check_number(config["general"]["seed"], "general.seed", 0, integer=True)
        else:
            self.seed = check_number(settings["seed"], f"{TABLE}.seed", 0, integer=True)
        self.num_classes = check_number(settings["num_classes"], f"{TABLE}.num_classes", 0, integer=True)
        self.nan_fraction = float(check_number(settings["nan_fraction"], f"{TABLE}.nan_fraction", 0, 1))
        self.inf_fraction = float(check_number(settings["inf_fraction"], f"{TABLE}.inf_fraction", 0, 1))
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

    def get_data(self, index: int) -> np.ndarray:
        """Return object ``index``: random values, transformed, with the configured bad pixels."""
        rng = np.random.default_rng([self.seed, 0, index])
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
