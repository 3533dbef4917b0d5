"""A umap results directory written directly (no training, no UMAP fit), linked to a small dataset."""

from __future__ import annotations

import numpy as np
import pytest

from hyrax import Hyrax
from hyrax.inference.results_format import write_dataset_config
from hyrax.inference.results_writer import ResultsWriter
from hyrax.results import create_results_dir, mark_complete


def write_umap_run(h: Hyrax, dims: int = 2, seed: int = 0):
    """Write a complete umap run of every object of ``h``'s dataset: points in a grid, labels kept."""
    from hyrax.datasets.loading import build_dataset

    dataset = build_dataset(h.config)
    n = len(dataset)
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, dims)).astype(np.float32)
    # Object i sits at x = i, so a box selects known objects.
    points[:, 0] = np.arange(n, dtype=np.float32)
    directory = create_results_dir(h.config["general"]["results_dir"], "umap")
    ids = [str(dataset.ids()[i]) for i in range(n)]
    labels = [dataset.get_label(i) for i in range(n)]
    with ResultsWriter(directory) as writer:
        writer.write(ids, points, indices=np.arange(n), labels=None if labels[0] is None else labels)
    write_dataset_config(directory, h.config)
    mark_complete(directory)
    return directory, ids, points


@pytest.fixture
def small_hyrax(work_dir):
    """A Hyrax on 40 simulated 16-pixel galaxies whose results land in the test's folder."""
    h = Hyrax()
    h.set_config("data_set.SyntheticGalaxyDataSet.size", 40)
    h.set_config("data_set.SyntheticGalaxyDataSet.image_size", 16)
    return h


@pytest.fixture
def umap_run():
    """:func:`write_umap_run`, for tests to call with their own Hyrax."""
    return write_umap_run
