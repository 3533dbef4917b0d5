"""The ``outliers`` verb: rank the objects of an infer run from the oddest to the most ordinary."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)

TABLE_NAME = "outliers.parquet"


@hyrax_verb("outliers")
class Outliers(Verb):
    """Rank the objects of an infer run by how odd they are (outliers.method)."""

    next_step = "`hyrax visualize --set visualize.color_column=outlier_score` (see where they lie)"

    add_parser_kwargs = {
        "epilog": "Methods: knn (latent isolation), reconstruction (autoencoder error), isolation_forest, "
        "lof, or the import path of an OutlierMethod. The table is outliers.parquet in the results directory."
    }

    @classmethod
    def setup_parser(cls, parser: argparse.ArgumentParser) -> None:
        """``-n N``: how many of the oddest objects to print."""
        parser.add_argument("-n", "--top", dest="top", type=int, default=None, help="Objects to print (20).")

    def run(self, top: int = 20) -> Any:
        """Score every object of ``outliers.input_dir`` (or the newest infer run) and rank them.

        Parameters
        ----------
        top : int
            How many of the oddest objects to print (``-n`` on the command line).

        Returns
        -------
        pandas.DataFrame
            One row per object, oddest first: ``object_id``, ``score`` (higher is odder), ``rank``
            (1 for the oddest) and the method's parts (e.g. ``kth_distance``), as written to
            ``outliers.parquet`` in the new results directory.
        """
        import time

        import numpy as np
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        from hyrax.datasets.inference_dataset import InferenceDataSet
        from hyrax.files import replacing
        from hyrax.outliers.base import OutlierError, ScoringJob, check_scores
        from hyrax.registry import OUTLIER_REGISTRY, get_or_load_class
        from hyrax.results import resolve_input_dir

        config = self.config
        settings = config["outliers"]
        if int(top) < 0:
            raise OutlierError(f"-n (top) must be 0 or more; got {top}.")
        method_class = get_or_load_class({"name": settings["method"]}, OUTLIER_REGISTRY)
        input_dir = resolve_input_dir(settings["input_dir"], "infer", config["general"]["results_dir"])
        source = InferenceDataSet.from_directory(input_dir, config)
        if len(source) == 0 or source.reader.dtype is None:
            raise OutlierError(f"The infer run {input_dir} holds no vectors to score.")
        logger.info("Scoring the %d objects of %s with %s", len(source), input_dir, settings["method"])
        started = time.perf_counter()
        job = ScoringJob(source, config)
        columns = check_scores(method_class().score(job), len(source), str(settings["method"]))
        # From the highest score to the lowest; ties keep the results' order.
        order = np.argsort(-np.asarray(columns["score"], dtype=np.float64), kind="stable")
        table = pd.DataFrame({"object_id": pd.Series(job.ids, dtype=str)})
        for name, values in columns.items():
            table[name] = values
        table = table.iloc[order].reset_index(drop=True)
        table.insert(2, "rank", range(1, len(table) + 1))
        seconds = time.perf_counter() - started
        with self.results_directory() as results_dir:
            arrow = pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(
                {"hyrax.input_dir": str(input_dir), "hyrax.method": str(settings["method"])}
            )
            with replacing(results_dir / TABLE_NAME) as temporary:
                pq.write_table(arrow, temporary)
            logger.info("Ranked %d objects in %.1f s into %s", len(table), seconds, results_dir / TABLE_NAME)
        if top:
            print(table.head(int(top)).to_string(index=False))
        return table
