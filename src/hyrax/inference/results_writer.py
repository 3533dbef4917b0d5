"""``ResultsWriter``: stream ids and vectors into a results directory in the results format.

The id index is built without holding every id in memory: each batch file's ids are sorted when the
file is written (into a temporary ``.run_<N>.npy``), and :meth:`ResultsWriter.close` merges those
sorted runs block by block, so memory stays bounded however many objects there are. See
:mod:`hyrax.inference.results_format` for the files.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from hyrax.errors import DataError
from hyrax.files import replacing, write_text_atomically
from hyrax.inference.results_format import (
    FILE_BYTES,
    INDEX_NAME,
    as_id_array,
    batch_file_name,
    id_width,
    index_dtype,
    row_dtype,
    save_atomically,
)

# Rows of the sorted runs held in memory at once while merging them into the index.
_MERGE_ROWS = 2**16
# Written by a process's writer in part mode, beside its batch files and sorted runs.
PART_NAME = "part.json"


def run_path(directory: Path, number: int) -> Path:
    """The sorted run of ids of batch file ``number``."""
    return directory / f".run_{number}.npy"


def merge_parts(directory: str | os.PathLike, parts: Sequence[str | os.PathLike]) -> int:
    """Join the shares that processes wrote in part mode into one run in ``directory``.

    The batch files of ``parts[0]`` come first, then those of ``parts[1]``, and so on, renumbered
    into ``directory``; their sorted runs are merged into one ``batch_index.npy`` in bounded memory,
    as :meth:`ResultsWriter.close` does for one process. Shares split a dataset in order, so the
    result lists the objects in the order one process would have written them.

    Parameters
    ----------
    directory : path
        The run's results directory.
    parts : sequence of path
        The part folders, in rank order; each is removed once merged.

    Returns
    -------
    int
        The number of rows.

    Raises
    ------
    DataError
        When a part is missing (its process did not finish), the parts disagree on the vector shape
        or labelling, or an object id appears twice.
    """
    import shutil

    directory = Path(directory)
    described = []
    for part in map(Path, parts):
        if not (part / PART_NAME).is_file():
            raise DataError(
                f"The share in {part} has no {PART_NAME}: its process did not finish, so the run in "
                f"{directory} is incomplete. Run infer again."
            )
        described.append((part, json.loads((part / PART_NAME).read_text())))
    kinds = {(tuple(d["vector_shape"]), d["labelled"]) for _, d in described if d["rows"]}
    if len(kinds) > 1:
        raise DataError(
            f"The shares of {directory} disagree on the vector shape or labelling: {sorted(kinds)}."
        )
    runs, number = [], 0
    for part, description in described:
        for own in range(description["files"]):
            os.replace(part / batch_file_name(own), directory / batch_file_name(number))
            os.replace(run_path(part, own), run_path(directory, number))
            runs.append(run_path(directory, number))
            number += 1
    total = sum(d["rows"] for _, d in described)
    _merge_runs(runs, directory / INDEX_NAME, total, max((d["id_width"] for _, d in described), default=1))
    for part, _ in described:
        shutil.rmtree(part)
    return total


class ResultsWriter:
    """Append ids and vectors batch by batch; :meth:`close` writes the id index.

    Parameters
    ----------
    directory : path
        An existing folder to write into.
    file_bytes : int
        About how many bytes of rows each batch file holds.
    part : bool
        Write one process's share of a run: :meth:`close` leaves the sorted runs and a ``part.json``
        for :func:`merge_parts` instead of writing the index.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from hyrax.inference.results_reader import ResultsReader
    >>> from hyrax.inference.results_writer import ResultsWriter
    >>> folder = tempfile.mkdtemp()
    >>> with ResultsWriter(folder) as writer:
    ...     writer.write(["b", "a"], np.ones((2, 3)))
    ...     writer.write(["c"], np.zeros((1, 3)))
    >>> reader = ResultsReader(folder)
    >>> len(reader), reader.lookup(["a", "c"]).tolist()
    (3, [1, 2])
    """

    def __init__(self, directory: str | os.PathLike, file_bytes: int = FILE_BYTES, part: bool = False):
        self.directory = Path(directory)
        self.part = part
        self.file_bytes = int(file_bytes)
        self.n_rows = 0
        self._chunks: list[np.ndarray] = []
        self._buffered_bytes = 0
        self._n_files = 0
        self._id_width = 1
        self._vector_shape: tuple[int, ...] | None = None
        self._labelled: bool | None = None
        self._closed = False

    def write(
        self,
        ids: Sequence[str] | np.ndarray,
        vectors: Any,
        indices: Sequence[int] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Append one batch of rows.

        Parameters
        ----------
        ids : sequence of str
            The object ids, one per vector.
        vectors : array-like
            ``(n, ...)`` vectors, stored as float32.
        indices : sequence of int, optional
            Each object's index in its dataset; the running row number when omitted.
        labels : sequence of int, optional
            Each object's label. Either every batch has labels or none does.

        Raises
        ------
        ValueError
            When the lengths differ, or the vector shape or labelling changes between batches.
        """
        if self._closed:
            raise ValueError(f"ResultsWriter for {self.directory} is closed.")
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = as_id_array(ids).reshape(-1)
        count = len(ids)
        if vectors.ndim == 0 or len(vectors) != count:
            raise ValueError(f"Got {count} ids but vectors of shape {vectors.shape}; give one row per id.")
        pending = self.n_rows + sum(len(chunk) for chunk in self._chunks)
        indices = np.arange(pending, pending + count) if indices is None else np.asarray(indices)
        if len(indices) != count or (labels is not None and len(labels) != count):
            raise ValueError(f"Got {count} ids but a different number of indices or labels.")
        if self._vector_shape is None:
            self._vector_shape, self._labelled = tuple(vectors.shape[1:]), labels is not None
        if tuple(vectors.shape[1:]) != self._vector_shape or (labels is not None) != self._labelled:
            raise ValueError(
                f"Every batch written to {self.directory} must have vectors of shape {self._vector_shape} "
                f"and {'labels' if self._labelled else 'no labels'}; got shape {tuple(vectors.shape[1:])} "
                f"and {'labels' if labels is not None else 'no labels'}."
            )
        rows = np.empty(count, dtype=row_dtype(id_width(ids.dtype), self._vector_shape, self._labelled))
        rows["id"], rows["index"], rows["tensor"] = ids, indices, vectors
        if labels is not None:
            rows["label"] = labels
        self._chunks.append(rows)
        self._buffered_bytes += rows.nbytes
        if self._buffered_bytes >= self.file_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._chunks:
            return
        width = max(id_width(chunk.dtype) for chunk in self._chunks)
        dtype = row_dtype(width, self._vector_shape, self._labelled)
        rows = np.concatenate([chunk.astype(dtype, copy=False) for chunk in self._chunks])
        self._chunks, self._buffered_bytes = [], 0
        number = self._n_files
        save_atomically(self.directory / batch_file_name(number), rows)
        order = np.argsort(rows["id"], kind="stable")
        run = np.empty(len(rows), dtype=[("id", rows.dtype["id"]), ("row", "<i8")])
        run["id"], run["row"] = rows["id"][order], order
        save_atomically(run_path(self.directory, number), run)
        self._n_files += 1
        self.n_rows += len(rows)
        self._id_width = max(self._id_width, width)

    def close(self) -> int:
        """Write the buffered rows and ``batch_index.npy``; return the number of rows written.

        Raises
        ------
        DataError
            When an object id was written twice.
        """
        if self._closed:
            return self.n_rows
        self._flush()
        if self.part:
            description = {
                "rows": self.n_rows,
                "files": self._n_files,
                "id_width": self._id_width,
                "vector_shape": self._vector_shape,  # a tuple, which json writes as a list
                "labelled": self._labelled,
            }
            write_text_atomically(self.directory / PART_NAME, json.dumps(description))
        else:
            runs = [run_path(self.directory, number) for number in range(self._n_files)]
            _merge_runs(runs, self.directory / INDEX_NAME, self.n_rows, self._id_width)
        self._closed = True
        return self.n_rows

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, traceback: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            for number in range(self._n_files):
                run_path(self.directory, number).unlink(missing_ok=True)


