import logging
import pickle

import numpy as np
import pytest

from hyrax.config import load_config
from hyrax.datasets.cache import CachedDataset
from hyrax.datasets.random_dataset import HyraxRandomDataset


class CountingDataset(HyraxRandomDataset):
    registry_name = None

    def __init__(self, config):
        super().__init__(config)
        self.reads = 0

    def get_data(self, index):
        self.reads += 1
        return super().get_data(index)


@pytest.fixture
def inner():
    config = load_config()
    config["data_set"]["HyraxRandomDataset"].update(size=10, shape=[1, 4, 4], num_classes=2)
    return CountingDataset(config)


ITEM_BYTES = 1 * 4 * 4 * 4


def test_second_read_is_a_hit_served_without_reading_the_dataset(inner):
    cached = CachedDataset(inner, max_bytes=10 * ITEM_BYTES)
    first = cached[3]["data"].clone()
    second = cached[3]["data"]
    assert inner.reads == 1
    assert np.array_equal(first.numpy(), second.numpy())
    assert np.array_equal(second.numpy(), inner.get_data(3))
    stats = cached.cache_stats()
    assert (stats["hits"], stats["misses"], stats["items"], stats["bytes"]) == (1, 1, 1, ITEM_BYTES)
    assert stats["hit_rate"] == 0.5


def test_batches_and_get_data_are_copies_that_cannot_change_the_cache(inner):
    from hyrax.datasets.loading import make_data_loader

    cached = CachedDataset(inner, max_bytes=10 * ITEM_BYTES)
    cached[0]
    cached.get_data(0).fill(-1)
    for batch in make_data_loader(cached, [0, 1], {"batch_size": 2}, shuffle=False, seed=0):
        batch["data"].fill_(-1)
    assert cached[0]["data"].min() >= 0
    assert cached[0]["data"] is cached[0]["data"], "items of a cached object share one tensor"


def test_the_cap_is_never_exceeded(inner):
    cached = CachedDataset(inner, max_bytes=int(2.5 * ITEM_BYTES))
    for index in range(5):
        cached[index]
    stats = cached.cache_stats()
    assert stats["items"] == 2 and stats["bytes"] == 2 * ITEM_BYTES <= stats["max_bytes"]
    assert stats["refused"] == 3
    for index in range(5):
        cached[index]
    assert cached.cache_stats()["hits"] == 2
    assert inner.reads == 8


def test_zero_bytes_caches_nothing(inner):
    cached = CachedDataset(inner, max_bytes=0)
    cached[0], cached[0]
    assert cached.cache_stats()["items"] == 0 and inner.reads == 2


def test_everything_but_data_is_delegated(inner):
    cached = CachedDataset(inner, max_bytes=10**6)
    assert len(cached) == 10
    assert list(cached.ids()) == list(inner.ids())
    assert cached[4]["label"] == inner.get_label(4)
    assert cached.index_of("random_000007") == 7
    assert cached.metadata_fields() == inner.metadata_fields()
    np.testing.assert_array_equal(cached.metadata([1, 2], ["label"])["label"], inner.labels()[[1, 2]])
    assert cached.shape == (1, 4, 4)
    with pytest.raises(AttributeError):
        getattr(cached, "no_such_attribute")  # noqa: B009 (the lookup itself is under test)


def test_clear_cache_resets_everything(inner):
    cached = CachedDataset(inner, max_bytes=10**6)
    cached[0], cached[0]
    cached.clear_cache()
    assert cached.cache_stats() == {
        "hits": 0, "misses": 0, "hit_rate": 0.0, "items": 0, "bytes": 0, "max_bytes": 10**6, "refused": 0
    }  # fmt: skip


def test_log_cache_stats(inner, caplog):
    cached = CachedDataset(inner, max_bytes=ITEM_BYTES)
    cached[0], cached[0], cached[1]
    with caplog.at_level(logging.INFO, logger="hyrax.datasets.cache"):
        cached.log_cache_stats()
    message = caplog.records[-1].getMessage()
    assert "CountingDataset" in message
    assert "1 hits, 2 misses" in message and "1 reads not cached" in message


def test_pickles_for_worker_processes(inner):
    cached = CachedDataset(inner, max_bytes=10**6)
    cached[0]
    copy = pickle.loads(pickle.dumps(cached))
    assert copy.cache_stats()["items"] == 1 and len(copy) == 10


@pytest.mark.parametrize("max_bytes", [-1, 1.5, True])
def test_invalid_cap(inner, max_bytes):
    with pytest.raises(ValueError, match="max_bytes"):
        CachedDataset(inner, max_bytes=max_bytes)
