"""The outliers verb and its methods, on inference results written directly and on a small real chain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hyrax import Hyrax
from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.inference.results_format import write_dataset_config
from hyrax.inference.results_writer import ResultsWriter
from hyrax.outliers import knn
from hyrax.outliers.base import OutlierError, ScoringJob
from hyrax.results import create_results_dir, list_results_dirs, mark_complete


def _infer_run(h: Hyrax, vectors: np.ndarray) -> InferenceDataSet:
    directory = create_results_dir(h.config["general"]["results_dir"], "infer")
    ids = [f"obj_{i:05d}" for i in range(len(vectors))]
    with ResultsWriter(directory) as writer:
        if len(vectors):
            writer.write(ids, vectors, indices=np.arange(len(vectors)))
    write_dataset_config(directory, h.config)
    mark_complete(directory)
    return InferenceDataSet.from_directory(directory, h.config)


@pytest.fixture
def h(work_dir):
    h = Hyrax()
    h.set_config("data_set.name", "HyraxRandomDataset")
    h.set_config("data_set.HyraxRandomDataset.size", 300)
    h.set_config("data_set.HyraxRandomDataset.shape", [1, 8, 8])
    return h


def _clustered(n: int, odd: int, seed: int = 1) -> np.ndarray:
    """``n`` points in a tight blob, the last ``odd`` of them far away in random directions."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(scale=0.1, size=(n, 8)).astype(np.float32)
    vectors[n - odd :] += rng.normal(scale=3.0, size=(odd, 8)).astype(np.float32)
    return vectors


@pytest.mark.parametrize("with_faiss", [True, False])
def test_exact_neighbours_match_a_full_distance_matrix(h, monkeypatch, with_faiss):
    if with_faiss:
        pytest.importorskip("faiss")
    else:
        monkeypatch.setattr(knn, "_faiss_block_knn", lambda: None)
    vectors = _clustered(300, 5)
    vectors[10] = vectors[11]  # an exact duplicate: its nearest other object is at distance 0
    source = _infer_run(h, vectors)
    # Small blocks, so the merging across blocks is exercised.
    monkeypatch.setattr(knn, "_QUERY_BLOCK", 64)
    monkeypatch.setattr(knn, "_BASE_BLOCK", 70)
    got = knn.exact_neighbour_distances(ScoringJob(source, h.config), 4)
    full = ((vectors[:, None, :].astype(np.float64) - vectors[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(full, np.inf)
    expected = np.sort(full, axis=1)[:, :4]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert got[10, 0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("method", ["knn", "isolation_forest", "lof"])
def test_each_latent_method_ranks_the_far_points_first(h, method):
    _infer_run(h, _clustered(300, 6))
    h.set_config("outliers.method", method)
    table = h.outliers(top=0)
    assert list(table["rank"]) == list(range(1, 301))
    assert table["score"].is_monotonic_decreasing
    assert set(table["object_id"][:6]) == {f"obj_{i:05d}" for i in range(294, 300)}
    (run,) = list_results_dirs(h.config["general"]["results_dir"], "outliers")
    written = pd.read_parquet(run / "outliers.parquet")
    pd.testing.assert_frame_equal(written, table)


def test_knn_through_a_saved_faiss_database_agrees_with_exact_search(h):
    pytest.importorskip("faiss")
    _infer_run(h, _clustered(300, 6))
    h.set_config("outliers.knn_search", "exact")
    exact = h.outliers(top=0).set_index("object_id")
    h.set_config("vector_db.name", "faiss")
    h.save_to_database()
    h.set_config("outliers.knn_search", "database")
    through_db = h.outliers(top=0).set_index("object_id")
    np.testing.assert_allclose(
        through_db.loc[exact.index, "kth_distance"], exact["kth_distance"], rtol=1e-3, atol=1e-6
    )


def test_the_cli_prints_the_top_n(h, capsys):
    from hyrax_cli.main import main

    _infer_run(h, _clustered(300, 6))
    config = h.config["general"]["results_dir"]
    assert main(["outliers", "-n", "3", "--set", f"general.results_dir={config!r}".replace("'", '"')]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split()[:3] == ["object_id", "score", "rank"] and len(out) == 4


def test_k_at_least_the_collection_is_a_named_error(h):
    _infer_run(h, _clustered(20, 2))
    h.set_config("outliers.k", 20)
    with pytest.raises(OutlierError, match="holds 20 objects.*outliers.k below 20"):
        h.outliers()


def test_an_infer_run_without_vectors_is_a_named_error(h):
    _infer_run(h, np.empty((0, 8), dtype=np.float32))
    with pytest.raises(OutlierError, match="holds no vectors"):
        h.outliers()


def test_database_search_without_a_database_is_a_named_error(h):
    _infer_run(h, _clustered(30, 2))
    h.set_config("outliers.knn_search", "database")
    with pytest.raises(OutlierError, match="no complete save_to_database run"):
        h.outliers()


def _train_and_infer(h, model="HyraxAutoencoder", **keys):
    h.set_config("model.name", model)
    h.set_config("train.epochs", 1)
    h.set_config("train.progress_bar", False)
    h.set_config("train.mlflow", False)
    h.set_config("train.tensorboard", False)
    h.set_config("data_set.HyraxRandomDataset.size", 60)
    for key, value in keys.items():
        h.set_config(key, value)
    h.train()
    return h.infer()


def test_reconstruction_error_uses_the_model_that_made_the_infer_run(h):
    import torch

    source = _train_and_infer(h, **{"data_set.HyraxRandomDataset.num_classes": 0})
    h.set_config("outliers.method", "reconstruction")
    table = h.outliers(top=0).set_index("object_id")
    from hyrax.inference.trained_model import find_trained_weights, load_trained_model

    weights = find_trained_weights(
        False,
        "infer.model_weights_file",
        results_root=h.config["general"]["results_dir"],
        weights_filename=h.config["train"]["weights_filename"],
    ).weights
    origin = source.origin
    model = load_trained_model(h.config, origin, weights)
    first = origin[0]
    x = torch.as_tensor(first["data"])[None]
    with torch.no_grad():
        expected = float(((model.reconstruct(x) - x) ** 2).mean())
    assert table.loc[first["object_id"], "reconstruction_mse"] == pytest.approx(expected, rel=1e-4)


def test_reconstruction_needs_a_model_that_reconstructs(h):
    _train_and_infer(h, "HyraxCNN", **{"data_set.HyraxRandomDataset.num_classes": 3})
    h.set_config("outliers.method", "reconstruction")
    with pytest.raises(OutlierError, match="HyraxCNN has none"):
        h.outliers()


def test_lookup_and_visualize_show_the_score(h):
    _infer_run(h, _clustered(300, 6))
    table = h.outliers(top=0).set_index("object_id")
    h.set_config("vector_db.name", "chromadb")
    h.save_to_database()
    found = h.lookup(id="obj_00299", k=3)
    assert found["outlier_score"][0] == pytest.approx(table.loc["obj_00299", "score"])
    from hyrax.outliers.scores import scores_of

    scores = scores_of(h.config["general"]["results_dir"], ["obj_00001", "not_there"])
    assert scores[0] == pytest.approx(table.loc["obj_00001", "score"]) and np.isnan(scores[1])
