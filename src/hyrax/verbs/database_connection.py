"""The ``database_connection`` verb: the vector database as a Python object, for notebooks."""

from __future__ import annotations

from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb


@hyrax_verb("database_connection")
class DatabaseConnection(Verb):
    """Open the vector database written by save_to_database, for searching from Python."""

    def run(self) -> Any:
        """Open the database that ``lookup`` searches, for use from Python.

        The database is ``vector_db.server_url``, else ``vector_db.vector_db_dir``, else the one the
        newest complete ``save_to_database`` run wrote.

        Returns
        -------
        VectorDB
            The connected database (see :class:`hyrax.vector_dbs.base.VectorDB`):
            ``search_by_id(ids, k)`` and ``search_by_vector(vectors, k)`` take one query or a batch
            and return ``SearchResult(ids, distances)`` of shape ``(n_queries, k)``, nearest first;
            ``get_by_id(ids)`` returns ``Records(vectors, metadata)``; ``count()``. Use it as a context
            manager (``with h.database_connection() as db: ...``), or call ``close()`` when done.
        """
        from hyrax.vector_dbs.connect import open_vector_db

        return open_vector_db(
            self.config["vector_db"], results_root=self.config["general"]["results_dir"]
        ).connect()
