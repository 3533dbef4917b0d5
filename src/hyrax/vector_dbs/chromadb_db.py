"""ChromaDB backend: the default, embedded on disk or connected to a running Chroma server."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import numpy as np

from hyrax.config.redact import redact_text
from hyrax.vector_dbs._file_lock import hold_writer_lock
from hyrax.vector_dbs.base import (
    Records,
    SearchResult,
    UnknownIdError,
    VectorDB,
    VectorDBError,
    import_optional,
)

# Collection-level metadata keys holding the settings the base class checks on reopen.
_SETTING_KEYS = {"dim": "hyrax_dim", "metric": "hyrax_metric", "metadata_fields": "hyrax_metadata_fields"}


class ChromaDB(VectorDB):
    """Vectors in a ChromaDB collection (HNSW index), stored in a folder or on a Chroma server.

    Embeddings are always passed explicitly: the collection has no embedding function, so Chroma never
    downloads a text model. Anonymous telemetry is turned off.

    Parameters
    ----------
    path, server_url, collection, dim, metric
        See :class:`hyrax.vector_dbs.base.VectorDB`. ``server_url`` is ``http[s]://host[:port]`` of a
        server started with ``chroma run --path DIR --host 127.0.0.1 --port 8000``.
    hnsw : mapping, optional
        HNSW settings of a new collection, e.g. ``{"ef_search": 200, "max_neighbors": 32}``; larger
        values give better recall and slower inserts (see Chroma's collection configuration).
    """

    registry_name = "chromadb"
    supports_server = True

    def __init__(self, path: Any = None, *, hnsw: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(path, **kwargs)
        self.hnsw = dict(hnsw or {})
        self._client: Any = None
        self._collection: Any = None
        self._writer_lock: IO | None = None

    def _make_client(self) -> Any:
        # A verb turns Chroma's telemetry off for the process (hyrax.process); this client's too, for
        # a database opened outside a verb.
        chromadb = import_optional("chromadb")
        if self.server_url is None:
            os.makedirs(self.path, exist_ok=True)
            settings = chromadb.config.Settings(anonymized_telemetry=False)
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        url = urlsplit(self.server_url if "://" in self.server_url else f"http://{self.server_url}")
        shown = redact_text(self.server_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise VectorDBError(
                f"vector_db.server_url '{shown}' is not an http(s) URL; write it like "
                "'http://127.0.0.1:8000'."
            )
        auth = {}
        if url.username is not None:
            # http://user:password@host is sent as HTTP Basic credentials, Chroma's basic auth.
            auth = {
                "chroma_client_auth_provider": "chromadb.auth.basic_authn.BasicAuthClientProvider",
                "chroma_client_auth_credentials": f"{unquote(url.username)}:{unquote(url.password or '')}",
            }
        settings = chromadb.config.Settings(anonymized_telemetry=False, **auth)
        port = url.port or (443 if url.scheme == "https" else 8000)
        try:
            client = chromadb.HttpClient(
                host=url.hostname, port=port, ssl=url.scheme == "https", settings=settings
            )
            client.heartbeat()
        except Exception as error:
            raise VectorDBError(
                f"Cannot reach a Chroma server at {shown} ({type(error).__name__}: "
                f"{redact_text(str(error))}). "
                "Start one with `chroma run --path DIR --host HOST --port PORT`, or unset "
                "vector_db.server_url to use an embedded database folder."
            ) from error
        return client

    def _open(self) -> dict[str, Any] | None:
        self._client = self._make_client()
        configuration = {"hnsw": {"space": self.metric or "l2", **self.hnsw}}
        self._collection = self._client.get_or_create_collection(
            self.collection, embedding_function=None, configuration=configuration
        )
        stored = self._collection.metadata or {}
        if _SETTING_KEYS["metric"] not in stored:
            return None
        settings = {key: stored.get(name) for key, name in _SETTING_KEYS.items()}
        if settings["metadata_fields"] is not None:
            settings["metadata_fields"] = json.loads(settings["metadata_fields"])
        return settings

    def _save_settings(self, settings: dict[str, Any]) -> None:
        self._start_writing()
        fields = settings["metadata_fields"]
        values = {**settings, "metadata_fields": None if fields is None else json.dumps(fields)}
        # Chroma metadata values cannot be None, so unknown settings are left out.
        metadata = {_SETTING_KEYS[key]: value for key, value in values.items() if value is not None}
        self._collection.modify(metadata=metadata)

    def _close(self) -> None:
        client, self._client, self._collection = self._client, None, None
        if client is not None and hasattr(client, "close"):
            client.close()
        lock, self._writer_lock = self._writer_lock, None
        if lock is not None:
            lock.close()

    def _start_writing(self) -> None:
        """Hold the folder's writer lock until close(): two embedded writers lose index entries."""
        if self._writer_lock is None and self.server_url is None:
            self._writer_lock = hold_writer_lock(Path(self.path) / "write.lock", self.where)

    @property
    def max_batch_size(self) -> int:
        """Chroma's own limit on records per call (a few thousand), read from the client."""
        self.connect()
        return int(self._client.get_max_batch_size())

    def _count(self) -> int:
        return int(self._collection.count())

    def _upsert(self, ids: list[str], vectors: np.ndarray, metadata: dict[str, np.ndarray]) -> None:
        self._start_writing()
        records = None
        if metadata:
            # tolist() turns numpy scalars into the Python int/float/bool/str that Chroma accepts.
            fields = {name: column.tolist() for name, column in metadata.items()}
            records = [
                dict(zip(fields, values, strict=True)) for values in zip(*fields.values(), strict=True)
            ]
        self._collection.upsert(ids=ids, embeddings=vectors, metadatas=records)

    def _search(self, vectors: np.ndarray, k: int) -> SearchResult:
        ids, distances = [], []
        step = self.max_batch_size
        for start in range(0, len(vectors), step):
            found = self._collection.query(
                query_embeddings=vectors[start : start + step], n_results=k, include=["distances"]
            )
            ids.extend(found["ids"])
            distances.extend(found["distances"])
        return SearchResult(np.array(ids, dtype=str), np.array(distances, dtype=np.float32))

    def _get(self, ids: list[str], include_metadata: bool) -> Records:
        include = ["embeddings", "metadatas"] if include_metadata and self.metadata_fields else ["embeddings"]
        rows: dict[str, tuple[Any, Any]] = {}
        step = self.max_batch_size
        for start in range(0, len(ids), step):
            found = self._collection.get(ids=ids[start : start + step], include=include)
            metadatas = found.get("metadatas") or [None] * len(found["ids"])
            rows.update(zip(found["ids"], zip(found["embeddings"], metadatas, strict=True), strict=True))
        missing = [i for i in ids if i not in rows]
        if missing:
            raise UnknownIdError(missing, self.where)
        vectors = np.array([rows[i][0] for i in ids], dtype=np.float32).reshape(len(ids), -1)
        metadata = {}
        if "metadatas" in include:
            metadata = {f: np.array([rows[i][1][f] for i in ids]) for f in self.metadata_fields or []}
        return Records(vectors, metadata)
