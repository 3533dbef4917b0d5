import numpy as np
import pytest

from hyrax.config import load_config
from hyrax.datasets.loading import build_dataset
from hyrax.datasets.synthetic_galaxy_dataset import SyntheticGalaxyDataSet
from hyrax.errors import ConfigError, DataError


@pytest.fixture
def config():
    config = load_config()
    config["data_set"]["SyntheticGalaxyDataSet"]["size"] = 40
    return config


def test_it_is_the_default_dataset(config):
    dataset = build_dataset(config)
    assert isinstance(dataset, SyntheticGalaxyDataSet)
    assert len(dataset) == 40


def test_items_carry_id_label_and_stretched_data(config):
    dataset = SyntheticGalaxyDataSet(config)
    item = dataset[7]
    assert item["object_id"] == "galaxy_000007" and item["index"] == 7
    assert tuple(item["data"].shape) == (3, 64, 64)
    assert 0 <= item["label"] < 5
    assert item["label"] == dataset.get_label(7)
    assert float(item["data"].abs().max()) < 2.0, "the asinh stretch keeps values near unit range"


def test_deterministic_and_seed_dependent(config):
    first = SyntheticGalaxyDataSet(config)[3]["data"]
    again = SyntheticGalaxyDataSet(config)[3]["data"]
    assert np.array_equal(first.numpy(), again.numpy())
    config["general"]["seed"] = 1
    assert not np.array_equal(first.numpy(), SyntheticGalaxyDataSet(config)[3]["data"].numpy())


def test_counts_stretch_serves_raw_counts(config):
    config["data_set"]["SyntheticGalaxyDataSet"]["stretch"] = "counts"
    assert float(SyntheticGalaxyDataSet(config)[0]["data"].max()) > 50


def test_labels_cover_the_classes(config):
    config["data_set"]["SyntheticGalaxyDataSet"]["size"] = 200
    dataset = SyntheticGalaxyDataSet(config)
    labels = [dataset.get_label(i) for i in range(200)]
    assert set(labels) == set(range(5))


def test_metadata_matches_the_labels(config):
    dataset = SyntheticGalaxyDataSet(config)
    table = dataset.metadata([0, 5, 9], ["class", "label", "magnitude"])
    assert list(table["label"]) == [dataset.get_label(i) for i in (0, 5, 9)]
    assert [dataset.class_names[label] for label in table["label"]] == list(table["class"])
    with pytest.raises(DataError, match="Did you mean `magnitude`"):
        dataset.metadata([0], ["magnitud"])


def test_bad_settings_name_the_table(config):
    config["data_set"]["SyntheticGalaxyDataSet"]["classes"] = ["elliptical", "sprial"]
    with pytest.raises(ConfigError, match="data_set.SyntheticGalaxyDataSet.*sprial"):
        SyntheticGalaxyDataSet(config)
    with pytest.raises(ConfigError, match="'data_set.SyntheticGalaxyDataSet.stretch' key must be one of"):
        config["data_set"]["SyntheticGalaxyDataSet"]["stretch"] = "sqrt"
