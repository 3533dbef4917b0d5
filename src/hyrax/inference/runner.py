"""The inference loop: a model's ``infer_step`` over a data loader, streamed into a results directory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from hyrax.inference.results_writer import ResultsWriter
from hyrax.training.device import batch_mover

logger = logging.getLogger(__name__)


def infer_into(
    model: Any,
    loader: Iterable,
    writer: ResultsWriter,
    *,
    device: torch.device | None = None,
    progress: bool | None = None,
) -> int:
    """Write ``model.infer_step`` of every batch of ``loader`` into ``writer``, with each object's id.

    Parameters
    ----------
    model : HyraxModel
        The model, on ``device`` and in eval mode.
    loader : iterable of dict
        Batches with ``"data"``, ``"object_id"`` and ``"index"`` (and ``"label"`` for labelled data).
    writer : ResultsWriter
        Where the rows go; it is not closed here.
    device : torch.device, optional
        Where batches are moved before the step; the CPU when omitted.
    progress : bool or None
        Show a progress bar; None shows one only in a terminal or a notebook.

    Returns
    -------
    int
        The number of objects written.

    Raises
    ------
    ModelDataError
        When ``infer_step`` does not return a tensor with one row per object.
    """
    from tqdm.auto import tqdm

    from hyrax.models.base import ModelDataError

    move = batch_mover(device or torch.device("cpu"), non_blocking=True)
    total = len(loader) if hasattr(loader, "__len__") else None
    # tqdm's disable=None hides the bar when the output is not a terminal (e.g. a log file).
    disable = None if progress is None else not progress
    count = 0
    with torch.no_grad():
        for batch in tqdm(loader, total=total, desc="infer", unit="batch", disable=disable):
            if not isinstance(batch, Mapping) or "object_id" not in batch or "index" not in batch:
                raise TypeError(
                    f"Inference needs batches that are dicts with 'object_id' and 'index' entries, as the "
                    f"default collate function makes them; got {type(batch).__name__}. A custom "
                    f"data_loader.collate_fn must keep those entries."
                )
            output = model.infer_step(move(batch))
            ids = batch["object_id"]
            if not isinstance(output, torch.Tensor) or output.dim() == 0 or len(output) != len(ids):
                shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
                raise ModelDataError(
                    f"{type(model).__name__}.infer_step returned {shape} for a batch of {len(ids)} objects; "
                    f"it must return a tensor with one row per object."
                )
            labels = batch.get("label")
            writer.write(
                ids,
                output.detach().to("cpu", torch.float32).numpy(),
                batch["index"].numpy() if isinstance(batch["index"], torch.Tensor) else batch["index"],
                labels.numpy() if isinstance(labels, torch.Tensor) else labels,
            )
            count += len(ids)
    return count
