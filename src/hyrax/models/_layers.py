"""Convolution stacks shared by the built-in image models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hyrax.models.base import ModelDataError


def image_shape(model_name: str, sample_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(channels, height, width)`` of image data; a 2-d ``(height, width)`` shape has one channel.

    Raises
    ------
    ModelDataError
        When the data is not an image.
    """
    if len(sample_shape) in (2, 3):
        return tuple(int(size) for size in (1, *sample_shape)[-3:])
    raise ModelDataError(
        f"{model_name} takes images of shape (channels, height, width) or (height, width); the data has "
        f"shape {tuple(sample_shape)}. Choose a model made for this data."
    )


def as_image_batch(x: torch.Tensor) -> torch.Tensor:
    """Add the channel axis to a batch of 2-d images; 3-d images pass unchanged."""
    return x.unsqueeze(1) if x.dim() == 3 else x


def stage_channels(base: int, n_stages: int, cap: int = 8) -> list[int]:
    """Output channels of each down-sampling stage: ``base`` doubling per stage, up to ``cap * base``."""
    return [base * min(2**i, cap) for i in range(n_stages)]


def downsampled_sizes(
    height: int, width: int, smallest: int = 4, max_stages: int = 6
) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2 stage, halving (rounding up) until a side reaches ``smallest``."""
    sizes = []
    while min(height, width) > smallest and len(sizes) < max_stages:
        height, width = (height + 1) // 2, (width + 1) // 2
        sizes.append((height, width))
    return sizes


def encoder(
    in_channels: int, channels: Sequence[int], *, batch_norm: bool = False, refine: bool = False
) -> nn.Sequential:
    """Stride-2 3x3 convolutions with ReLU, one stage of ``channels[i]`` outputs per entry.

    ``batch_norm`` normalises after each convolution (training becomes insensitive to the scale of
    the pixels); ``refine`` adds a stride-1 3x3 convolution to each stage.
    """
    layers: list[nn.Module] = []

    def block(conv: nn.Conv2d) -> None:
        layers.append(conv)
        if batch_norm:
            layers.append(nn.BatchNorm2d(conv.out_channels))
        layers.append(nn.ReLU(inplace=True))

    for out_channels in channels:
        block(nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1))
        if refine:
            block(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        in_channels = out_channels
    return nn.Sequential(*layers)


def decoder(channels: Sequence[int], out_channels: int, sizes: Sequence[tuple[int, int]]) -> nn.Sequential:
    """The mirror of :func:`encoder` (given its stage ``channels``): transposed convolutions back to
    ``out_channels`` channels, through ``sizes`` (the input size, then the size after each stage)."""
    layers: list[nn.Module] = []
    for stage in reversed(range(len(channels))):
        out_ch = channels[stage - 1] if stage > 0 else out_channels
        # A stride-2 convolution maps n to ceil(n / 2); output_padding 1 restores even sizes exactly.
        padding = tuple(1 - size % 2 for size in sizes[stage])
        layers.append(
            nn.ConvTranspose2d(channels[stage], out_ch, 3, stride=2, padding=1, output_padding=padding)
        )
        if stage > 0:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
