"""``HyraxDataset``: the base class of every Hyrax dataset. A plug-in author reads only this file.

Writing a dataset
-----------------
Subclass :class:`HyraxDataset`; the class registers itself under its class name (or under
``registry_name`` if you set that class attribute) so users can write ``name = "MyDataSet"`` in the
``[data_set]`` table. Implement:

``__init__(self, config)``
    Call ``super().__init__(config)`` first. Read your settings from ``config["data_set"]`` (shared keys)
    and ``config["data_set"]["MyDataSet"]`` (your own table, defined in your package's
    ``default_config.toml``). Do cheap work only: open catalogs, list files; never load every image.
``__len__(self)``
    Number of objects.
``get_data(self, index)``
    The data of one object as a float32 ``numpy.ndarray`` (for images ``(channels, height, width)``).
``ids(self)``
    A sequence of unique string object ids, one per index, in index order. Compute it once.

Optionally implement:

``get_label(self, index)``
    An integer class label, for datasets that have labels (the default returns None).
``metadata_fields(self)`` and ``metadata_table(self)``
    The names of per-object metadata columns, and a mapping of those names to arrays of length
    ``len(self)``. :meth:`metadata` selects rows and fields from it; override :meth:`metadata` itself
    when reading everything at once is too costly.

Do not override ``__getitem__``: it returns ``{"data": tensor, "object_id": str, "index": int}`` plus
``"label"`` when the dataset has labels, so training, inference and the vector database keep ids and
vectors paired. Image datasets also mix in :class:`hyrax.datasets.transforms.HyraxImageDataset` to get
the configured transforms applied in ``get_data``.

Check a dataset against this contract in a test with ``hyrax.testing.check_dataset(MyDataset, config)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hyrax.errors import DataError, did_you_mean
from hyrax.registry import DATA_SET_REGISTRY, register_subclass


class HyraxDataset(Dataset):
    """Base class of every Hyrax dataset; see the module docstring for what to implement.

    Parameters
    ----------
    config : ConfigDict or mapping, optional
        The whole Hyrax configuration.

    Examples
    --------
    >>> import numpy as np
    >>> from hyrax.datasets.base import HyraxDataset
    >>> class Squares(HyraxDataset):
    ...     registry_name = None  # keep this doctest class out of the registry
    ...     def __len__(self):
    ...         return 3
    ...     def get_data(self, index):
    ...         return np.full((1, 2, 2), index, dtype=np.float32)
    ...     def ids(self):
    ...         return ["a", "b", "c"]
    >>> item = Squares()[1]
    >>> item["object_id"], item["data"].shape
    ('b', torch.Size([1, 2, 2]))
    >>> Squares().index_of("c")
    2
    """

    registry_name: str | None = ""
    """Name to register under; "" means the class name, None means do not register."""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        register_subclass(cls, DATA_SET_REGISTRY)

    def __init__(self, config: Mapping | None = None):
        self.config = config
        self._id_to_index: dict[str, int] | None = None

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def get_data(self, index: int) -> np.ndarray:
        """Return the data of object ``index`` as a float32 array."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_data(index)")

    def ids(self) -> Sequence[str]:
        """Return the object ids, one unique string per index."""
        raise NotImplementedError(f"{type(self).__name__} must implement ids()")

    def get_label(self, index: int) -> int | None:
        """Return the integer label of object ``index``, or None for unlabelled data."""
        return None

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__} has {len(self)} objects; index {index} is out of range.")
        item: dict[str, Any] = {
            "data": self._data_tensor(index),
            "object_id": str(self.ids()[index]),
            "index": index,
        }
        label = self.get_label(index)
        if label is not None:
            item["label"] = int(label)
        return item

    def _data_tensor(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.get_data(index), dtype=np.float32))

    def index_of(self, object_id: str) -> int:
        """Return the index of ``object_id`` in constant time.

        Raises
        ------
        DataError
            Naming the unknown id.
        """
        if self._id_to_index is None:
            ids = self.ids()
            self._id_to_index = {str(object_id): index for index, object_id in enumerate(ids)}
            if len(self._id_to_index) != len(ids):
                raise DataError(f"{type(self).__name__} has duplicate object ids; every id must be unique.")
        try:
            return self._id_to_index[str(object_id)]
        except KeyError:
            raise DataError(
                f"Object id '{object_id}' is not in {type(self).__name__} ({len(self)} objects)."
            ) from None

    def indices_of(self, object_ids: Sequence[str]) -> np.ndarray:
        """Return the indices of many object ids as an int64 array."""
        return np.fromiter((self.index_of(i) for i in object_ids), dtype=np.int64, count=len(object_ids))

    def metadata_fields(self) -> list[str]:
        """Names of the per-object metadata columns this dataset provides."""
        return []

    def metadata_table(self) -> Mapping[str, np.ndarray]:
        """All metadata columns, each an array of length ``len(self)``."""
        return {}

    def metadata(self, indices: Sequence[int] | np.ndarray, fields: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the metadata ``fields`` of the objects at ``indices``.

        Parameters
        ----------
        indices : sequence of int
            Object indices.
        fields : sequence of str
            Column names, from :meth:`metadata_fields`.

        Returns
        -------
        dict of str to numpy.ndarray
            One array per field, in the order of ``indices``.
        """
        self.check_metadata_fields(fields)
        table = self.metadata_table()
        rows = np.asarray(indices, dtype=np.int64)
        return {field: np.asarray(table[field])[rows] for field in fields}

    def check_metadata_fields(self, fields: Sequence[str]) -> None:
        """Raise DataError naming the first of ``fields`` that :meth:`metadata_fields` lacks."""
        available = self.metadata_fields()
        for field in fields:
            if field not in available:
                raise DataError(
                    f"{type(self).__name__} has no metadata field '{field}'.{did_you_mean(field, available)} "
                    f"Available fields: {', '.join(available) or 'none'}."
                )
