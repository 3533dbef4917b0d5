"""The ``umap`` verb: embed inference vectors in 2-D or 3-D with UMAP fitted on a sample."""

from __future__ import annotations

import logging
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)

REDUCER_NAME = "reducer.pkl"


@hyrax_verb("umap")
class Umap(Verb):
    """Embed the vectors of an infer run in 2-D or 3-D with UMAP."""

    next_step = "`hyrax visualize` (explore the embedding) or `hyrax save_to_database` (search it)"

    add_parser_kwargs = {
        "epilog": "Keyword arguments of umap.UMAP go in [umap.parameters], e.g. "
        "`--set umap.parameters.n_components=3`."
    }

    def run(self) -> Any:
        """Fit UMAP on a sample of the vectors of ``umap.input_dir``, then embed every vector.

        ``umap.fit_sample_size`` vectors, drawn with ``general.seed``, fit ``umap.UMAP`` with the
        keyword arguments of ``[umap.parameters]``; then all vectors are transformed in batches of
        ``umap.transform_batch_size``. The embedding is written in the format of infer results (ids
        kept with their vectors, ``batch_index.npy``, ``dataset_config.toml`` of the original dataset),
        with the fitted reducer as ``reducer.pkl``.

        Returns
        -------
        InferenceDataSet
            The embedding, memory-mapped.
        """
        import pickle
        import shutil
        import time

        from hyrax.datasets.inference_dataset import InferenceDataSet
        from hyrax.inference.results_format import DATASET_CONFIG_NAME
        from hyrax.inference.results_writer import ResultsWriter
        from hyrax.inference.umap_reducer import (
            fit_reducer,
            numba_cache_is_cold,
            sample_positions,
            transform_into,
        )
        from hyrax.process import numba_cache_dir
        from hyrax.results import resolve_input_dir

        config = self.config
        settings = config["umap"]
        input_dir = resolve_input_dir(settings["input_dir"], "infer", config["general"]["results_dir"])
        source = InferenceDataSet.from_directory(input_dir, config)
        logger.info("Reducing the %d vectors of %s", len(source), input_dir)
        started = time.perf_counter()
        sample = sample_positions(len(source), settings["fit_sample_size"], int(config["general"]["seed"]))
        if numba_cache_is_cold():
            logger.info(
                "umap compiles its numba code on this first run (about a minute); later runs load it from %s",
                numba_cache_dir(),
            )
        reducer = fit_reducer(source.reader.take(sample)["tensor"], settings["parameters"], len(source))
        fitted = time.perf_counter()
        logger.info("Fitted UMAP on %d vectors in %.1f s", len(sample), fitted - started)
        with self.results_directory() as results_dir:
            with open(results_dir / REDUCER_NAME, "wb") as file:
                pickle.dump(reducer, file, protocol=pickle.HIGHEST_PROTOCOL)
            with ResultsWriter(results_dir) as writer:
                transform_into(reducer, source.reader, writer, settings["transform_batch_size"])
            if (input_dir / DATASET_CONFIG_NAME).is_file():
                shutil.copyfile(input_dir / DATASET_CONFIG_NAME, results_dir / DATASET_CONFIG_NAME)
            logger.info(
                "Embedded %d vectors in %.1f s into %s",
                len(source),
                time.perf_counter() - fitted,
                results_dir,
            )
        return InferenceDataSet.from_directory(results_dir, config)
