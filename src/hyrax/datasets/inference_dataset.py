"""``InferenceDataSet``: the vectors an infer (or umap) run wrote, as a dataset every verb can read."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from hyrax.datasets._settings import config_or_defaults
from hyrax.datasets.base import HyraxDataset
from hyrax.errors import DataError
from hyrax.inference.results_format import DATASET_CONFIG_NAME
from hyrax.inference.results_reader import ResultsReader
from hyrax.results import resolve_input_dir

_ID_CHUNK = 65536


class ResultIds(Sequence):
    """The object ids of a results directory, read from its memory-mapped batch files on demand."""

    def __init__(self, reader: ResultsReader):
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: Any) -> Any:
        # Indexing a range resolves negative indices and slices as a list does.
        positions = range(len(self))[index]
        if isinstance(positions, int):
            return str(self.reader.row(positions)["id"])
        if positions.step == 1:
            return self.reader.read(positions.start, positions.stop)["id"].tolist()
        return self.reader.take(np.asarray(positions))["id"].tolist()

    def __iter__(self) -> Iterator[str]:
        for file in self.reader.files:
            for start in range(0, len(file), _ID_CHUNK):
                yield from file["id"][start : start + _ID_CHUNK].tolist()


class InferenceDataSet(HyraxDataset):
    """The ids and vectors of an infer or umap results directory, as a dataset.

    Items are ``{"data": vector, "object_id": str, "index": int}`` (plus ``"label"`` when the
    original dataset had labels), read from memory-mapped files, so opening a directory of any size
    costs almost nothing. :meth:`index_of` and :meth:`indices_of` find ids by binary search in the
    sorted ``batch_index.npy``. :meth:`metadata` passes through to the original dataset, rebuilt
    from the ``dataset_config.toml`` of the results the first time it is needed.

    As ``data_set.name = "InferenceDataSet"`` it feeds any verb: train a model on latent vectors,
    reduce them with umap, insert them into a vector database. ``[data_set.InferenceDataSet]``
    ``results_dir`` names the directory; false takes the most recent complete infer run.

    Parameters
    ----------
    config : ConfigDict or mapping, optional
        The whole configuration; the defaults when omitted.
    results_dir : path, optional
        The results directory, overriding ``data_set.InferenceDataSet.results_dir``.

    Raises
    ------
    ResultsNotFoundError
        When there is no such directory, or its run did not finish.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from hyrax.datasets.inference_dataset import InferenceDataSet
    >>> from hyrax.inference.results_writer import ResultsWriter
    >>> folder = tempfile.mkdtemp()
    >>> with ResultsWriter(folder) as writer:
    ...     writer.write(["obj_b", "obj_a"], np.eye(2))
    >>> vectors = InferenceDataSet.from_directory(folder)
    >>> len(vectors), vectors[1]["object_id"], vectors[1]["data"].tolist(), vectors.index_of("obj_b")
    (2, 'obj_a', [0.0, 1.0], 0)
    """

    def __init__(self, config: Mapping | None = None, results_dir: str | os.PathLike | None = None):
        config = config_or_defaults(config)
        super().__init__(config)
        if results_dir is None:
            results_dir = config["data_set"]["InferenceDataSet"]["results_dir"]
        self.results_dir = resolve_input_dir(results_dir, "infer", config["general"]["results_dir"]).resolve()
        self.reader = ResultsReader(self.results_dir)
        self._ids = ResultIds(self.reader)
        self._origin: HyraxDataset | None = None

    @classmethod
    def from_directory(
        cls, results_dir: str | os.PathLike, config: Mapping | None = None
    ) -> InferenceDataSet:
        """Open the results in ``results_dir``, with ``config`` (the defaults when omitted)."""
        return cls(config, results_dir=results_dir)

    def __getstate__(self) -> dict[str, Any]:
        # A pickled np.memmap becomes an in-memory copy of the whole file, so data-loader workers
        # started with "spawn" reopen the files instead of receiving them.
        return {**self.__dict__, "reader": None, "_ids": None, "_origin": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.reader = ResultsReader(self.results_dir)
        self._ids = ResultIds(self.reader)

    def __len__(self) -> int:
        return len(self.reader)

    def __repr__(self) -> str:
        return f"InferenceDataSet({str(self.results_dir)!r}, {len(self)} objects)"

    def get_data(self, index: int) -> np.ndarray:
        """The vector of object ``index``, copied out of the memory-mapped file."""
        return np.array(self.reader.row(index)["tensor"], dtype=np.float32)

    def ids(self) -> ResultIds:
        """The object ids in index order, read on demand."""
        return self._ids

    def get_label(self, index: int) -> int | None:
        """The label stored with object ``index``, or None when the results have no labels."""
        return int(self.reader.row(index)["label"]) if self.reader.has_labels else None

    def index_of(self, object_id: str) -> int:
        """The index of ``object_id``, by binary search of the sorted id index.

        Raises
        ------
        DataError
            Naming the unknown id.
        """
        return int(self.reader.lookup([str(object_id)])[0])

    def indices_of(self, object_ids: Sequence[str]) -> np.ndarray:
        """The indices of many ids at once, as an int64 array (one vectorised search)."""
        return self.reader.lookup(object_ids)

    def vectors(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The vectors of objects ``start`` to ``stop``, as one float32 array."""
        return np.ascontiguousarray(self.reader.read(start, len(self) if stop is None else stop)["tensor"])

    @property
    def origin(self) -> HyraxDataset:
        """The dataset the vectors were computed from, built from ``dataset_config.toml`` once.

        Raises
        ------
        DataError
            When the results directory holds no ``dataset_config.toml``.
        """
        if self._origin is None:
            path = self.results_dir / DATASET_CONFIG_NAME
            if not path.is_file():
                raise DataError(
                    f"{path} does not exist, so the dataset behind these results is unknown and its "
                    f"metadata cannot be read. Results written by `hyrax infer` and `hyrax umap` hold it."
                )
            from hyrax.config import load_config
            from hyrax.datasets.loading import build_dataset

            self._origin = build_dataset(load_config(path))
        return self._origin

    def origin_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Indices in :attr:`origin` of the objects at ``indices``, checked against their ids.

        The stored index is used when the origin's id at that index is still the object's id;
        otherwise (the dataset changed since inference) the id is looked up.
        """
        rows = self.reader.take(np.asarray(indices, dtype=np.int64).reshape(-1))
        origin = self.origin
        stored = rows["index"]
        origin_ids = origin.ids()
        size = len(origin)
        pairs = zip(stored.tolist(), rows["id"].tolist(), strict=True)
        same = all(0 <= i < size and str(origin_ids[i]) == object_id for i, object_id in pairs)
        return stored.astype(np.int64) if same else np.asarray(origin.indices_of(rows["id"].tolist()))

    def metadata_fields(self) -> list[str]:
        """The metadata fields of the original dataset; none when the results do not name it."""
        if self._origin is None and not (self.results_dir / DATASET_CONFIG_NAME).is_file():
            return []
        return self.origin.metadata_fields()

    def metadata(self, indices: Sequence[int] | np.ndarray, fields: Sequence[str]) -> dict[str, np.ndarray]:
        """The original dataset's metadata ``fields`` of the objects at ``indices`` here."""
        return self.origin.metadata(self.origin_indices(indices), fields)
