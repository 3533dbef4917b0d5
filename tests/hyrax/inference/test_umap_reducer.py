"""Tests of the UMAP helpers: numba's cache folder, sampling, and the fitted reducer's settings."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np

from hyrax.inference.umap_reducer import fit_reducer, sample_positions
from hyrax.process import numba_cache_dir


def test_numba_cache_goes_to_a_per_user_folder_unless_set(tmp_path):
    code = (
        "import os; from hyrax.process import set_library_environment; set_library_environment(); "
        "import numba; print(os.environ['NUMBA_CACHE_DIR'], numba.config.CACHE_DIR)"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    expected = str(tmp_path / "xdg" / "hyrax" / "numba")
    assert numba_cache_dir() == numba_cache_dir()  # no side effects
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.split() == [expected, expected]
    chosen = str(tmp_path / "mine")
    env["NUMBA_CACHE_DIR"] = chosen
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.split() == [chosen, chosen]


def test_sample_positions_are_seeded_sorted_and_bounded():
    first = sample_positions(1000, 100, seed=3)
    assert len(first) == 100 and (np.diff(first) > 0).all()
    np.testing.assert_array_equal(first, sample_positions(1000, 100, seed=3))
    assert not np.array_equal(first, sample_positions(1000, 100, seed=4))
    np.testing.assert_array_equal(sample_positions(10, 100, seed=3), np.arange(10))


def test_vectorised_neighbour_search_gives_umaps_neighbour_graph():
    from umap.distances import euclidean

    rng = np.random.default_rng(0)
    fitted = rng.normal(size=(200, 6)).astype(np.float32)
    new = rng.normal(size=(50, 6)).astype(np.float32)
    reducer = fit_reducer(fitted, {"random_state": 1, "n_neighbors": 10}, n_to_transform=50)
    assert reducer._input_distance_func == "euclidean"
    original = copy.deepcopy(reducer)
    original._input_distance_func = euclidean
    # The graph of new points to their neighbours is what the neighbour search feeds; the embedding
    # optimised from it reacts to float32 rounding like any stochastic gradient descent.
    reducer.set_params(transform_mode="graph")
    original.set_params(transform_mode="graph")
    ours, theirs = reducer.transform(new).tocsr(), original.transform(new).tocsr()
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-4)


def test_transform_epochs_follow_the_number_of_vectors_not_the_batch_size():
    vectors = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    assert fit_reducer(vectors, {"n_neighbors": 5}, n_to_transform=5000).n_epochs == 300
    assert fit_reducer(vectors, {"n_neighbors": 5}, n_to_transform=50000).n_epochs == 90
    assert fit_reducer(vectors, {"n_neighbors": 5, "n_epochs": 50}, n_to_transform=50000).n_epochs == 50


def test_without_the_private_distance_name_the_public_path_transforms(monkeypatch, caplog):
    import logging

    import umap

    rng = np.random.default_rng(1)
    fitted, new = rng.normal(size=(120, 5)).astype(np.float32), rng.normal(size=(6, 5)).astype(np.float32)
    original_fit = umap.UMAP.fit

    def fit_without_the_name(self, *args, **kwargs):
        result = original_fit(self, *args, **kwargs)
        del self._input_distance_func  # as if a umap-learn release renamed it
        return result

    monkeypatch.setattr(umap.UMAP, "fit", fit_without_the_name)
    with caplog.at_level(logging.DEBUG, logger="hyrax.inference.umap_reducer"):
        reducer = fit_reducer(fitted, {"random_state": 1, "n_neighbors": 10}, n_to_transform=6)
    assert not hasattr(reducer, "_input_distance_func")
    assert "no _input_distance_func; transforming through umap's public path" in caplog.text
    monkeypatch.setattr(umap.UMAP, "fit", original_fit)
    reducer._input_distance_func = umap.distances.euclidean
    assert reducer.transform(new).shape == (6, 2)


def test_without_numbas_private_cache_names_umap_imports_with_its_own_caching(monkeypatch, caplog):
    import logging
    import types

    import numba

    from hyrax.inference.umap_reducer import import_umap

    @numba.njit
    def twice(x):
        return 2 * x

    assert twice(3) == 6
    del twice._cache  # as if a numba release renamed it
    fake = types.ModuleType("umap_hyrax_test_module")
    fake.twice = twice
    monkeypatch.setitem(sys.modules, "umap_hyrax_test_module", fake)
    with caplog.at_level(logging.DEBUG, logger="hyrax.inference.umap_reducer"):
        module = import_umap()
    assert module.UMAP is not None
    assert "no _cache/enable_caching; umap's own caching only" in caplog.text


def test_a_cold_numba_cache_is_recognised(tmp_path, monkeypatch):
    from hyrax.inference.umap_reducer import numba_cache_is_cold

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert numba_cache_is_cold()
    compiled = tmp_path / "umap_0123abcd" / "umap_.smooth_knn_dist-144.py311.nbi"
    compiled.parent.mkdir()
    compiled.write_bytes(b"")
    assert not numba_cache_is_cold()
