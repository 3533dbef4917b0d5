"""Running training in several processes with ``ignite.distributed``: launching, data, gradients.

:class:`Launch` decides how to run (one process, ``train.nproc_per_node`` processes spawned here, or
torchrun's), as ``docs/distributed.md`` describes.

Hyrax models run their own ``train_step``, which calls the model directly, so the model is not
wrapped in ``DistributedDataParallel`` (whose gradient hooks only work when its own ``forward`` runs).
Instead every process starts from rank 0's weights, :func:`average_gradients` all-reduces the
gradients inside ``HyraxModel.optimize``, and :func:`broadcast_from_rank_0` keeps buffers such as batch
norm statistics equal, so the processes stay identical, as with DDP.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from hyrax.errors import ConfigError

if TYPE_CHECKING:
    from hyrax.training.sampler import EpochSampler


@dataclass(frozen=True)
class Launch:
    """How this invocation of ``hyrax train`` (or ``infer``) runs its processes.

    Attributes
    ----------
    backend : str or None
        The ``torch.distributed`` backend, or None for a single process.
    nproc_per_node : int
        Processes to spawn from here; 1 when none are spawned.
    under_torchrun : bool
        True when torchrun (or another launcher) started this process as one rank of several.
    """

    backend: str | None
    nproc_per_node: int
    under_torchrun: bool

    @classmethod
    def from_settings(
        cls, backend: str | bool, nproc_per_node: int, device: str, verb: str = "train"
    ) -> Launch:
        """Decide from ``<verb>.distributed_backend``, ``<verb>.nproc_per_node`` and ``general.device``."""
        if isinstance(nproc_per_node, bool) or not isinstance(nproc_per_node, int) or nproc_per_node < 1:
            raise ConfigError(
                f"The '{verb}.nproc_per_node' key must be an integer >= 1. Got {nproc_per_node!r} instead.",
                key=f"{verb}.nproc_per_node",
            )
        under_torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if not under_torchrun and nproc_per_node == 1:
            return cls(None, 1, False)
        if backend is False:
            wants_gpu = str(device).startswith("cuda") or (
                str(device) == "auto" and torch.cuda.is_available()
            )
            backend = "nccl" if wants_gpu else "gloo"
        import ignite.distributed as idist

        if backend not in idist.available_backends():
            raise ConfigError(
                f"{verb}.distributed_backend = {backend!r} is not available here; available: "
                f"{', '.join(idist.available_backends())}.",
                key=f"{verb}.distributed_backend",
            )
        return cls(backend, 1 if under_torchrun else nproc_per_node, under_torchrun)

    @property
    def world_size(self) -> int:
        """How many processes run in all: torchrun's WORLD_SIZE, or the processes spawned, or 1."""
        if self.under_torchrun:
            return int(os.environ["WORLD_SIZE"])
        return self.nproc_per_node if self.backend is not None else 1

    @property
    def is_main(self) -> bool:
        """True in the process that owns the results directory: rank 0, or the spawning parent."""
        return not self.under_torchrun or int(os.environ.get("RANK", "0")) == 0

    def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(local_rank, *args)`` in every process of this launch.

        Returns
        -------
        object
            What ``function`` returned here, or None when it ran in spawned processes.
        """
        if self.backend is None:
            return function(0, *args)
        import ignite.distributed as idist

        if self.under_torchrun:
            idist.initialize(self.backend)
            try:
                return function(idist.get_local_rank(), *args)
            finally:
                idist.finalize()
        idist.spawn(
            self.backend,
            function,
            args=args,
            nproc_per_node=self.nproc_per_node,
            master_addr="127.0.0.1",
            master_port=free_port(),
        )
        return None


def setup_process(general: Mapping, local_rank: int) -> torch.device:
    """Prepare one process of a run: logging, its device, its CPU threads and the seeds.

    Parameters
    ----------
    general : mapping
        The ``[general]`` table (``log_level``, ``log_destination``, ``device``, ``seed``).
    local_rank : int
        The process's rank on its node, which picks its GPU.

    Returns
    -------
    torch.device
        The device this process computes on.
    """
    from hyrax.log import setup_logging
    from hyrax.training.cpu_memory import reuse_freed_memory
    from hyrax.training.device import select_device
    from hyrax.training.seeding import seed_everything

    rank, world_size = rank_and_world_size()
    if rank > 0:
        logging.getLogger("hyrax").setLevel(logging.WARNING)
    elif world_size > 1:
        # Spawned processes start without the parent's logging set-up.
        setup_logging(general["log_level"], general["log_destination"])
    device = select_device(general["device"], local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        reuse_freed_memory()
    if world_size > 1 and device.type == "cpu":
        # Processes sharing a node share its cores; more threads than cores only adds contention.
        import ignite.distributed as idist

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // idist.get_nproc_per_node()))
    seed_everything(int(general["seed"]))
    return device


def rank_and_world_size() -> tuple[int, int]:
    """This process's rank and the number of processes: ``(0, 1)`` outside a process group.

    It reads torch.distributed directly, so a single-process run never imports ignite.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def free_port() -> int:
    # Several runs (or tests) on one machine must not collide on a fixed rendezvous port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over all processes: one all-reduce per device and dtype."""
    import ignite.distributed as idist

    buckets: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for parameter in parameters:
        if parameter.grad is not None:
            buckets.setdefault((parameter.grad.device, parameter.grad.dtype), []).append(parameter.grad)
    world_size = idist.get_world_size()
    for gradients in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in gradients])
        idist.all_reduce(flat)
        flat /= world_size
        for gradient, mean in zip(gradients, flat.split([g.numel() for g in gradients]), strict=True):
            gradient.copy_(mean.view_as(gradient))


