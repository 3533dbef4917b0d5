"""``HyraxCNN``: a convolutional classifier for labelled images."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hyrax.models._layers import as_image_batch, downsampled_sizes, encoder, image_shape, stage_channels
from hyrax.models.base import HyraxModel, ModelDataError, hyrax_model


@hyrax_model("HyraxCNN")
class HyraxCNN(HyraxModel):
    """Convolutional classifier: convolution stages with batch norm, global average pooling, a linear layer.

    Trains with cross-entropy against each object's ``label`` (unless ``criterion.name`` names
    another loss) and reports accuracy in validation. ``forward`` returns the class logits. Settings
    come from ``[model.HyraxCNN]``: ``num_classes`` (labels run from 0 to ``num_classes - 1``) and
    ``base_channel_size``.

    Examples
    --------
    >>> import torch
    >>> from hyrax.config import load_config
    >>> from hyrax.models.cnn import HyraxCNN
    >>> config = load_config()
    >>> config["model"]["HyraxCNN"]["num_classes"] = 3
    >>> HyraxCNN(config, (1, 28, 28))(torch.rand(4, 1, 28, 28)).shape
    torch.Size([4, 3])
    """

    default_criterion = "torch.nn.CrossEntropyLoss"

    def __init__(self, config: Mapping, sample_shape: tuple[int, ...]):
        super().__init__(config, sample_shape)
        channels, height, width = image_shape(type(self).__name__, sample_shape)
        settings = self.settings
        self.num_classes = int(settings.get("num_classes", 5))
        if self.num_classes < 2:
            raise ModelDataError(f"model.HyraxCNN.num_classes must be at least 2; got {self.num_classes}.")
        base = int(settings.get("base_channel_size", 16))
        stages = stage_channels(base, max(len(downsampled_sizes(height, width)), 1))
        self.features = encoder(channels, stages, batch_norm=True, refine=True)
        self.classifier = nn.Linear(stages[-1], self.num_classes)

    def to_tensor(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The images of ``batch``, with a channel axis."""
        return as_image_batch(batch["data"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(batch, num_classes)``."""
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))

    def _labels(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if "label" not in batch:
            raise ModelDataError(
                "HyraxCNN is a classifier and needs labelled data, but the dataset's items have no "
                "'label'. Choose a dataset with labels, or an unsupervised model such as HyraxAutoencoder."
            )
        return batch["label"]

    def compute_loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Cross-entropy (or the configured criterion) between the logits and the labels."""
        return self.criterion(self(self.to_tensor(batch)), self._labels(batch))

    def validate_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """Loss and accuracy of ``batch``."""
        logits = self(self.to_tensor(batch))
        labels = self._labels(batch)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": self.criterion(logits, labels).item(), "accuracy": accuracy.item()}
