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


def test_class_weights_set_the_class_frequencies(config):
    settings = config["data_set"]["SyntheticGalaxyDataSet"]
    settings["size"], settings["class_weights"] = 5000, [1, 1, 1, 1, 0.04]
    dataset = SyntheticGalaxyDataSet(config)
    counts = np.bincount(dataset.metadata(range(5000), ["label"])["label"], minlength=5)
    # general.seed 42: blends expected at 0.04 / 4.04 of 5000 = 49.5 (binomial sigma 7.0).
    assert counts.tolist() == [1254, 1208, 1240, 1250, 48]
    assert list(dataset.metadata([0, 1, 2], ["class"])["class"]) == ["star", "star", "spiral"]


def test_empty_class_weights_are_equal_weights(config):
    equal = SyntheticGalaxyDataSet(config)
    config["data_set"]["SyntheticGalaxyDataSet"]["class_weights"] = [1, 1, 1, 1, 1]
    ones = SyntheticGalaxyDataSet(config)
    assert [equal.get_label(i) for i in range(40)] == [ones.get_label(i) for i in range(40)]
    for index in (0, 8, 39):
        assert np.array_equal(equal[index]["data"].numpy(), ones[index]["data"].numpy())


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1, 1, 1], r"\[1, 1, 1\] has 3 weights for the 5 classes.*one weight per class.*or \[\]"),
        ([1, 1, 1, 1, -0.5], r"-0.5.*must be a number >= 0.*at least one must be > 0"),
        ([0, 0, 0, 0, 0], r"\[0, 0, 0, 0, 0\].*at least one must be > 0"),
        ([1, 1, 1, 1, "many"], "'many'.*must be a number"),
    ],
)
def test_bad_class_weights_name_the_key_and_the_fix(config, weights, match):
    config["data_set"]["SyntheticGalaxyDataSet"]["class_weights"] = weights
    with pytest.raises(ConfigError, match=match) as error:
        SyntheticGalaxyDataSet(config)
    assert error.value.key == "data_set.SyntheticGalaxyDataSet.class_weights"
    assert "data_set.SyntheticGalaxyDataSet.class_weights" in str(error.value)


def test_artefacts_are_listed_in_the_metadata_and_stretched_like_the_sky(config):
    settings = config["data_set"]["SyntheticGalaxyDataSet"]
    assert "artefact" in SyntheticGalaxyDataSet(config).metadata_fields()
    assert set(SyntheticGalaxyDataSet(config).metadata(range(40), ["artefact"])["artefact"]) == {"none"}
    settings["size"], settings["artefact_fraction"] = 5000, 0.02
    dataset = SyntheticGalaxyDataSet(config)
    kinds = dataset.metadata(range(5000), ["artefact"])["artefact"]
    # general.seed 42: 100 of 5000 expected (binomial sigma 9.9), half of them trails.
    assert (int(np.sum(kinds == "trail")), int(np.sum(kinds == "cosmic_ray"))) == (44, 54)
    trail, ray = int(np.argmax(kinds == "trail")), int(np.argmax(kinds == "cosmic_ray"))
    # The full metadata (which renders the object) agrees with the quick lookup.
    full = dataset.metadata([trail, ray, 0], ["artefact", "magnitude"])
    assert list(full["artefact"]) == ["trail", "cosmic_ray", kinds[0]]
    settings["artefact_fraction"] = 0.0
    plain = SyntheticGalaxyDataSet(config)
    for index in (trail, ray):
        served = dataset[index]["data"].numpy()
        counts = dataset.renderer.render(index)[0]
        stretched = np.arcsinh(counts / dataset.softening) / 10.0
        np.testing.assert_allclose(served, stretched, rtol=1e-6, atol=1e-6)
        assert not np.array_equal(served, plain[index]["data"].numpy())
    assert np.array_equal(dataset[0]["data"].numpy(), plain[0]["data"].numpy()) == (kinds[0] == "none")


def test_artefact_fraction_outside_0_to_1_is_refused(config):
    with pytest.raises(ConfigError, match="artefact_fraction' key must be a number >= 0 and <= 1"):
        config["data_set"]["SyntheticGalaxyDataSet"]["artefact_fraction"] = 1.5
