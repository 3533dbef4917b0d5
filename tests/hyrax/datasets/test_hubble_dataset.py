import numpy as np
import pytest

from hyrax.config import load_config
from hyrax.datasets.hubble_dataset import CATALOG_FIELDS, HubbleDeepFieldDataSet, _load_image
from hyrax.errors import ConfigError
from hyrax.registry import DATA_SET_REGISTRY

HEIGHT, WIDTH = 872, 1000


def make(**settings):
    config = load_config()
    config["data_set"]["HubbleDeepFieldDataSet"].update(settings)
    return HubbleDeepFieldDataSet(config)


@pytest.fixture(scope="module")
def dataset():
    return make()


@pytest.fixture(scope="module")
def catalog(dataset):
    return dataset.metadata_table()


def test_registered():
    assert DATA_SET_REGISTRY.get("HubbleDeepFieldDataSet") is HubbleDeepFieldDataSet


def test_finds_hundreds_of_sources_brightest_first(dataset, catalog):
    assert 500 < len(dataset) < 3000
    assert np.all(np.diff(catalog["flux"]) <= 0)
    assert dataset.ids()[:2] == ["hdf_00000", "hdf_00001"]
    assert len(set(dataset.ids())) == len(dataset)


def test_catalog_columns_are_consistent(dataset, catalog):
    assert dataset.metadata_fields() == list(CATALOG_FIELDS)
    assert all(len(catalog[name]) == len(dataset) for name in CATALOG_FIELDS)
    assert catalog["area"].min() >= 10
    assert np.all(
        (catalog["x"] >= 0) & (catalog["x"] < WIDTH) & (catalog["y"] >= 0) & (catalog["y"] < HEIGHT)
    )
    assert np.all(catalog["flux"] > 0)
    np.testing.assert_allclose(
        catalog["flux"], (catalog["flux_r"] + catalog["flux_g"] + catalog["flux_b"]) / 3, rtol=1e-4
    )
    assert np.all(catalog["axis_major_length"] >= catalog["axis_minor_length"])
    assert np.all((catalog["eccentricity"] >= 0) & (catalog["eccentricity"] <= 1))


def test_catalog_is_read_only(catalog):
    with pytest.raises(ValueError, match="read-only"):
        catalog["flux"][0] = 0


def test_stamp_is_the_image_cut_around_the_centroid(dataset, catalog):
    interior = np.where((catalog["x"] > 40) & (catalog["x"] < WIDTH - 40) & (catalog["y"] > 40))[0]
    index = int(interior[3])
    item = dataset[index]
    assert item["object_id"] == f"hdf_{index:05d}"
    assert item["data"].shape == (3, 32, 32) and item["data"].dtype.is_floating_point
    top, left = round(catalog["y"][index]) - 16, round(catalog["x"][index]) - 16
    expected = _load_image()[:, top : top + 32, left : left + 32]
    np.testing.assert_array_equal(item["data"].numpy(), expected)
    assert item["data"].min() >= 0 and item["data"].max() <= 1


def test_compact_sources_sit_in_the_middle_of_their_stamps(dataset, catalog):
    compact = np.where(catalog["area"] < 60)[0][:50]
    centred = 0
    for index in compact:
        stamp = dataset.get_data(int(index)).mean(axis=0)
        centred += stamp[14:19, 14:19].max() > np.median(stamp) + 0.05
    assert centred >= 0.9 * len(compact)


def test_stamps_at_the_edge_are_zero_padded(dataset, catalog):
    index = int(np.argmin(catalog["x"]))
    assert catalog["x"][index] < 5
    stamp = dataset.get_data(index)
    assert stamp.shape == (3, 32, 32)
    assert np.all(stamp[:, :, :8] == 0) and stamp[:, :, 17:].max() > 0


def test_stamp_size_and_transforms_are_configurable(dataset):
    config = load_config()
    config["data_set"]["HubbleDeepFieldDataSet"]["stamp_size"] = 15
    config["data_set"]["transforms"] = ["log"]
    small = HubbleDeepFieldDataSet(config)
    assert len(small) == len(dataset)
    data = small.get_data(7)
    assert data.shape == (3, 15, 15)
    np.testing.assert_allclose(data, np.log1p(dataset.get_data(7)[:, 9:24, 9:24]), rtol=1e-6)


def test_min_area_keeps_exactly_the_larger_sources(catalog):
    strict = make(min_area=40)
    assert len(strict) == int((catalog["area"] >= 40).sum())
    assert strict.metadata_table()["area"].min() >= 40


def test_detection_runs_once_per_setting(dataset):
    again = make()
    assert again.detection_seconds == dataset.detection_seconds > 0
    assert again.metadata_table()["flux"] is dataset.metadata_table()["flux"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("stamp_size", 0), ("detection_sigma", 0.0), ("smoothing_sigma", -1.0), ("min_area", 2.5)],
)
def test_invalid_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"data_set.HubbleDeepFieldDataSet.{key}"):
        make(**{key: value})
