"""``EpochSampler``: each epoch's order is a pure function of (seed, epoch), so a resumed run repeats it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from ignite.engine import Engine, Events
from torch.utils.data.distributed import DistributedSampler


class EpochSampler(DistributedSampler):
    """Positions ``0 .. n_items - 1``, shuffled per epoch from ``seed + epoch``, shared among processes.

    The order of an epoch depends only on the seed and the epoch number, never on how many epochs
    ran before in this process, so a run resumed from a checkpoint sees the batches an uninterrupted
    run would have seen. With several processes each takes every ``num_replicas``-th position of
    the epoch's order (PyTorch's ``DistributedSampler``, which this subclasses, so
    ``ignite.distributed.auto_dataloader`` uses it as is). ``set_epoch(epoch, start)`` also skips the
    first ``start`` positions of this process's share, to resume in the middle of an epoch.

    Parameters
    ----------
    n_items : int
        Number of positions, e.g. the length of a split.
    shuffle : bool
        Shuffle each epoch; otherwise positions come in order.
    seed : int
        Seed of the shuffling.
    num_replicas, rank : int
        Number of processes and this process's rank.

    Examples
    --------
    >>> from hyrax.training.sampler import EpochSampler
    >>> sampler = EpochSampler(5, shuffle=True, seed=0)
    >>> sampler.set_epoch(1)
    >>> first = list(sampler)
    >>> sampler.set_epoch(1, start=2)
    >>> list(sampler) == first[2:]
    True
    """

    def __init__(self, n_items: int, *, shuffle: bool, seed: int, num_replicas: int = 1, rank: int = 0):
        super().__init__(range(n_items), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use the order of ``epoch`` (0-based) from position ``start`` of this process's share."""
        super().set_epoch(epoch)
        self.start = max(0, min(int(start), self.num_samples))

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start


def attach_sampler(trainer: Engine, sampler: EpochSampler, batch_size: int) -> None:
    """Set ``sampler`` to the trainer's epoch at every epoch start, skipping batches a resume already did.

    Parameters
    ----------
    trainer : ignite.engine.Engine
        The training engine.
    sampler : EpochSampler
        The sampler of the loader the trainer runs on.
    batch_size : int
        Items per batch in this process.
    """

    def set_epoch(engine: Engine) -> None:
        state = engine.state
        done = state.iteration - (state.epoch - 1) * (state.epoch_length or 0)
        sampler.set_epoch(state.epoch - 1, start=done * batch_size)

    trainer.add_event_handler(Events.EPOCH_STARTED, set_epoch)
