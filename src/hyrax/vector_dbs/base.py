"""``VectorDB``: the interface of every Hyrax vector database. A plug-in author reads only this file.

Conventions every backend follows
---------------------------------
- **Ids** are non-empty strings, unique in a collection. Upserting an id that is already stored
  replaces its vector and metadata, so inserting the same data twice never duplicates it.
- **Vectors** are float32 rows of one fixed dimension per collection, set by the constructor or by the
  first upsert; they must be finite.
- **Distances** are smaller for closer vectors, and an object's distance to itself is ~0:
  ``metric="l2"`` gives the *squared* Euclidean distance ``sum((a - b) ** 2)`` and
  ``metric="cosine"`` gives ``1 - cos(a, b)``.
- **Metadata** is a mapping of field name to a 1-d array with one value (number, bool or string) per
  id. The first upsert into a collection fixes its fields; every later upsert gives the same fields.
- **Results are numpy arrays.** Searches are batched and always 2-d: ``n`` query vectors and ``k``
  neighbours give ``ids`` and ``distances`` of shape ``(n, k')`` with ``k' = min(k, count())``, nearest
  first. ``k`` is an integer >= 1; a ``k`` larger than the collection is lowered to ``count()`` with a
  logged warning, as Chroma does (FAISS alone would pad the results with id -1).

Writing a backend
-----------------
Subclass :class:`VectorDB` and set ``registry_name`` (the name users write as ``vector_db.name``); the
class registers itself in :data:`hyrax.registry.VECTOR_DB_REGISTRY`. The public methods validate
their arguments, split large upserts into batches of :attr:`VectorDB.max_batch_size` and check the
collection's dimension and metadata fields, so a backend implements only these, on clean input:

``_open()``
    Open or create the collection; return its stored settings (see :meth:`VectorDB._open`).
``_save_settings(settings)``, ``_close()``, ``_count()``
    Persist the settings dict, release resources, count the vectors.
``_upsert(ids, vectors, metadata)``, ``_search(vectors, k)``, ``_get(ids, include_metadata)``
    Insert or replace one batch, find the ``k`` nearest neighbours, read stored records.

Import the backend's library inside these methods (see :func:`import_optional`), never at module
level, so that ``import hyrax`` stays light and a missing optional package fails with the pip command
that installs it. Check a new backend with ``hyrax.testing.check_vector_db(MyBackend)`` in a test.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

from hyrax.errors import HyraxError
from hyrax.registry import VECTOR_DB_REGISTRY, register_subclass
from hyrax.vector_dbs import _checks as inputs
from hyrax.vector_dbs._checks import VectorDBError

logger = logging.getLogger(__name__)

METRICS = ("l2", "cosine")


class UnknownIdError(HyraxError, KeyError):
    """Ids that are not stored in the collection; ``.ids`` lists them all.

    Parameters
    ----------
    ids : sequence of str
        The ids that were not found.
    where : str
        Describes the collection, e.g. ``"collection 'hyrax' in /data/db"``.
    """

    def __init__(self, ids: Sequence[str], where: str):
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:10])
        more = f" and {len(self.ids) - 10} more" if len(self.ids) > 10 else ""
        super().__init__(
            f"{len(self.ids)} id(s) not found in {where}: {shown}{more}. Check the ids, and that these "
            "objects were inserted (by `save_to_database`) into this collection."
        )


class MissingDependencyError(HyraxError, ImportError):
    """An optional package a backend needs is not installed."""


def import_optional(module: str, extra: str | None = None) -> Any:
    """Import ``module``, or raise :class:`MissingDependencyError` saying what to install.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"faiss"``.
    extra : str, optional
        The optional-dependency group of Hyrax that provides it, e.g. ``"faiss"``; without it the
        message names the module itself as the package to install.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        command = f"pip install 'hyrax[{extra}]'" if extra else f"pip install {module}"
        raise MissingDependencyError(
            f"This vector database needs the '{module}' package, which is not installed ({error}). "
            f"Install it with: {command}"
        ) from error


class SearchResult(NamedTuple):
    """Nearest neighbours: ``ids`` (str) and ``distances`` (float32), both ``(n_queries, k)``."""

    ids: np.ndarray
    distances: np.ndarray


class Records(NamedTuple):
    """Stored records: ``vectors`` ``(n, dim)`` float32, and ``metadata`` field → array of ``n``."""

    vectors: np.ndarray
    metadata: dict[str, np.ndarray]


