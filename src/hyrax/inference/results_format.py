"""The results format of the infer and umap verbs: ids and vectors in batch files, and an id index.

A results directory holds

``batch_<N>.npy``
    NumPy structured arrays, numbered from 0, whose rows are in the order they were written:

    ========== ===================== ==========================================================
    ``id``     fixed-width unicode   the object id
    ``index``  int64                 the object's index in the dataset the vectors came from
    ``label``  int64                 the object's label, only when that dataset has labels
    ``tensor`` float32, any shape    the object's vector (or image)
    ========== ===================== ==========================================================

    Each row carries its own id, so ids and vectors cannot be paired wrongly. A file holds about
    :data:`FILE_BYTES` of rows: the writer keeps at most one file's rows in memory.
``batch_index.npy``
    One row per object with the fields ``id``, ``batch`` and ``row``, sorted by id, so a batch of
    ids is found with one vectorised binary search (``np.searchsorted``) over the memory-mapped file.
``dataset_config.toml``
    The configuration that rebuilds the dataset the ids belong to (written by the verbs), through
    which :class:`~hyrax.datasets.inference_dataset.InferenceDataSet` reaches its metadata.

:class:`~hyrax.inference.results_writer.ResultsWriter` writes the format, streaming;
:class:`~hyrax.inference.results_reader.ResultsReader` reads it, memory-mapped.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.config.redact import redacted_tables
from hyrax.files import replacing, write_text_atomically

FILE_BYTES = 4 * 2**20
"""Rows are buffered until they take about this many bytes, then written as one batch file."""
INDEX_NAME = "batch_index.npy"
DATASET_CONFIG_NAME = "dataset_config.toml"
INFER_INFO_NAME = "infer_info.json"
"""File of an infer results directory naming the weights it was computed with."""
BATCH_PATTERN = re.compile(r"^batch_(\d+)\.npy$")


def batch_file_name(number: int) -> str:
    """``batch_<number>.npy``."""
    return f"batch_{number}.npy"


def row_dtype(width: int, vector_shape: tuple[int, ...], labelled: bool) -> np.dtype:
    """The dtype of the rows of a batch file whose ids have up to ``width`` characters."""
    fields: list[tuple[Any, ...]] = [("id", f"<U{max(width, 1)}"), ("index", "<i8")]
    if labelled:
        fields.append(("label", "<i8"))
    fields.append(("tensor", "<f4", tuple(vector_shape)))
    return np.dtype(fields)


def index_dtype(width: int) -> np.dtype:
    """The dtype of ``batch_index.npy`` for ids of up to ``width`` characters."""
    return np.dtype([("id", f"<U{max(width, 1)}"), ("batch", "<i8"), ("row", "<i8")])


def save_atomically(path: Path, array: np.ndarray) -> None:
    """``np.save`` to a temporary name beside ``path``, then rename: readers never see half a file."""
    with replacing(path) as temporary, open(temporary, "wb") as file:
        np.save(file, array)


def id_width(dtype: np.dtype) -> int:
    """Characters of a unicode dtype, or of the ``id`` field of a structured one."""
    return (dtype["id"] if dtype.names else dtype).itemsize // 4


def as_id_array(ids: Any) -> np.ndarray:
    """``ids`` as a numpy unicode array."""
    array = np.asarray(ids)
    return array if array.dtype.kind == "U" else array.astype(str)


def write_dataset_config(
    directory: str | os.PathLike, config: Mapping, overrides: Mapping[str, Any] | None = None
) -> Path:
    """Write ``dataset_config.toml``: the ``[general]`` and ``[data_set]`` tables that build the dataset.

    Parameters
    ----------
    directory : path
        The results directory.
    config : ConfigDict or mapping
        The configuration the dataset was built with. Secret keys are left out.
    overrides : mapping of str to object, optional
        Dotted keys to set in the written copy, e.g. to pin a path that was chosen at run time.

    Returns
    -------
    Path
        The file written.
    """
    import tomlkit

    tables = {name: redacted_tables(config[name]) for name in ("general", "data_set")}
    for dotted, value in (overrides or {}).items():
        *names, key = dotted.split(".")
        table = tables
        for name in names:
            table = table.setdefault(name, {})
        table[key] = value
    header = "# The configuration of the dataset these results were computed from.\n"
    path = Path(directory) / DATASET_CONFIG_NAME
    try:
        text = _rendered_toml(pickle.dumps(tables))
    except (pickle.PicklingError, TypeError, AttributeError):
        text = tomlkit.dumps(tables)
    return write_text_atomically(path, header + text)


@functools.lru_cache(maxsize=4)
def _rendered_toml(pickled_tables: bytes) -> str:
    """``tomlkit.dumps`` of the pickled tables; remembered, as every infer run of a notebook writes
    the same ones and tomlkit takes milliseconds to render them."""
    import tomlkit

    return tomlkit.dumps(pickle.loads(pickled_tables))
