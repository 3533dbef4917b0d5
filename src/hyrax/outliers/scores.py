"""Reading back the scores of the newest ``outliers`` run, for ``lookup`` and ``visualize``."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

SCORE_FIELD = "outlier_score"
"""The name under which other verbs show an object's outlier score."""


def scores_of(results_root: str | os.PathLike, object_ids: Sequence[str]) -> np.ndarray | None:
    """The outlier score of each object in the newest outliers run under ``results_root`` (NaN where it
    has none), or None when there is no such run.

    Objects are matched by id, so any run over the same objects serves, whichever infer run it read.
    """
    from hyrax.results import list_results_dirs
    from hyrax.verbs.outliers import TABLE_NAME

    runs = list_results_dirs(results_root, "outliers")
    if not runs or not (runs[-1] / TABLE_NAME).is_file():
        return None
    import pyarrow.parquet as pq

    table = pq.read_table(runs[-1] / TABLE_NAME, columns=["object_id", "score"])
    ids = np.asarray(table.column("object_id").to_numpy(zero_copy_only=False), dtype=str)
    scores = table.column("score").to_numpy()
    order = np.argsort(ids)
    wanted = np.asarray(object_ids, dtype=str)
    at = np.clip(np.searchsorted(ids[order], wanted), 0, max(len(ids) - 1, 0))
    found = ids[order][at] == wanted if len(ids) else np.zeros(len(wanted), dtype=bool)
    return np.where(found, scores[order][at] if len(ids) else np.nan, np.nan)
