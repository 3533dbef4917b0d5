"""The ``save_to_database`` verb: insert the vectors of an infer (or umap) run into a vector database."""

from __future__ import annotations

import logging
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)

DATABASE_FOLDER = "vector_db"
"""Folder of the database inside the results directory, when ``vector_db.vector_db_dir`` is false."""


@hyrax_verb("save_to_database")
class SaveToDatabase(Verb):
    """Insert the vectors of an infer (or umap) run into a vector database, for `hyrax lookup`."""

    next_step = "`hyrax lookup --id <object id>` (its nearest neighbours)"

    add_parser_kwargs = {
        "epilog": "The backend is vector_db.name (chromadb or faiss); the database goes to "
        "vector_db.vector_db_dir, vector_db.server_url, or a new folder in the results directory. "
        "Search it with `hyrax lookup --id <object id>` or h.database_connection()."
    }

    def run(self) -> Any:
        """Insert every vector of ``vector_db.input_dir`` with its object id into the vector database.

        The input is ``vector_db.input_dir`` (infer or umap results), or the most recent complete
        infer run. Vectors stream from the memory-mapped results in batches of
        ``vector_db.insert_batch_size`` (at most what the backend accepts per call), each with the
        ``vector_db.metadata_fields`` of the original dataset. The database is
        ``vector_db.server_url``, else the folder ``vector_db.vector_db_dir``, else
        ``<results directory>/vector_db``; ``vector_db.json`` in the results directory records which,
        so ``lookup`` and ``database_connection`` find it. Inserting is an upsert by object id:
        running again into the same database replaces vectors and never duplicates them, and a run
        that was interrupted can simply be run again.

        Returns
        -------
        VectorDB
            The database (closed; its methods reopen it), e.g. ``h.save_to_database().count()``.
        """
        import time

        import numpy as np
        from tqdm.auto import tqdm

        from hyrax.datasets.inference_dataset import InferenceDataSet
        from hyrax.errors import ConfigError
        from hyrax.results import resolve_input_dir
        from hyrax.vector_dbs.connect import open_vector_db, write_record

        config = self.config
        settings = config["vector_db"]
        input_dir = resolve_input_dir(settings["input_dir"], "infer", config["general"]["results_dir"])
        source = InferenceDataSet.from_directory(input_dir, config)
        fields = [str(field) for field in settings["metadata_fields"]]
        known = source.metadata_fields() if fields else []
        unknown = [field for field in fields if field not in known]
        if unknown:
            raise ConfigError(
                f"vector_db.metadata_fields names {unknown}, which the dataset behind {input_dir} "
                f"does not have. Its fields: {', '.join(known)}.",
                key="vector_db.metadata_fields",
            )
        total = len(source)
        with self.results_directory() as results_dir:
            db = open_vector_db(
                config["vector_db"], for_writing=True, default_path=results_dir / DATABASE_FOLDER
            )
            started = time.perf_counter()
            with db:
                step = max(1, min(int(settings["insert_batch_size"]), int(db.max_batch_size)))
                logger.info("Inserting %d vectors of %s into the %s", total, input_dir, db.where)
                with tqdm(total=total, desc="save_to_database", unit="vector", disable=None) as bar:
                    for start in range(0, total, step):
                        stop = min(start + step, total)
                        metadata = source.metadata(np.arange(start, stop), fields) if fields else None
                        db.upsert(source.ids()[start:stop], source.vectors(start, stop), metadata)
                        bar.update(stop - start)
                count = db.count()
            write_record(results_dir, db, input_dir=str(input_dir), count=count, inserted=total)
            logger.info(
                "Inserted %d vectors in %.1f s; the %s holds %d",
                total,
                time.perf_counter() - started,
                db.where,
                count,
            )
        return db
