"""``HyraxAutoencoder``: a convolutional autoencoder whose forward pass gives the latent vector."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hyrax.models._layers import (
    as_image_batch,
    decoder,
    downsampled_sizes,
    encoder,
    image_shape,
    stage_channels,
)
from hyrax.models.base import HyraxModel, hyrax_model


@hyrax_model("HyraxAutoencoder")
class HyraxAutoencoder(HyraxModel):
    """Convolutional autoencoder: images to a latent vector and back, trained on reconstruction error.

    The encoder halves the image with stride-2 convolutions (``base_channel_size`` channels, doubling
    per stage) until a side is 4 pixels or less, then maps to ``latent_dim`` numbers; the decoder
    mirrors it back to the input size, whatever that is. ``forward`` returns the latent vector, which
    is what inference stores; :meth:`reconstruct` gives the decoded image. Settings come from
    ``[model.HyraxAutoencoder]``.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole configuration.
    sample_shape : tuple of int
        ``(channels, height, width)``, or ``(height, width)`` for single-channel images.

    Examples
    --------
    >>> import torch
    >>> from hyrax.config import load_config
    >>> from hyrax.models.autoencoder import HyraxAutoencoder
    >>> model = HyraxAutoencoder(load_config(), (3, 20, 30))
    >>> x = torch.rand(2, 3, 20, 30)
    >>> model(x).shape, model.reconstruct(x).shape
    (torch.Size([2, 64]), torch.Size([2, 3, 20, 30]))
    """

    def __init__(self, config: Mapping, sample_shape: tuple[int, ...]):
        super().__init__(config, sample_shape)
        channels, height, width = image_shape(type(self).__name__, sample_shape)
        self.latent_dim = int(self.settings.get("latent_dim", 64))
        sizes = downsampled_sizes(height, width)
        stages = stage_channels(int(self.settings.get("base_channel_size", 16)), len(sizes))
        self._bottleneck = (stages[-1] if stages else channels, *(sizes[-1] if sizes else (height, width)))
        flat = math.prod(self._bottleneck)
        self.encoder = encoder(channels, stages)
        self.to_latent = nn.Linear(flat, self.latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(self.latent_dim, flat), nn.ReLU(inplace=True))
        self.decoder = decoder(stages, channels, [(height, width), *sizes])

    def to_tensor(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The images of ``batch``, with a channel axis."""
        return as_image_batch(batch["data"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The latent vectors of the images ``x``, shape ``(batch, latent_dim)``."""
        return self.to_latent(torch.flatten(self.encoder(x), 1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The images that the latent vectors ``z`` decode to."""
        return self.decoder(self.from_latent(z).view(z.shape[0], *self._bottleneck))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode and decode the images ``x``."""
        return self.decode(self(x))

    def compute_loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Reconstruction loss (the configured criterion, MSE by default) between input and output."""
        x = self.to_tensor(batch)
        return self.criterion(self.reconstruct(x), x)
