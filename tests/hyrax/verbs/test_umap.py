"""Tests of the umap verb, on clustered vectors written in the results format (no model needed)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from hyrax import Hyrax
from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.errors import ConfigError, ResultsNotFoundError
from hyrax.inference.results_format import DATASET_CONFIG_NAME, write_dataset_config
from hyrax.inference.results_writer import ResultsWriter
from hyrax.results import create_results_dir, is_complete, mark_complete
from hyrax.verbs.umap import REDUCER_NAME

N_OBJECTS = 300
N_CLUSTERS = 3


def umap_hyrax(root, **keys):
    h = Hyrax()
    settings = {
        "general.results_dir": str(root / "results"),
        "data_set.SyntheticGalaxyDataSet.size": N_OBJECTS,
        "umap.fit_sample_size": 120,
        "umap.transform_batch_size": 128,
        **keys,
    }
    for key, value in settings.items():
        h.set_config(key, value)
    return h


def write_clusters(h, complete=True):
    """An infer run of 300 8-d vectors in 3 tight clusters; the cluster is the label."""
    rng = np.random.default_rng(0)
    labels = np.arange(N_OBJECTS) % N_CLUSTERS
    vectors = 10 * np.eye(8)[labels] + rng.normal(scale=0.3, size=(N_OBJECTS, 8))
    directory = create_results_dir(h.config["general"]["results_dir"], "infer")
    order = rng.permutation(N_OBJECTS)
    ids = np.array([f"galaxy_{i:06d}" for i in range(N_OBJECTS)])
    with ResultsWriter(directory, file_bytes=4000) as writer:
        for start in range(0, N_OBJECTS, 50):
            chunk = order[start : start + 50]
            writer.write(ids[chunk], vectors[chunk], chunk, labels[chunk])
    write_dataset_config(directory, h.config)
    if complete:
        mark_complete(directory)
    return directory


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """One umap run shared by the module: (Hyrax, infer directory, umap results)."""
    root = tmp_path_factory.mktemp("umap")
    h = umap_hyrax(root)
    infer_dir = write_clusters(h)
    return h, infer_dir, h.umap()


def test_umap_embeds_every_vector_with_its_id(reduced):
    h, infer_dir, embedding = reduced
    source = InferenceDataSet.from_directory(infer_dir, h.config)
    assert isinstance(embedding, InferenceDataSet) and is_complete(embedding.results_dir)
    assert len(embedding) == N_OBJECTS and embedding[0]["data"].shape == (2,)
    assert list(embedding.ids()) == list(source.ids())
    rows, source_rows = embedding.reader.read(0, N_OBJECTS), source.reader.read(0, N_OBJECTS)
    np.testing.assert_array_equal(rows["index"], source_rows["index"])
    np.testing.assert_array_equal(rows["label"], source_rows["label"])


def test_umap_keeps_clusters_apart(reduced):
    _, _, embedding = reduced
    rows = embedding.reader.read(0, N_OBJECTS)
    centres = np.stack([rows["tensor"][rows["label"] == k].mean(axis=0) for k in range(N_CLUSTERS)])
    spread = max(
        np.linalg.norm(rows["tensor"][rows["label"] == k] - centres[k], axis=1).mean() for k in range(3)
    )
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread


def test_the_saved_reducer_transforms_new_vectors(reduced):
    _, _, embedding = reduced
    with open(embedding.results_dir / REDUCER_NAME, "rb") as file:
        reducer = pickle.load(file)
    assert reducer.transform(10 * np.eye(8)[:2].astype(np.float32)).shape == (2, 2)


def test_metadata_reaches_the_original_dataset(reduced):
    h, _, embedding = reduced
    assert (embedding.results_dir / DATASET_CONFIG_NAME).is_file()
    first = embedding[0]["object_id"]
    index = int(first.split("_")[1])
    assert embedding.metadata([0], ["label"])["label"][0] == embedding.origin.get_label(index)


def test_umap_parameters_pass_through(reduced, tmp_path):
    h, infer_dir, _ = reduced
    three = umap_hyrax(tmp_path, **{"umap.input_dir": str(infer_dir), "umap.parameters.n_components": 3})
    assert three.umap()[0]["data"].shape == (3,)
    with pytest.raises(ConfigError, match="umap.UMAP does not take"):
        umap_hyrax(tmp_path, **{"umap.input_dir": str(infer_dir), "umap.parameters.n_componnets": 3}).umap()
    with pytest.raises(ConfigError, match="not more than umap.parameters.n_neighbors"):
        umap_hyrax(tmp_path, **{"umap.input_dir": str(infer_dir), "umap.fit_sample_size": 10}).umap()


def test_umap_ignores_unfinished_infer_runs(tmp_path):
    h = umap_hyrax(tmp_path)
    unfinished = write_clusters(h, complete=False)
    with pytest.raises(ResultsNotFoundError, match="1 infer run"):
        h.umap()
    h.set_config("umap.input_dir", str(unfinished))
    with pytest.raises(ResultsNotFoundError, match="did not finish"):
        h.umap()
