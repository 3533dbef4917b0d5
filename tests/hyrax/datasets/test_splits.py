import numpy as np
import pytest

from hyrax.config import load_config
from hyrax.datasets.splits import (
    SPLITS_FILE_NAME,
    SplitsNotFoundError,
    load_splits,
    make_splits,
    save_splits,
    splits_from_config,
)
from hyrax.errors import ConfigError


def sizes(splits):
    return [len(splits[name]) for name in ("train", "validate", "test")]


def test_fractions_give_disjoint_sorted_splits_covering_the_dataset():
    splits = make_splits(100, 0.6, 0.2, 0.2, seed=3)
    assert sizes(splits) == [60, 20, 20]
    combined = np.concatenate(list(splits.values()))
    assert sorted(combined.tolist()) == list(range(100))
    for indices in splits.values():
        assert indices.dtype == np.int64
        assert np.all(np.diff(indices) > 0)


def test_same_seed_same_splits_and_different_seed_different_splits():
    first = make_splits(50, 0.5, 0.2, False, seed=7)
    again = make_splits(50, 0.5, 0.2, False, seed=7)
    other = make_splits(50, 0.5, 0.2, False, seed=8)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["train"], other["train"])


def test_splits_are_random_not_contiguous():
    train = make_splits(100, 0.5, False, False, seed=0)["train"]
    assert not np.array_equal(train, np.arange(50))


def test_counts_and_false_meaning_what_is_left():
    assert sizes(make_splits(30, 10, 5, False, seed=0)) == [10, 5, 15]
    assert sizes(make_splits(30, False, 5, 10, seed=0)) == [15, 5, 10]
    assert sizes(make_splits(30, 0.5, False, False, seed=0)) == [15, 0, 15]


def test_integer_one_is_a_count_and_float_one_is_everything():
    assert sizes(make_splits(10, 1, False, False, seed=0)) == [1, 0, 9]
    assert sizes(make_splits(10, 1.0, False, False, seed=0)) == [10, 0, 0]


def test_sizes_that_leave_objects_out_keep_them_out():
    assert sizes(make_splits(100, 0.5, 0.1, 0.1, seed=0)) == [50, 10, 10]


def test_objects_lost_to_rounding_join_train_when_the_sizes_cover_everything():
    assert sizes(make_splits(11, 0.6, 0.2, 0.2, seed=0)) == [7, 2, 2]
    assert sizes(make_splits(11, 0.5, False, 0.5, seed=0)) == [6, 0, 5]


@pytest.mark.parametrize(
    ("arguments", "key", "fragment"),
    [
        ((10, -0.1, 0.2, 0.2), "data_set.train_size", "-0.1"),
        ((10, 0.6, 1.5, False), "data_set.validate_size", "1.5"),
        ((10, 0.6, 0.2, 11), "data_set.test_size", "more objects than the dataset has (10)"),
        ((10, True, 0.2, 0.2), "data_set.train_size", "True"),
        ((10, "half", 0.2, 0.2), "data_set.train_size", "'half'"),
        ((10, float("nan"), 0.2, 0.2), "data_set.train_size", "nan"),
    ],
)
def test_invalid_sizes_name_the_key_and_value(arguments, key, fragment):
    with pytest.raises(ConfigError) as info:
        make_splits(*arguments, seed=0)
    assert key in str(info.value) and fragment in str(info.value)
    assert info.value.key == key


def test_fractions_summing_over_one_name_every_key_and_value():
    with pytest.raises(ConfigError) as info:
        make_splits(100, 0.7, 0.2, 0.2, seed=0)
    message = str(info.value)
    for fragment in ("data_set.train_size = 0.7", "data_set.validate_size = 0.2", "data_set.test_size = 0.2"):
        assert fragment in message
    assert "110 objects" in message and "100" in message


def test_counts_summing_over_the_dataset_are_rejected():
    with pytest.raises(ConfigError, match="at most 10"):
        make_splits(10, 6, 3, 2, seed=0)


def test_train_and_test_both_false_is_ambiguous():
    with pytest.raises(ConfigError, match="both false"):
        make_splits(10, False, 0.2, False, seed=0)


def test_empty_dataset_gives_empty_splits():
    assert sizes(make_splits(0, 0.6, 0.2, 0.2, seed=0)) == [0, 0, 0]


def test_save_and_load_round_trip(tmp_path):
    splits = make_splits(40, 0.5, 0.25, False, seed=1)
    path = save_splits(tmp_path / "run", splits)
    assert path == tmp_path / "run" / SPLITS_FILE_NAME
    loaded = load_splits(tmp_path / "run")
    assert set(loaded) == {"train", "validate", "test"}
    assert all(np.array_equal(loaded[name], splits[name]) for name in splits)


def test_load_from_a_folder_without_splits_names_the_path(tmp_path):
    with pytest.raises(SplitsNotFoundError) as info:
        load_splits(tmp_path)
    assert str(tmp_path / SPLITS_FILE_NAME) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_splits_from_config_reads_sizes_and_seed():
    config = load_config()
    config["data_set"]["train_size"] = 5
    config["data_set"]["validate_size"] = False
    config["data_set"]["test_size"] = False
    config["general"]["seed"] = 11
    splits = splits_from_config(config, 20)
    assert sizes(splits) == [5, 0, 15]
    assert np.array_equal(splits["train"], make_splits(20, 5, False, False, seed=11)["train"])
    config["general"]["seed"] = 12
    assert not np.array_equal(splits_from_config(config, 20)["train"], splits["train"])
