from __future__ import annotations

from ignite.engine import Engine

from hyrax.training.sampler import EpochSampler, attach_sampler


def order(sampler, epoch, start=0):
    sampler.set_epoch(epoch, start)
    return list(sampler)


def test_each_epoch_order_depends_only_on_seed_and_epoch():
    a = EpochSampler(20, shuffle=True, seed=3)
    b = EpochSampler(20, shuffle=True, seed=3)
    epochs_a = [order(a, e) for e in range(3)]
    assert order(b, 2) == epochs_a[2]
    assert epochs_a[0] != epochs_a[1]
    assert sorted(epochs_a[1]) == list(range(20))
    assert order(EpochSampler(20, shuffle=False, seed=3), 4) == list(range(20))


def test_start_skips_the_first_positions():
    sampler = EpochSampler(10, shuffle=True, seed=0)
    full = order(sampler, 1)
    assert order(sampler, 1, start=4) == full[4:]
    assert len(sampler) == 6


def test_replicas_share_the_epoch_between_them():
    shares = [order(EpochSampler(10, shuffle=True, seed=1, num_replicas=2, rank=r), 0) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 5
    assert sorted(shares[0] + shares[1]) == list(range(10))


def test_attached_sampler_follows_the_engine_and_resumes_mid_epoch():
    sampler = EpochSampler(8, shuffle=True, seed=2)
    seen = []
    engine = Engine(lambda engine, batch: seen.append(batch))
    attach_sampler(engine, sampler, batch_size=2)
    data = _Batches(sampler, 2)
    engine.run(data, max_epochs=2)
    expected = [order(EpochSampler(8, shuffle=True, seed=2), e) for e in (0, 1)]
    assert [i for batch in seen for i in batch] == expected[0] + expected[1]

    seen.clear()
    resumed = Engine(lambda engine, batch: seen.append(batch))
    attach_sampler(resumed, sampler, batch_size=2)
    resumed.load_state_dict({"iteration": 5, "epoch_length": 4, "max_epochs": 2})
    resumed.run(data, max_epochs=2)
    assert [i for batch in seen for i in batch] == expected[1][2:]


class _Batches:
    """The sampler's positions in pairs, re-read at each pass like a DataLoader."""

    def __init__(self, sampler, size):
        self.sampler, self.size = sampler, size

    def __iter__(self):
        positions = list(self.sampler)
        return iter([positions[i : i + self.size] for i in range(0, len(positions), self.size)])

    def __len__(self):
        return 4
