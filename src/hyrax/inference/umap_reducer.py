"""UMAP on inference results: fit on a sample, transform everything in batches, stream the embedding.

umap-learn is imported only inside these functions, through :func:`import_umap`. Two speed-ups reach
past its public interface, each because ``benchmarks/umap_scale.py --speedups`` shows it pays (see
docs/performance.md), and each behind a check that falls back to umap's public path, with one debug
line, when the private name it uses is gone: :func:`import_umap` turns numba's on-disk cache on for
all of umap's and pynndescent's functions, and :func:`fit_reducer` lets small fits transform with
vectorised distances (:func:`_exact_distances_by_name`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.errors import ConfigError
from hyrax.inference.results_reader import ResultsReader
from hyrax.inference.results_writer import ResultsWriter
from hyrax.process import numba_cache_dir, set_library_environment

logger = logging.getLogger(__name__)

# umap-learn's transform runs 100 optimisation epochs on at most this many new points, 30 on more.
_UMAP_SMALL_TRANSFORM = 10000


def import_umap() -> Any:
    """Import and return the ``umap`` module with numba's on-disk cache on for all its functions.

    Functions numba cannot cache (it warns "Cannot cache compiled function") compile as before. The
    cache is in ``NUMBA_CACHE_DIR``, which a verb sets (:mod:`hyrax.process`) before umap is imported.
    """
    import umap
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("umap", "pynndescent")):
            continue
        for value in list(vars(module).values()):
            if not isinstance(value, Dispatcher):
                continue
            if not hasattr(value, "_cache") or not hasattr(value, "enable_caching"):
                logger.debug("numba's dispatchers have no _cache/enable_caching; umap's own caching only")
                return umap
            # enable_caching is what numba.njit(cache=True) calls; before the first compile it only
            # attaches the on-disk cache to the dispatcher.
            if type(value._cache).__name__ == "NullCache":
                value.enable_caching()
    return umap


def numba_cache_is_cold() -> bool:
    """True when the numba cache holds no compiled umap code yet, so the next fit compiles it."""
    folder = numba_cache_dir()
    return not folder.is_dir() or not any(folder.glob("**/umap_*.nbi"))


def warm_numba_cache() -> Path:
    """Compile umap's numba functions into the cache once, by fitting and transforming a tiny sample.

    ``.setup_dev.sh`` runs it at install time, so that the first ``hyrax umap`` loads compiled code
    instead of spending most of a minute compiling it.

    Returns
    -------
    Path
        The numba cache folder.
    """
    set_library_environment()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    reducer = fit_reducer(vectors[:200], {"n_neighbors": 15}, n_to_transform=100)
    with _uncacheable_quietly():
        reducer.transform(vectors[200:])
    return numba_cache_dir()


@contextlib.contextmanager
def _uncacheable_quietly() -> Iterator[None]:
    """Hide numba's warnings about functions it cannot cache: they compile as they always did."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cannot cache compiled function")
        yield


def sample_positions(n_rows: int, sample_size: int, seed: int) -> np.ndarray:
    """A sorted random sample of ``min(sample_size, n_rows)`` row positions, drawn with ``seed``."""
    size = min(int(sample_size), n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))


def _flat(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors.reshape(len(vectors), -1), dtype=np.float32)


def _exact_distances_by_name(reducer: Any) -> None:
    """Let a reducer fitted on fewer than 4096 points find neighbours with vectorised distances.

    For such fits umap-learn computes the exact distances from new points to the fitted ones with
    ``sklearn.metrics.pairwise_distances`` and its numba metric as a Python callable, which sklearn
    calls once per pair: about 1 ms per transformed point for a 1024-point fit, minutes for 100k
    points. Naming the euclidean metric instead gives sklearn's vectorised computation of the same
    distances, up to float32 rounding. Only this fitted object changes, and only for the plain euclidean
    metric.
    """
    if not hasattr(reducer, "_input_distance_func"):
        logger.debug("umap.UMAP has no _input_distance_func; transforming through umap's public path")
        return
    if (
        getattr(reducer, "_small_data", False)
        and not getattr(reducer, "_sparse_data", True)
        and reducer.metric in ("euclidean", "l2")
        and not getattr(reducer, "_metric_kwds", None)
    ):
        reducer._input_distance_func = "euclidean"


def fit_reducer(vectors: np.ndarray, parameters: Mapping[str, Any], n_to_transform: int) -> Any:
    """Fit ``umap.UMAP(**parameters)`` on ``vectors``, ready to transform ``n_to_transform`` points.

    umap-learn's ``transform`` runs 100 epochs on batches of up to 10,000 points and 30 on larger
    ones. Unless ``n_epochs`` is given, the reducer is set to run the epochs that one ``transform`` of
    all ``n_to_transform`` points would, so the embedding does not depend on the batch size.

    Raises
    ------
    ConfigError
        When there are too few vectors for ``n_neighbors``, or a parameter is not one UMAP takes.
    """
    umap = import_umap()
    parameters = dict(parameters)
    neighbours = int(parameters.get("n_neighbors", 15))
    if len(vectors) <= neighbours:
        raise ConfigError(
            f"UMAP is fitted on {len(vectors)} vectors, which is not more than umap.parameters.n_neighbors "
            f"= {neighbours}. Raise umap.fit_sample_size (or infer more objects), or lower n_neighbors.",
            key="umap.fit_sample_size",
        )
    try:
        reducer = umap.UMAP(**parameters)
    except TypeError as error:
        raise ConfigError(
            f"[umap.parameters] has a key umap.UMAP does not take: {error}", key="umap.parameters"
        ) from None
    with _uncacheable_quietly():
        reducer.fit(_flat(vectors))
    _exact_distances_by_name(reducer)
    if "n_epochs" not in parameters:
        epochs = 100 if n_to_transform <= _UMAP_SMALL_TRANSFORM else 30
        # transform() runs n_epochs // 3 epochs when n_epochs is set. The fit is done, so this changes
        # transform only (and any later refit of the saved reducer).
        reducer.set_params(n_epochs=3 * epochs)
    return reducer


def transform_into(
    reducer: Any, source: ResultsReader, writer: ResultsWriter, batch_size: int, progress: bool | None = None
) -> int:
    """Transform every row of ``source`` in batches and write the embedding with the rows' ids.

    Returns
    -------
    int
        The number of rows written.
    """
    from tqdm.auto import tqdm

    batch_size = max(int(batch_size), 1)
    starts = range(0, len(source), batch_size)
    disable = None if progress is None else not progress
    for start in tqdm(starts, desc="umap transform", unit="batch", disable=disable):
        rows = source.read(start, start + batch_size)
        with _uncacheable_quietly():
            embedding = reducer.transform(_flat(rows["tensor"]))
        labels = rows["label"] if "label" in rows.dtype.names else None
        writer.write(rows["id"], embedding, rows["index"], labels)
    return len(source)