class VectorDB(ABC):
    """A collection of id-keyed vectors with nearest-neighbour search; see the module docstring.

    Parameters
    ----------
    path : str or Path, optional
        Folder of an embedded database (created if missing). Give this or ``server_url``.
    server_url : str, optional
        URL of a running database server, e.g. ``"http://127.0.0.1:8000"``, for backends that have one.
    collection : str
        Name of the collection in the database.
    dim : int, optional
        Dimension of the vectors; by default taken from the stored collection or the first upsert.
    metric : {"l2", "cosine"}, optional
        Distance of a new collection: squared Euclidean (the default), or one minus the cosine
        similarity. An existing collection keeps its own; a different explicit metric is an error.

    Examples
    --------
    >>> import numpy as np
    >>> from hyrax.registry import VECTOR_DB_REGISTRY
    >>> db_class = VECTOR_DB_REGISTRY.get("chromadb")
    >>> import tempfile
    >>> with db_class(path=tempfile.mkdtemp(), dim=2) as db:
    ...     db.upsert(["a", "b"], np.array([[0, 0], [3, 4]]), {"mag": np.array([20.5, 21.0])})
    ...     db.search_by_id(["a"], k=2)
    SearchResult(ids=array([['a', 'b']], dtype='<U1'), distances=array([[ 0., 25.]], dtype=float32))
    """

    registry_name: ClassVar[str | None] = ""
    """Name to register under; "" means the class name, None means do not register."""
    supports_server: ClassVar[bool] = False
    """Whether ``server_url`` can be used instead of ``path``."""
    default_max_batch_size: ClassVar[int] = 100_000
    """Largest upsert sent to the backend in one call, unless :attr:`max_batch_size` says otherwise."""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("registry_name", "") is not None and not cls.__name__.startswith("_"):
            missing = sorted(
                name
                for name in VectorDB.__abstractmethods__
                if getattr(getattr(cls, name, None), "__isabstractmethod__", False)
            )
            if missing:
                raise TypeError(
                    f"Vector database {cls.__qualname__} must implement {', '.join(missing)}; set "
                    "registry_name = None on an abstract intermediate class."
                )
        register_subclass(cls, VECTOR_DB_REGISTRY)

    def __init__(
        self,
        path: Any = None,
        *,
        server_url: str | None = None,
        collection: str = "hyrax",
        dim: int | None = None,
        metric: str | None = None,
    ):
        name = type(self).registry_name or type(self).__name__
        if (path is None) == (server_url is None):
            raise VectorDBError(f"Give the {name} vector database a path or a server_url (exactly one).")
        if server_url is not None and not self.supports_server:
            raise VectorDBError(
                f"The {name} vector database has no server mode; unset vector_db.server_url to use "
                f"the folder vector_db.vector_db_dir, or choose a backend with a server (chromadb)."
            )
        if metric is not None and metric not in METRICS:
            raise VectorDBError(f"Unknown metric '{metric}'; choose one of {', '.join(METRICS)}.")
        if dim is not None and (int(dim) != dim or dim < 1):
            raise VectorDBError(f"The vector dimension must be a positive integer, got {dim!r}.")
        self.path = path
        self.server_url = server_url
        self.collection = collection
        self.dim: int | None = None if dim is None else int(dim)
        self.metric: str | None = metric
        self.metadata_fields: list[str] | None = None
        self._connected = False

    # ----- the part a backend implements -----

    @abstractmethod
    def _open(self) -> dict[str, Any] | None:
        """Open or create the collection.

        Returns
        -------
        dict or None
            The settings last given to :meth:`_save_settings` (``dim``, ``metric``,
            ``metadata_fields``, each possibly None), or None for a collection that has none yet.
        """

    @abstractmethod
    def _save_settings(self, settings: dict[str, Any]) -> None:
        """Persist ``{"dim": int | None, "metric": str, "metadata_fields": list[str] | None}``."""

    @abstractmethod
    def _close(self) -> None:
        """Write what is pending and release files, clients and memory."""

    @abstractmethod
    def _count(self) -> int:
        """Number of stored vectors."""

    @abstractmethod
    def _upsert(self, ids: list[str], vectors: np.ndarray, metadata: dict[str, np.ndarray]) -> None:
        """Insert or replace one batch: unique ids, float32 ``(n, dim)``, metadata with the fixed fields."""

    @abstractmethod
    def _search(self, vectors: np.ndarray, k: int) -> SearchResult:
        """Nearest ``k`` (``1 <= k <= count()``) of each float32 query row, nearest first."""

    @abstractmethod
    def _get(self, ids: list[str], include_metadata: bool) -> Records:
        """Records of ``ids`` in the given order; raise :class:`UnknownIdError` for missing ones."""

    # ----- the public interface -----

    @property
    def max_batch_size(self) -> int:
        """Largest number of records the backend accepts in one call; upsert splits larger input."""
        return self.default_max_batch_size

    @property
    def where(self) -> str:
        """Human-readable description of the collection, for messages."""
        return f"collection '{self.collection}' at {self.server_url or self.path}"

    def connect(self) -> VectorDB:
        """Open the collection, creating it if needed; other methods call this themselves.

        Raises
        ------
        VectorDBError
            When the stored collection has another dimension or metric than the one requested.
        """
        if self._connected:
            return self
        stored = self._open() or {}
        self._connected = True
        kept_dim, kept_metric = stored.get("dim"), stored.get("metric")
        if kept_dim is not None and self.dim is not None and kept_dim != self.dim:
            self.close()
            raise VectorDBError(
                f"The {self.where} holds vectors of dimension {kept_dim}, not {self.dim}. Use a new "
                "collection or folder for the vectors of a different model."
            )
        if kept_metric is not None and self.metric is not None and kept_metric != self.metric:
            self.close()
            raise VectorDBError(
                f"The {self.where} uses the '{kept_metric}' metric, not '{self.metric}'. Open it with "
                f"metric='{kept_metric}' (or metric=None), or use a new collection."
            )
        self.dim = kept_dim or self.dim
        self.metric = kept_metric or self.metric or "l2"
        self.metadata_fields = stored.get("metadata_fields")
        if not stored:
            self._save_settings(self._settings())
        return self

    def close(self) -> None:
        """Write pending changes and release resources; the object can be connected again."""
        if self._connected:
            self._connected = False
            self._close()

    def __enter__(self) -> VectorDB:
        return self.connect()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where}, dim={self.dim}, metric={self.metric!r})"

    def count(self) -> int:
        """Number of vectors in the collection."""
        return self.connect()._count()

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadata: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Insert vectors, replacing those whose id is already stored.

        Parameters
        ----------
        ids : sequence of str
            One unique, non-empty id per vector.
        vectors : array-like, shape (n, dim)
            The vectors, converted to float32.
        metadata : mapping of str to array-like, optional
            Field name → one value per vector. The first upsert fixes the collection's fields.

        Raises
        ------
        VectorDBError
            Naming the problem: mismatched lengths, duplicate or empty ids, wrong dimension,
            non-finite values, or metadata fields different from the collection's.
        """
        self.connect()
        ids = [str(i) for i in ids]
        vectors = inputs.as_matrix(vectors, "vectors", self.dim, self.where)
        inputs.check_upsert(ids, vectors)
        if not ids:
            return
        columns = inputs.check_metadata(metadata, len(ids), self.metadata_fields, self.where)
        changed = self.dim is None or self.metadata_fields is None
        self.dim = self.dim or vectors.shape[1]
        self.metadata_fields = sorted(columns) if self.metadata_fields is None else self.metadata_fields
        if changed:
            self._save_settings(self._settings())
        step = max(1, int(self.max_batch_size))
        for start in range(0, len(ids), step):
            stop = start + step
            self._upsert(ids[start:stop], vectors[start:stop], {k: v[start:stop] for k, v in columns.items()})

    def search_by_vector(self, vectors: np.ndarray, k: int = 10) -> SearchResult:
        """Find the ``k`` nearest stored vectors of each query vector.

        Parameters
        ----------
        vectors : array-like, shape (n, dim) or (dim,)
            Query vectors of the collection's dimension; one vector is treated as a batch of one.
        k : int
            Number of neighbours, an integer >= 1. When the collection holds fewer than ``k`` vectors,
            all of them are returned and a warning is logged.

        Returns
        -------
        SearchResult
            ``(ids, distances)``, each of shape ``(n, min(k, count()))``, nearest first.

        Raises
        ------
        VectorDBError
            When ``k`` is not an integer >= 1, or the vectors are not finite numbers of the
            collection's dimension; the message gives the expected and the given dimension.
        """
        self.connect()
        inputs.check_k(k)
        queries = inputs.as_matrix(vectors, "query vectors", self.dim, self.where)
        inputs.check_finite_queries(queries)
        count = self._count()
        if k > count and len(queries):
            logger.warning(
                "Asked for k=%d neighbours, but the %s holds %d vectors; returning %d per query.",
                k,
                self.where,
                count,
                count,
            )
        k = min(int(k), count)
        if k == 0 or len(queries) == 0:
            return SearchResult(
                np.empty((len(queries), 0), dtype=str), np.empty((len(queries), 0), np.float32)
            )
        return self._search(queries, k)

    def search_by_id(self, ids: Sequence[str], k: int = 10) -> SearchResult:
        """Find the ``k`` nearest neighbours of stored objects; each is normally its own first, at ~0.

        Raises
        ------
        UnknownIdError
            Naming the ids that are not stored.
        """
        return self.search_by_vector(self.get_by_id(ids, include_metadata=False).vectors, k)

    def get_by_id(self, ids: Sequence[str], include_metadata: bool = True) -> Records:
        """Return the stored vectors (and metadata) of ``ids``, in the order given.

        Raises
        ------
        UnknownIdError
            Naming the ids that are not stored.
        """
        self.connect()
        ids = [str(i) for i in ids]
        if not ids:
            return Records(np.empty((0, self.dim or 0), np.float32), {})
        return self._get(ids, include_metadata)

    # ----- helpers -----

    def _settings(self) -> dict[str, Any]:
        return {"dim": self.dim, "metric": self.metric, "metadata_fields": self.metadata_fields}
