"""The ranking finds rare objects: satellite trails and cosmic rays added to the simulated sky.

A briefly trained autoencoder's reconstruction error must put the rare objects in the top 1% of the
ranking several times more often than chance. ``benchmarks/outlier_quality.py`` prints the same
figures for every method at a larger size; ``docs/outliers.md`` reports them.
"""

from __future__ import annotations

import numpy as np
import pytest

from hyrax import Hyrax

SIZE = 1000
# Measured with these settings: 8 of the top 10 are trails (53x chance) by the mean error, 7 are
# cosmic rays (41x) by the largest pixel error; the bounds leave room for other machines' arithmetic.
TIMES_CHANCE = 15


@pytest.fixture(scope="module")
def inferred(tmp_path_factory):
    root = tmp_path_factory.mktemp("rare_objects")
    h = Hyrax()
    settings = {
        "general.results_dir": str(root / "results"),
        "general.data_dir": str(root / "data"),
        "data_set.SyntheticGalaxyDataSet.size": SIZE,
        "data_set.SyntheticGalaxyDataSet.image_size": 32,
        "data_set.SyntheticGalaxyDataSet.artefact_fraction": 0.03,
        "train.epochs": 3,
        "train.progress_bar": False,
        "train.mlflow": False,
        "train.tensorboard": False,
    }
    for key, value in settings.items():
        h.set_config(key, value)
    h.train()
    source = h.infer()
    artefacts = source.metadata(np.arange(len(source)), ["artefact"])["artefact"]
    return h, dict(zip(source.ids()[:], artefacts, strict=True))


@pytest.mark.parametrize(("statistic", "kind"), [("mean", "trail"), ("max", "cosmic_ray")])
def test_reconstruction_error_ranks_artefacts_first(inferred, statistic, kind):
    h, kind_of = inferred
    h.set_config("outliers.method", "reconstruction")
    h.set_config("outliers.reconstruction_statistic", statistic)
    table = h.outliers(top=0)
    rare = np.array([kind_of[i] == kind for i in table["object_id"]])
    chance = rare.mean()
    assert 5 <= rare.sum() <= 40  # the simulator made a handful of them
    top = SIZE // 100
    assert rare[:top].mean() >= TIMES_CHANCE * chance, (rare[:top].mean(), chance)
    from sklearn.metrics import average_precision_score

    assert average_precision_score(rare, table["score"]) >= 10 * chance
