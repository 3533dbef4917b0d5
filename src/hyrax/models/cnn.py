"""``HyraxCNN``: a convolutional classifier for labelled images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hyrax.errors import ConfigValueError
from hyrax.models._layers import as_image_batch, downsampled_sizes, encoder, image_shape, stage_channels
from hyrax.models.base import HyraxModel, ModelDataError, hyrax_model

DEFAULT_NUM_CLASSES = 5


def _dataset_name(dataset: Any) -> str:
    # A cache (or subset) wrapper names the dataset it wraps as ``dataset``.
    return type(getattr(dataset, "dataset", dataset)).__name__


def declared_classes(dataset: Any) -> tuple[int, str] | None:
    """The number of classes ``dataset`` declares without reading its objects, and where that comes from.

    Looked up, in order: a ``class_names`` sequence (CIFAR-10, the synthetic galaxies), an integer
    ``num_classes`` attribute, and a ``labels()`` method returning every label as an array (whose
    largest value plus one counts the classes).

    Parameters
    ----------
    dataset : HyraxDataset
        The dataset, possibly wrapped in a cache or subset.

    Returns
    -------
    (int, str) or None
        The class count and a phrase saying how it is known; None when the dataset declares none.
    """
    inner = getattr(dataset, "dataset", dataset)
    names = getattr(inner, "class_names", None)
    if isinstance(names, Sequence) and not isinstance(names, str) and len(names) > 0:
        shown = ", ".join(map(str, names[:10])) + (", ..." if len(names) > 10 else "")
        return len(names), f"has {len(names)} classes ({shown})"
    count = getattr(inner, "num_classes", None)
    if isinstance(count, (int, np.integer)) and not isinstance(count, bool) and count > 0:
        return int(count), f"has num_classes = {int(count)}"
    labels = getattr(inner, "labels", None)
    if callable(labels):
        values = labels()
        if values is not None and len(values):
            largest = int(np.max(values))
            return largest + 1, f"has labels up to {largest}"
    return None


def _too_few_classes(cls: type, num_classes: int, needed: int, found: str) -> ConfigValueError:
    key = f"model.{cls.__name__}.num_classes"
    return ConfigValueError(
        f"{key} = {num_classes}, but {found}, so {cls.__name__} would have no output for "
        f"label {needed - 1}. Labels run from 0 to num_classes - 1: set {key} = {needed}.",
        key=key,
    )


@hyrax_model("HyraxCNN")
class HyraxCNN(HyraxModel):
    """Convolutional classifier: convolution stages with batch norm, global average pooling, a linear layer.

    Trains with cross-entropy against each object's ``label`` (unless ``criterion.name`` names
    another loss) and reports accuracy in validation. ``forward`` returns the class logits. Settings
    come from ``[model.HyraxCNN]``: ``num_classes`` (labels run from 0 to ``num_classes - 1``) and
    ``base_channel_size``.

    Before training or testing, :meth:`check_data` rejects an unlabelled dataset and one with more
    classes than ``num_classes``, for datasets that declare their classes (see
    :func:`declared_classes`); the labels of every batch are checked too, so any other dataset stops
    at its first out-of-range label with the same advice instead of a bare PyTorch error.

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
        self.num_classes = self.configured_classes(config)
        base = int(self.settings.get("base_channel_size", 16))
        stages = stage_channels(base, max(len(downsampled_sizes(height, width)), 1))
        self.features = encoder(channels, stages, batch_norm=True, refine=True)
        self.classifier = nn.Linear(stages[-1], self.num_classes)

    @classmethod
    def configured_classes(cls, config: Mapping) -> int:
        """``num_classes`` from the model's table of ``config``.

        Raises
        ------
        ConfigValueError
            When it is less than 2.
        """
        num_classes = int(cls.settings_in(config).get("num_classes", DEFAULT_NUM_CLASSES))
        if num_classes < 2:
            key = f"model.{cls.__name__}.num_classes"
            raise ConfigValueError(f"{key} must be at least 2; got {num_classes}.", key=key)
        return num_classes

    @classmethod
    def check_data(cls, config: Mapping, dataset: Any) -> None:
        """Check that ``dataset`` has labels, and no more classes than ``num_classes``.

        Only the label of the first object and what the dataset declares about its classes (see
        :func:`declared_classes`) are read; no image is loaded.

        Raises
        ------
        ModelDataError
            When the dataset has no labels.
        ConfigValueError
            Naming ``model.<Class>.num_classes``, its value and the number it needs, when the dataset
            has more classes.
        """
        num_classes = cls.configured_classes(config)
        if len(dataset) == 0:
            return
        if dataset.get_label(0) is None:
            raise ModelDataError(
                f"{cls.__name__} is a classifier and needs labelled data, but the dataset "
                f"{_dataset_name(dataset)} (data_set.name) has no labels. Choose a dataset with labels, "
                f"or an unsupervised model (model.name) such as HyraxAutoencoder."
            )
        declared = declared_classes(dataset)
        if declared is not None and declared[0] > num_classes:
            count, how = declared
            raise _too_few_classes(cls, num_classes, count, f"the dataset {_dataset_name(dataset)} {how}")

    def to_tensor(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The images of ``batch``, with a channel axis."""
        return as_image_batch(batch["data"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(batch, num_classes)``."""
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))

    def _labels(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if "label" not in batch:
            raise ModelDataError(
                f"{type(self).__name__} is a classifier and needs labelled data, but the dataset's items "
                f"have no 'label'. Choose a dataset with labels, or an unsupervised model such as "
                f"HyraxAutoencoder."
            )
        labels = batch["label"]
        outside = (labels < 0) | (labels >= self.num_classes)
        if bool(outside.any()):
            values = labels[outside]
            if int(values.min()) < 0:
                raise ModelDataError(
                    f"A label of the data is {int(values.min())}; {type(self).__name__} needs labels from "
                    f"0 to num_classes - 1. Number the dataset's classes from 0."
                )
            largest = int(values.max())
            position = int(torch.nonzero(labels == largest)[0, 0])
            ids = batch.get("object_id")
            if ids is not None and position < len(ids):
                found = f"object '{ids[position]}' has label {largest}"
            else:
                found = f"object number {position} of a batch has label {largest}"
            raise _too_few_classes(type(self), self.num_classes, largest + 1, found)
        return labels

    def compute_loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Cross-entropy (or the configured criterion) between the logits and the labels."""
        labels = self._labels(batch)
        return self.criterion(self(self.to_tensor(batch)), labels)

    def validate_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """Loss and accuracy of ``batch``."""
        labels = self._labels(batch)
        logits = self(self.to_tensor(batch))
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": self.criterion(logits, labels).item(), "accuracy": accuracy.item()}
