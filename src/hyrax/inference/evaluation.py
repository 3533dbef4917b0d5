"""Evaluating a trained model on held-out data: mean step metrics, and confusion matrices of classifiers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hyrax.models.base import HyraxModel, ModelDataError
from hyrax.training.device import batch_mover

_CLASSIFIER_LOSSES = (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)


@dataclass
class Evaluation:
    """What :func:`evaluate` measured.

    Attributes
    ----------
    metrics : dict of str to float
        The mean over batches of each value ``validate_step`` returns (``"loss"`` at least), as in
        training's validation; for classifiers ``"accuracy"`` is replaced by the exact fraction of
        objects classified correctly.
    confusion : numpy.ndarray or None
        For classifiers, ``confusion[true, predicted]`` object counts.
    n_objects : int
        Objects evaluated.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    n_objects: int = 0


def is_classifier(model: Any) -> bool:
    """True for models that output class scores: an integer ``num_classes`` or a classification loss."""
    num_classes = getattr(model, "num_classes", None)
    if isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 2:
        return True
    return isinstance(getattr(model, "criterion", None), _CLASSIFIER_LOSSES)


class _Confusion:
    """Counts (true, predicted) label pairs from the class scores of each batch.

    The scores are those ``infer_step`` returns. With the default ``infer_step``, which is the
    model's forward pass, they are the output of the forward pass ``validate_step`` already made,
    caught by a forward hook into ``outputs``, so each batch goes through the model once; a model that
    overrides ``infer_step``, or whose ``validate_step`` does not call the model exactly once, is run
    through ``infer_step`` again.
    """

    def __init__(self, model: Any, device: torch.device) -> None:
        self.model = model
        self.move = batch_mover(device)
        self.matrix: np.ndarray | None = None
        self.outputs: list[Any] = []
        self.reuse_forward = getattr(type(model), "infer_step", None) is HyraxModel.infer_step

    def catch(self, module: Any, inputs: Any, output: Any) -> None:
        self.outputs.append(output)

    def update(self, batch: Any) -> None:
        """Add the (label, predicted class) pairs of ``batch``, as the data loader gave it."""
        scores = self.outputs[0] if self.reuse_forward and len(self.outputs) == 1 else None
        usable = isinstance(scores, torch.Tensor) and scores.dim() == 2 and len(scores) == len(batch["label"])
        if not usable:
            with torch.no_grad():
                scores = self.model.infer_step(self.move(batch))
        if scores.dim() != 2:
            raise ModelDataError(
                f"{type(self.model).__name__} is evaluated as a classifier, but infer_step returned shape "
                f"{tuple(scores.shape)} instead of (batch, classes)."
            )
        classes = scores.shape[1]
        labels = batch["label"].to("cpu").numpy().astype(np.int64)
        predicted = scores.argmax(dim=1).to("cpu").numpy()
        if labels.min() < 0 or labels.max() >= classes:
            raise ModelDataError(
                f"The labels of the test split run from {labels.min()} to {labels.max()}, but "
                f"{type(self.model).__name__} scores {classes} classes: train it with a number of classes "
                f"that covers every label, from 0."
            )
        if self.matrix is None:
            self.matrix = np.zeros((classes, classes), dtype=np.int64)
        self.matrix += np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(
            classes, classes
        )


def evaluate(model: Any, loader: Iterable, *, device: torch.device) -> Evaluation:
    """Run ``model.validate_step`` over ``loader``, and build a confusion matrix for classifiers.

    The metrics come from the evaluation engine of training
    (:func:`hyrax.training.engines.create_evaluator`), so test metrics mean what validation metrics
    mean. For a classifier on labelled batches the predictions are counted from the class scores of
    the same forward pass (see :class:`_Confusion`), so each batch runs through the model once.

    Parameters
    ----------
    model : HyraxModel
        The trained model, on ``device``.
    loader : iterable of dict
        Batches of the held-out objects.
    device : torch.device
        Where batches are moved.

    Returns
    -------
    Evaluation
        Metrics, confusion matrix (classifiers only) and the object count.
    """
    from ignite.engine import Events

    from hyrax.training.engines import create_evaluator

    evaluator = create_evaluator(model, device=device)
    confusion = _Confusion(model, device) if is_classifier(model) else None
    counted = {"objects": 0}

    def after_batch(engine: Any) -> None:
        batch = engine.state.batch
        counted["objects"] += len(batch["object_id"])
        if confusion is not None:
            if "label" in batch:
                confusion.update(batch)
            confusion.outputs.clear()

    evaluator.add_event_handler(Events.ITERATION_COMPLETED, after_batch)
    # The hook's handle removes it when the run ends, however it ends.
    with model.register_forward_hook(confusion.catch) if confusion else contextlib.nullcontext():
        state = evaluator.run(loader)
    result = Evaluation({k: float(v) for k, v in state.metrics.items()}, n_objects=counted["objects"])
    if confusion is not None and confusion.matrix is not None:
        result.confusion = confusion.matrix
        result.metrics["accuracy"] = float(np.trace(confusion.matrix) / max(confusion.matrix.sum(), 1))
    return result


def plot_confusion_matrix(
    matrix: np.ndarray, path: str | os.PathLike, class_names: Sequence[str] | None = None, title: str = ""
) -> Path:
    """Draw ``matrix`` (true classes as rows) with its counts as a PNG; return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = len(matrix)
    names = list(class_names) if class_names is not None and len(class_names) == classes else None
    labels = names or [str(i) for i in range(classes)]
    size = max(4.0, 0.6 * classes + 2.5)
    figure = Figure(figsize=(size, size), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8, label="objects")
    axes.set_xticks(range(classes), labels, rotation=45, ha="right")
    axes.set_yticks(range(classes), labels)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for true, predicted in np.ndindex(matrix.shape):
        count = int(matrix[true, predicted])
        colour = "white" if count > threshold else "black"
        axes.text(predicted, true, str(count), ha="center", va="center", color=colour, fontsize=8)
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path