class _RunFile:
    """Reads a sorted run front to back in blocks with plain file reads.

    Memory-mapping the runs would leave every page read resident until the merge ends, so peak
    memory would grow with the number of objects.
    """

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        version = np.lib.format.read_magic(self.file)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, _, self.dtype = read_header(self.file)
        self.left = int(shape[0])
        self.buffer = np.empty(0, dtype=self.dtype)

    def fill(self, rows: int) -> None:
        """Read until ``rows`` rows are buffered or the run is used up."""
        wanted = min(rows - len(self.buffer), self.left)
        if wanted > 0:
            fresh = np.fromfile(self.file, dtype=self.dtype, count=wanted)
            self.left -= len(fresh)
            self.buffer = np.concatenate([self.buffer, fresh])


def _merge_runs(runs: list[Path], path: Path, n_rows: int, width: int) -> None:
    """Merge the sorted runs into the sorted index at ``path``, a block of each run at a time.

    The runs are deleted afterwards, whether the merge succeeds or fails.
    """
    dtype = index_dtype(width)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n_rows,)}
    with contextlib.ExitStack() as stack:
        for run in runs:
            stack.callback(run.unlink, missing_ok=True)
        temporary = stack.enter_context(replacing(path))
        files = [_RunFile(stack.enter_context(open(run, "rb"))) for run in runs]
        block = max(256, _MERGE_ROWS // max(len(files), 1))
        out = stack.enter_context(open(temporary, "wb"))
        np.lib.format.write_array_header_1_0(out, header)
        written, previous = 0, None
        while written < n_rows:
            for run in files:
                run.fill(block)
            heads = [(number, run) for number, run in enumerate(files) if len(run.buffer)]
            # Every id up to the smallest last id of the blocks in hand is in hand: sort and write those.
            cutoff = min(run.buffer["id"][-1] for _, run in heads)
            ids, batches, rows = [], [], []
            for number, run in heads:
                take = int(np.searchsorted(run.buffer["id"], cutoff, side="right"))
                ids.append(run.buffer["id"][:take])
                batches.append(np.full(take, number, dtype=np.int64))
                rows.append(run.buffer["row"][:take])
                run.buffer = run.buffer[take:]
            merged = np.concatenate(ids)
            order = np.argsort(merged, kind="stable")
            chunk = np.empty(len(merged), dtype=dtype)
            chunk["id"] = merged[order]
            chunk["batch"] = np.concatenate(batches)[order]
            chunk["row"] = np.concatenate(rows)[order]
            _check_unique(chunk["id"], previous, path.parent)
            out.write(chunk.tobytes())
            written, previous = written + len(chunk), chunk["id"][-1]


def _check_unique(ids: np.ndarray, previous: str | None, directory: Path) -> None:
    repeated = np.flatnonzero(ids[1:] == ids[:-1])
    if len(repeated) or (previous is not None and ids[0] == previous):
        duplicate = ids[repeated[0]] if len(repeated) else previous
        raise DataError(
            f"Object id '{duplicate}' was written more than once to {directory}; the ids of a dataset "
            f"must be unique. Check the dataset's ids() for repeats."
        )
