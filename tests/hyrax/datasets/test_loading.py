import logging

import numpy as np
import pytest
import torch

from hyrax.config import load_config
from hyrax.datasets.cache import CachedDataset
from hyrax.datasets.loading import build_dataset, make_data_loader
from hyrax.datasets.random_dataset import HyraxRandomDataset
from hyrax.errors import ConfigError, UnknownNameError


@pytest.fixture
def config():
    config = load_config()
    config["data_set"]["name"] = "HyraxRandomDataset"
    config["data_set"]["HyraxRandomDataset"].update(size=20, shape=[1, 2, 2])
    config["data_loader"]["batch_size"] = 4
    return config


def ids_in_order(loader):
    return [object_id for batch in loader for object_id in batch["object_id"]]


def test_build_dataset_by_registered_name_and_by_path(config):
    assert type(build_dataset(config)) is HyraxRandomDataset
    config["data_set"]["name"] = "hyrax.datasets.random_dataset.HyraxRandomDataset"
    dataset = build_dataset(config)
    assert type(dataset) is HyraxRandomDataset and len(dataset) == 20


def test_build_dataset_rejects_a_class_that_is_not_a_dataset(config):
    config["data_set"]["name"] = "collections.OrderedDict"
    with pytest.raises(ConfigError) as info:
        build_dataset(config)
    message = str(info.value)
    assert "collections.OrderedDict" in message and "hyrax.datasets.base.HyraxDataset" in message
    assert info.value.key == "data_set.name"


def test_build_dataset_rejects_a_function(config):
    config["data_set"]["name"] = "numpy.zeros"
    with pytest.raises(ConfigError, match="not a dataset"):
        build_dataset(config)


def test_build_dataset_unknown_name_lists_the_registered_ones(config):
    config["data_set"]["name"] = "HyraxRandomDataSet"
    with pytest.raises(UnknownNameError, match="Did you mean `HyraxRandomDataset`"):
        build_dataset(config)


def test_build_dataset_wraps_in_a_cache_when_configured(config):
    config["data_loader"]["cache"] = True
    config["data_loader"]["cache_max_bytes"] = 1000
    dataset = build_dataset(config)
    assert isinstance(dataset, CachedDataset) and dataset.max_bytes == 1000
    assert type(dataset.dataset) is HyraxRandomDataset


def test_loader_yields_the_split_in_batches(config):
    dataset = build_dataset(config)
    indices = np.array([1, 3, 5, 7, 9, 11])
    loader = make_data_loader(dataset, indices, config["data_loader"], shuffle=False, seed=0)
    batches = list(loader)
    assert [len(batch["object_id"]) for batch in batches] == [4, 2]
    assert batches[0]["data"].shape == (4, 1, 2, 2) and batches[0]["data"].dtype == torch.float32
    assert torch.equal(torch.cat([b["index"] for b in batches]), torch.as_tensor(indices))
    assert ids_in_order(loader) == [dataset.ids()[i] for i in indices]
    assert "label" in batches[0]


def test_none_loads_every_object_and_drop_last_drops_the_short_batch(config):
    dataset = build_dataset(config)
    config["data_loader"]["batch_size"] = 6
    loader = make_data_loader(dataset, None, config["data_loader"], shuffle=False, seed=0, drop_last=True)
    assert [len(batch["index"]) for batch in loader] == [6, 6, 6]


def test_shuffling_is_reproducible_for_a_seed_and_changes_every_epoch(config):
    dataset = build_dataset(config)
    indices = np.arange(20)

    def epochs(seed):
        loader = make_data_loader(dataset, indices, config["data_loader"], shuffle=True, seed=seed)
        return ids_in_order(loader), ids_in_order(loader)

    first, second = epochs(5)
    assert epochs(5) == (first, second)
    assert first != second
    assert sorted(first) == sorted(dataset.ids())
    assert epochs(6)[0] != first


def test_collate_fn_by_dotted_path(config):
    config["data_loader"]["collate_fn"] = "builtins.list"
    loader = make_data_loader(build_dataset(config), [0, 1, 2], config["data_loader"], shuffle=False, seed=0)
    batch = next(iter(loader))
    assert isinstance(batch, list) and [item["index"] for item in batch] == [0, 1, 2]


def test_collate_fn_that_cannot_be_imported_names_the_key(config):
    config["data_loader"]["collate_fn"] = "nowhere.collate"
    with pytest.raises(ConfigError, match="data_loader.collate_fn") as info:
        make_data_loader(build_dataset(config), [0], config["data_loader"], shuffle=False, seed=0)
    assert info.value.key == "data_loader.collate_fn"


def test_cached_loader_serves_later_epochs_from_memory_and_logs_each_epoch(config, caplog):
    config["data_loader"]["cache"] = True
    dataset = build_dataset(config)
    loader = make_data_loader(dataset, np.arange(8), config["data_loader"], shuffle=True, seed=0)
    with caplog.at_level(logging.INFO, logger="hyrax.datasets.cache"):
        first = {
            int(i): data for batch in loader for i, data in zip(batch["index"], batch["data"], strict=True)
        }
        second = {
            int(i): data for batch in loader for i, data in zip(batch["index"], batch["data"], strict=True)
        }
    stats = dataset.cache_stats()
    assert (stats["misses"], stats["hits"], stats["items"]) == (8, 8, 8)
    assert sorted(first) == list(range(8))
    assert all(torch.equal(first[i], second[i]) for i in first)
    reports = [r.getMessage() for r in caplog.records if "Item cache" in r.getMessage()]
    assert len(reports) == 2 and "8 hits, 8 misses" in reports[1]


def test_cached_loader_keeps_workers_alive_so_their_caches_survive(config):
    config["data_loader"]["cache"] = True
    config["data_loader"]["num_workers"] = 2
    dataset = build_dataset(config)
    assert make_data_loader(dataset, [0, 1], config["data_loader"], shuffle=False, seed=0).persistent_workers
    config["data_loader"]["cache"] = False
    plain = build_dataset(config)
    assert not make_data_loader(
        plain, [0, 1], config["data_loader"], shuffle=False, seed=0
    ).persistent_workers


def test_spawned_workers_unpickle_a_dev_mode_config_with_an_unknown_key(work_dir):
    """macOS and Windows start data-loader workers by spawning, which pickles the dataset and its config."""
    from hyrax.config import ConfigManager

    runtime = {
        "general": {"dev_mode": True},
        "data_set": {"name": "HyraxRandomDataset", "HyraxRandomDataset": {"size": 6, "shape": [1, 4, 4]}},
        "train": {"a_key_only_my_plugin_knows": 1},
    }
    config = ConfigManager(runtime_config=runtime).config
    dataset = build_dataset(config)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=3, num_workers=1, multiprocessing_context="spawn"
    )
    batches = list(loader)
    assert [tuple(batch["data"].shape) for batch in batches] == [(3, 1, 4, 4), (3, 1, 4, 4)]
