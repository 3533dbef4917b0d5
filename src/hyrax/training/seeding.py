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
        numpy_state = np.random.get_state(legacy=False)
        state: dict[str, Any] = {
            "python": {"version": version, "state": list(mt_state), "gauss": gauss},
            "numpy": {
                "bit_generator": numpy_state["bit_generator"],
                "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                "pos": int(numpy_state["state"]["pos"]),
                "has_gauss": int(numpy_state["has_gauss"]),
                "gauss": float(numpy_state["gauss"]),
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
        np.random.set_state(
            {
                "bit_generator": numpy["bit_generator"],
                "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
                "has_gauss": numpy["has_gauss"],
                "gauss": numpy["gauss"],
            }
        )
        torch.set_rng_state(state["torch"].cpu())
        cuda = state.get("cuda")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
