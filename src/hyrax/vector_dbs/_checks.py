"""Checks of what callers hand a vector database: vectors, ids, metadata and ``k``.

They live apart from :class:`~hyrax.vector_dbs.base.VectorDB` so that the base class stays what a
backend author reads; every public method of the base class runs them before a backend sees the data.
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hyrax.errors import HyraxError


class VectorDBError(HyraxError, ValueError):
    """Invalid input to a vector database, or a collection that does not match the request."""


def as_matrix(vectors: Any, what: str, dim: int | None, where: str) -> np.ndarray:
    """``vectors`` as a contiguous float32 array of shape (n, dim); one vector becomes a batch of one.

    Raises
    ------
    VectorDBError
        Naming the expected and the given shape or dimension.
    """
    dim_text = "dim" if dim is None else str(dim)
    shapes = f"a 1-d array of {dim_text} numbers or a 2-d array of shape (n, {dim_text})"
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise VectorDBError(f"The {what} must be {shapes}; they are not all numbers ({error}).") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        given = f"the single number {vectors!r}" if array.ndim == 0 else f"shape {array.shape}"
        raise VectorDBError(f"The {what} must be {shapes}, got {given}.")
    if len(array) and array.shape[1] == 0:
        raise VectorDBError(f"The {what} are empty (dimension 0); give {shapes}.")
    if len(array) and dim is not None and array.shape[1] != dim:
        raise VectorDBError(
            f"The {what} have dimension {array.shape[1]}, but the {where} holds vectors of "
            f"dimension {dim}; give {shapes}."
        )
    return np.ascontiguousarray(array)


def check_upsert(ids: Sequence[str], vectors: np.ndarray) -> None:
    """Check one id per vector, ids non-empty and unique, and every vector finite."""
    if len(vectors) != len(ids):
        raise VectorDBError(f"Got {len(ids)} ids but {len(vectors)} vectors; give one id per vector.")
    if "" in ids:
        raise VectorDBError("Ids must be non-empty strings; one of the ids is ''.")
    if len(set(ids)) != len(ids):
        repeated = sorted(i for i, times in Counter(ids).items() if times > 1)
        raise VectorDBError(f"Ids repeat within one upsert: {', '.join(repeated[:10])}. Ids must be unique.")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        shown = ", ".join(np.asarray(ids, dtype=object)[bad][:10])
        raise VectorDBError(f"{int(bad.sum())} vector(s) contain NaN or infinity, ids: {shown}.")


def check_k(k: Any) -> None:
    """Check that ``k``, the number of neighbours, is an integer >= 1 (a bool is not)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise VectorDBError(
            f"k, the number of neighbours, must be a positive integer (1 or more), got {k!r}."
        )


def check_finite_queries(queries: np.ndarray) -> None:
    """Check that no query vector holds NaN or infinity."""
    if not np.isfinite(queries).all():
        raise VectorDBError(
            f"{int((~np.isfinite(queries).all(axis=1)).sum())} of the {len(queries)} query vectors "
            "contain NaN or infinity; give finite numbers."
        )


def check_metadata(
    metadata: Mapping[str, Any] | None, n: int, fields: list[str] | None, where: str
) -> dict[str, np.ndarray]:
    """Metadata as columns of numbers, booleans or strings, one value per id, with the stored fields."""
    columns = {str(k): np.asarray(v) for k, v in (metadata or {}).items()}
    if fields is not None and sorted(columns) != fields:
        raise VectorDBError(
            f"The {where} stores the metadata fields {fields}, but this upsert gives {sorted(columns)}. "
            "Give the same fields, or use a new collection."
        )
    for field, column in columns.items():
        if column.shape != (n,):
            raise VectorDBError(
                f"Metadata field '{field}' has shape {column.shape}; it needs one value per id ({n},)."
            )
        if column.dtype.kind in "SO":
            columns[field] = column = column.astype(str)
        if column.dtype.kind not in "biufU":
            raise VectorDBError(
                f"Metadata field '{field}' has type {column.dtype}; use numbers, booleans or strings."
            )
    return columns
