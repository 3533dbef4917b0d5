"""The ``lookup`` verb: the nearest neighbours of one object (or vector) in the vector database."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb, parameter_docs

logger = logging.getLogger(__name__)


def format_table(neighbours: Any) -> str:
    """Render the records :meth:`Lookup.run` returns as a plain-text table, one neighbour a line."""
    names = list(neighbours.dtype.names)
    header = ["rank", *names]
    rows = [
        [str(rank), *(f"{row[name]:.6g}" if name == "distance" else str(row[name]) for name in names)]
        for rank, row in enumerate(neighbours, start=1)
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, ["-" * width for width in widths], *rows)
    ]
    return "\n".join(lines)


@hyrax_verb("lookup")
class Lookup(Verb):
    """Find the nearest neighbours of an object in the vector database written by save_to_database."""

    add_parser_kwargs = {
        "epilog": "The database is vector_db.server_url, vector_db.vector_db_dir, or the one the newest "
        "complete save_to_database run wrote. Distances are squared Euclidean (metric l2) or "
        "1 - cosine similarity; the object itself comes first, at distance ~0."
    }

    @classmethod
    def setup_parser(cls, parser: argparse.ArgumentParser) -> None:
        """Add ``--id`` and ``-k``; a query vector can be given only from Python."""
        docs = parameter_docs(cls.run)
        parser.add_argument("--id", dest="id", type=str, default=None, required=True, help=docs["id"])
        parser.add_argument("-k", "--k", dest="k", type=int, default=None, help=docs["k"] + " (default: 10)")

    def run_cli(self, args: argparse.Namespace) -> Any:
        """Look up and print the neighbours as a table."""
        neighbours = super().run_cli(args)
        print(format_table(neighbours))
        return neighbours

    def run(self, id: str | None = None, k: int = 10, vector: Any = None) -> Any:
        """Return the ``k`` nearest neighbours of object ``id``, or of a query ``vector``.

        Parameters
        ----------
        id : str
            Object id whose neighbours to find; it must have been inserted by save_to_database.
        k : int
            Number of neighbours, the object itself included: an integer >= 1. A database holding
            fewer than ``k`` objects returns all of them, with a logged warning.
        vector : array-like, optional
            One query vector (Python only) of the database's dimension, instead of ``id``.

        Returns
        -------
        numpy.ndarray
            A structured array of at most ``k`` records, nearest first, with fields ``object_id``
            (str) and ``distance`` (float32), then the metadata fields stored with the vectors
            (``vector_db.metadata_fields``) and, when an ``outliers`` run exists, ``outlier_score``
            (NaN for objects it did not score), e.g. ``result["object_id"][1]`` is the nearest other
            object. Searching by id finds the object itself first, at distance ~0.

        Raises
        ------
        UnknownIdError
            When ``id`` is not in the database, naming it.
        VectorDBError
            When ``k`` is not an integer >= 1, or ``vector`` is not one vector of finite numbers of the
            database's dimension (the message gives both dimensions).
        """
        import numpy as np

        from hyrax.vector_dbs.base import VectorDBError
        from hyrax.vector_dbs.connect import open_vector_db

        if (id is None) == (vector is None):
            raise VectorDBError("Give lookup an object id or a query vector (exactly one).")
        with open_vector_db(
            self.config["vector_db"], results_root=self.config["general"]["results_dir"]
        ) as db:
            if db.count() == 0:
                raise VectorDBError(
                    f"The {db.where} is empty. Run `hyrax save_to_database` to fill it first."
                )
            if vector is not None:
                # search_by_vector checks the vector's dimension and values against the database.
                found = db.search_by_vector(vector, k)
                if len(found.ids) != 1:
                    raise VectorDBError(
                        f"lookup takes one query vector, got {len(found.ids)}; search many at once "
                        "with h.database_connection().search_by_vector(vectors, k)."
                    )
            else:
                found = db.search_by_id([str(id)], k)
            ids, distances = found.ids[0], found.distances[0]
            metadata = db.get_by_id(ids.tolist(), include_metadata=True).metadata if len(ids) else {}
        from hyrax.outliers.scores import SCORE_FIELD, scores_of

        scores = scores_of(self.config["general"]["results_dir"], ids.tolist())
        if scores is not None:
            metadata = {**metadata, SCORE_FIELD: scores.astype(np.float64)}
        width = max([1, *(len(i) for i in ids.tolist())])
        dtype = [("object_id", f"U{width}"), ("distance", np.float32)]
        dtype += [(name, column.dtype) for name, column in metadata.items()]
        neighbours = np.empty(len(ids), dtype=dtype)
        neighbours["object_id"] = ids
        neighbours["distance"] = distances
        for name, column in metadata.items():
            neighbours[name] = column
        return neighbours
