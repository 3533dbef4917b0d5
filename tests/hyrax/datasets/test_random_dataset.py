import numpy as np
import pytest

from hyrax.config import load_config
from hyrax.datasets.random_dataset import HyraxRandomDataset, NumberedIds
from hyrax.errors import ConfigError
from hyrax.registry import DATA_SET_REGISTRY


def make(**settings):
    config = load_config()
    config["data_set"]["HyraxRandomDataset"].update(settings)
    return HyraxRandomDataset(config)


def test_registered_and_built_from_the_defaults():
    assert DATA_SET_REGISTRY.get("HyraxRandomDataset") is HyraxRandomDataset
    dataset = HyraxRandomDataset()
    assert len(dataset) == 100
    item = dataset[0]
    assert item["data"].shape == (3, 32, 32)
    assert item["object_id"] == "random_000000" and item["index"] == 0


def test_size_shape_and_value_range():
    dataset = make(size=7, shape=[2, 3, 5])
    data = dataset.get_data(6)
    assert len(dataset) == 7 and data.shape == (2, 3, 5) and data.dtype == np.float32
    assert data.min() >= 0 and data.max() < 1


def test_every_object_is_reproducible_in_any_order_and_distinct():
    dataset = make(size=10)
    forward = [dataset.get_data(i) for i in range(10)]
    backward = [dataset.get_data(i) for i in reversed(range(10))][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(forward, backward, strict=True))
    assert not np.array_equal(forward[0], forward[1])
    assert np.array_equal(make(size=10).get_data(3), forward[3])


def test_seed_false_uses_general_seed_and_an_explicit_seed_overrides_it():
    config = load_config()
    config["general"]["seed"] = 5
    from_general = HyraxRandomDataset(config).get_data(0)
    config["general"]["seed"] = 6
    assert not np.array_equal(HyraxRandomDataset(config).get_data(0), from_general)
    config["data_set"]["HyraxRandomDataset"]["seed"] = 5
    assert np.array_equal(HyraxRandomDataset(config).get_data(0), from_general)


def test_ids_are_unique_and_widen_past_a_million():
    dataset = make(size=1000)
    assert len(set(dataset.ids())) == 1000
    assert dataset.ids()[-1] == "random_000999"
    assert dataset.index_of("random_000500") == 500
    assert NumberedIds("random_", 2_000_001)[2_000_000] == "random_2000000"
    assert NumberedIds("x", 5)[1:3] == ["x000001", "x000002"]
    with pytest.raises(IndexError):
        NumberedIds("x", 5)[5]


def test_an_id_index_out_of_range_says_how_many_objects_there_are():
    with pytest.raises(IndexError, match="id index 5 is out of range for 5 objects"):
        NumberedIds("x", 5)[5]
    assert NumberedIds("x", 5)[np.int64(-1)] == "x000004"


def test_a_huge_dataset_costs_nothing_up_front():
    dataset = make(size=10**9, shape=[1, 2, 2], num_classes=0)
    item = dataset[10**9 - 1]
    assert item["object_id"] == "random_999999999" and item["data"].shape == (1, 2, 2)


def test_labels_cover_the_classes_and_appear_in_items_and_metadata():
    dataset = make(size=200, num_classes=4)
    labels = np.array([dataset.get_label(i) for i in range(200)])
    assert set(labels.tolist()) == {0, 1, 2, 3}
    assert dataset[5]["label"] == labels[5]
    assert np.array_equal(dataset.metadata(np.arange(200), ["label"])["label"], labels)


def test_unlabelled_when_num_classes_is_zero():
    dataset = make(num_classes=0)
    assert dataset.get_label(0) is None and "label" not in dataset[0]
    assert "label" not in dataset.metadata_fields()


def test_metadata_fields_are_configurable_and_reproducible():
    dataset = make(size=30, metadata_fields=["redshift", "mag"], num_classes=0)
    assert dataset.metadata_fields() == ["redshift", "mag"]
    values = dataset.metadata([2, 4], ["mag", "redshift"])
    assert values["mag"].shape == (2,) and np.all((values["mag"] >= 0) & (values["mag"] < 1))
    again = make(size=30, metadata_fields=["redshift", "mag"], num_classes=0).metadata([2, 4], ["mag"])
    assert np.array_equal(values["mag"], again["mag"])
    assert not np.array_equal(values["mag"], values["redshift"])


def test_nan_and_inf_fractions_are_exact_per_object():
    dataset = make(shape=[2, 10, 10], nan_fraction=0.1, inf_fraction=0.25)
    data = dataset.get_data(3)
    assert np.isnan(data).sum() == 20
    assert np.isinf(data).sum() == 50
    assert np.isposinf(data).sum() > 0 and np.isneginf(data).sum() > 0
    assert np.array_equal(np.isnan(data), np.isnan(dataset.get_data(3)))


def test_configured_transforms_apply_before_bad_pixels_are_injected():
    config = load_config()
    config["data_set"]["transforms"] = ["normalize"]
    config["data_set"]["crop_to"] = [4, 4]
    clean = HyraxRandomDataset(config).get_data(0)
    config["data_set"]["HyraxRandomDataset"]["nan_fraction"] = 0.25
    data = HyraxRandomDataset(config).get_data(0)
    assert data.shape == (3, 4, 4) and np.isnan(data).sum() == 12
    finite = np.isfinite(data)
    np.testing.assert_array_equal(data[finite], clean[finite])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("size", -1),
        ("shape", [3, 0, 4]),
        ("shape", []),
        ("num_classes", -2),
        ("nan_fraction", 1.5),
        ("seed", -3),
    ],
)
def test_invalid_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"data_set.HyraxRandomDataset.{key}") as info:
        make(**{key: value})
    assert info.value.key == f"data_set.HyraxRandomDataset.{key}"


def test_bad_pixel_fractions_may_not_exceed_every_pixel():
    with pytest.raises(ConfigError, match="sum to at most 1"):
        make(nan_fraction=0.6, inf_fraction=0.6)