def broadcast_from_rank_0(tensors: Iterable[Any]) -> None:
    """Copy rank 0's values of ``tensors`` (a module's ``state_dict().values()``, or its buffers) to
    every process; entries that are not tensors are left alone."""
    import ignite.distributed as idist

    for tensor in tensors:
        if isinstance(tensor, torch.Tensor):
            tensor.copy_(idist.broadcast(tensor, src=0))


def distribute_loader(loader: DataLoader, *, shuffle: bool, seed: int) -> tuple[DataLoader, EpochSampler]:
    """A loader like ``loader`` whose order comes from an :class:`EpochSampler`, split among processes.

    ``loader`` gives the dataset, batch size, workers and collate function (it is typically made by
    :func:`hyrax.datasets.loading.make_data_loader`). With several processes the loader is built by
    ``idist.auto_dataloader``, which gives each process ``batch_size / world_size`` items per batch.

    Returns
    -------
    (DataLoader, EpochSampler)
        The new loader and its sampler, whose ``set_epoch`` must be called each epoch
        (:func:`hyrax.training.sampler.attach_sampler` does it).
    """
    import ignite.distributed as idist

    from hyrax.training.sampler import EpochSampler

    world_size, rank = idist.get_world_size(), idist.get_rank()
    sampler = EpochSampler(
        len(loader.dataset), shuffle=shuffle, seed=seed, num_replicas=world_size, rank=rank
    )
    kwargs = {
        "batch_size": loader.batch_size,
        "sampler": sampler,
        "num_workers": loader.num_workers,
        "collate_fn": loader.collate_fn,
        "pin_memory": loader.pin_memory,
        "drop_last": loader.drop_last,
        "persistent_workers": loader.persistent_workers,
        # A private generator seeds the workers, so creating an iterator never draws from the global
        # torch generator, whose state a checkpoint restores.
        "generator": torch.Generator().manual_seed(int(seed)),
    }
    make = idist.auto_dataloader if world_size > 1 else DataLoader
    return make(loader.dataset, **kwargs), sampler
