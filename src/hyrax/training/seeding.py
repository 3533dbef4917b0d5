"""Seeding, and the state of every random number generator as one resumable object."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators (all CUDA devices included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class RNGState:
    """The global random generators of Python, NumPy and PyTorch, with ``state_dict``/``load_state_dict``.

    Saved in every checkpoint and restored on resume, so that anything random after the resume point
    (dropout, augmentations in the main process) draws what an uninterrupted run would have drawn.

    Examples
    --------
    >>> import torch
    >>> from hyrax.training.seeding import RNGState
    >>> saved = RNGState().state_dict()
    >>> first = torch.rand(1)
    >>> RNGState().load_state_dict(saved)
    >>> bool(torch.rand(1) == first)
    True
    """

    def state_dict(self) -> dict[str, Any]:
        """The generators' states, as tensors and plain Python values (loadable with ``weights_only``)."""
        version, mt_state, gauss = random.getstate()
        bit_generator, key, pos, has_gauss, gauss = np.random.get_state()
        state: dict[str, Any] = {
            "python": {"version": version, "state": list(mt_state), "gauss": gauss},
            "numpy": {
                "bit_generator": bit_generator,
                "key": torch.from_numpy(key.astype(np.int64)),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "gauss": float(gauss),
            },
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the states :meth:`state_dict` returned."""
        python = state["python"]
        random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
        numpy = state["numpy"]
        key = numpy["key"].numpy().astype(np.uint32)
        np.random.set_state((numpy["bit_generator"], key, numpy["pos"], numpy["has_gauss"], numpy["gauss"]))
        torch.set_rng_state(state["torch"].cpu())
        cuda = state.get("cuda")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
