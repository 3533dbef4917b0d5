"""``HyraxLoopback``: the smallest trainable model, for tests of the training machinery."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from hyrax.models.base import HyraxModel, hyrax_model


@hyrax_model("HyraxLoopback")
class HyraxLoopback(HyraxModel):
    """Returns its input times one learnable factor, which training drives towards 1.

    It fits any data shape, trains in microseconds, and its single parameter makes the effect of
    each step easy to check.

    Examples
    --------
    >>> import torch
    >>> from hyrax.config import load_config
    >>> from hyrax.models.loopback import HyraxLoopback
    >>> model = HyraxLoopback(load_config(), (2,))
    >>> model(torch.ones(1, 2))
    tensor([[0.5000, 0.5000]], grad_fn=<MulBackward0>)
    """

    def __init__(self, config: Mapping, sample_shape: tuple[int, ...]):
        super().__init__(config, sample_shape)
        self.scale = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` times the learned factor."""
        return x * self.scale
