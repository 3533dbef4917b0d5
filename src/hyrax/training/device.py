"""Choose the torch device from ``general.device``, and move batches to it."""

from __future__ import annotations

import torch

from hyrax.errors import ConfigError

_CHOICES = '"auto", "cpu", "cuda", "cuda:N" or "mps"'


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """Return the device ``name`` asks for, checking that this machine has it.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    local_rank : int
        Index of this process on its node; with several processes, ``"auto"`` and ``"cuda"`` give
        each process its own GPU.

    Returns
    -------
    torch.device
        The device.

    Raises
    ------
    ConfigError
        Naming ``general.device`` when the name is unknown or the device is not available.

    Examples
    --------
    >>> from hyrax.training.device import select_device
    >>> select_device("cpu")
    device(type='cpu')
    """
    text = str(name).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise ConfigError(
            f"general.device = {name!r} is not a device; use {_CHOICES}.", key="general.device"
        ) from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"general.device = {name!r}, but PyTorch sees no CUDA GPU here (torch {torch.__version__}). "
                'Use "auto" or "cpu", or install a CUDA build of PyTorch.',
                key="general.device",
            )
        index = device.index if device.index is not None else local_rank % torch.cuda.device_count()
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"general.device = {name!r}, but this machine has {torch.cuda.device_count()} CUDA GPU(s).",
                key="general.device",
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(
                f"general.device = {name!r}, but Apple's MPS backend is not available here. "
                'Use "auto" or "cpu".',
                key="general.device",
            )
        return device
    raise ConfigError(f"general.device = {name!r} is not supported; use {_CHOICES}.", key="general.device")


def batch_mover(device: torch.device, non_blocking: bool = False):
    """A function that moves a batch (a dict of tensors, or nested lists of them) to ``device``.

    On the CPU it returns the batch unchanged: data loaders already yield CPU tensors, and skipping
    the walk over the batch saves time on every step.
    """
    if device.type == "cpu":
        return lambda batch: batch
    from ignite.utils import convert_tensor

    return lambda batch: convert_tensor(batch, device=device, non_blocking=non_blocking)
