"""Inference in one or several processes: each infers a contiguous share of the objects.

Every process (rank) infers its share (cut at batch boundaries, see :func:`share_bounds`) into
``<results_dir>/.rank_<r>/`` with a :class:`~hyrax.inference.results_writer.ResultsWriter` in part mode;
after a barrier, the owner of the results directory joins the shares with
:func:`~hyrax.inference.results_writer.merge_parts` (see docs/distributed.md). A rank that dies leaves
no ``part.json``, so the merge refuses and the run stays incomplete, never chained to a later verb.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

OVERRIDES_NAME = "dataset_overrides.json"


@dataclass
class InferJob:
    """What every process of an infer run needs; picklable, so spawned processes receive it.

    Attributes
    ----------
    config : ConfigDict
        The whole configuration.
    results_dir : Path or None
        The run's results directory; None in torchrun ranks other than 0, which receive it from rank 0.
    """

    config: Any
    results_dir: Path | None


def part_dir(results_dir: Path, rank: int) -> Path:
    """The folder where rank ``rank`` writes its share."""
    return Path(results_dir) / f".rank_{rank}"


def origin_overrides(dataset: Any) -> dict[str, Any]:
    """Keys to pin in ``dataset_config.toml`` so it rebuilds exactly ``dataset`` later.

    An InferenceDataSet whose ``results_dir`` was false took the newest infer run, and an HSCDataSet
    whose ``data_dir`` was false the newest download; the copy names the directory actually read,
    which a later run would otherwise replace.
    """
    from hyrax.datasets.hsc_dataset import HSCDataSet
    from hyrax.datasets.inference_dataset import InferenceDataSet

    inner = getattr(dataset, "dataset", dataset)  # a CachedDataset wraps the dataset
    if isinstance(inner, InferenceDataSet):
        return {"data_set.InferenceDataSet.results_dir": str(inner.results_dir)}
    if isinstance(inner, HSCDataSet):
        return {f"data_set.{inner.config_table}.data_dir": str(inner.folder.resolve())}
    return {}


def share_bounds(n_objects: int, world_size: int, batch_size: int) -> list[slice]:
    """Contiguous shares of ``n_objects``, one per rank, cut at multiples of ``batch_size``.

    Cutting at batch boundaries gives every rank exactly the batches one process would make, so the
    model sees the same batches and computes the same vectors.

    Examples
    --------
    >>> share_bounds(50, 2, 6)
    [slice(0, 24, None), slice(24, 50, None)]
    """
    batches = -(-n_objects // batch_size)
    cuts = [min(n_objects, batch_size * (batches * rank // world_size)) for rank in range(world_size + 1)]
    return [slice(cuts[rank], cuts[rank + 1]) for rank in range(world_size)]


def infer_share(local_rank: int, job: InferJob) -> int:
    """Infer this process's share of the objects into its part folder; return how many it wrote.

    Parameters
    ----------
    local_rank : int
        The process's rank on its node (it picks the GPU).
    job : InferJob
        The configuration and results directory.
    """
    import torch

    from hyrax.datasets.loading import build_dataset, make_data_loader
    from hyrax.inference.results_writer import ResultsWriter
    from hyrax.inference.runner import infer_into
    from hyrax.inference.trained_model import find_trained_weights, load_trained_model, split_indices
    from hyrax.training.distributed import rank_and_world_size, setup_process

    config = job.config
    device = setup_process(config["general"], local_rank)
    rank, world_size = rank_and_world_size()
    results_dir = job.results_dir
    if world_size > 1:
        import ignite.distributed as idist

        results_dir = Path(idist.broadcast(str(results_dir) if rank == 0 else "", src=0, safe_mode=True))
    settings = config["infer"]
    dataset = build_dataset(config)
    if settings["onnx_model"]:
        model, trained = _onnx_model(settings, config["general"]["device"])
        device = torch.device("cpu")  # onnxruntime takes host arrays and picks its own device
    else:
        trained = find_trained_weights(
            settings["model_weights_file"],
            "infer.model_weights_file",
            results_root=config["general"]["results_dir"],
            weights_filename=config["train"]["weights_filename"],
        )
    indices = split_indices(trained, settings["split"], len(dataset), "infer.split")
    everything = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    loading = dict(config["data_loader"])
    if settings["batch_size"] is not False:
        loading["batch_size"] = settings["batch_size"]
    share = everything[share_bounds(len(everything), world_size, int(loading["batch_size"]))[rank]]
    seed = int(config["general"]["seed"])
    # One process inferring everything reads the dataset directly, without a Subset's index lookups.
    whole = indices is None and world_size == 1
    loader = make_data_loader(dataset, None if whole else share, loading, shuffle=False, seed=seed)
    if settings["onnx_model"]:
        if len(everything):
            model.check_item_shape(tuple(dataset[int(everything[0])]["data"].shape))
    else:
        model = load_trained_model(
            config, dataset, trained.weights, indices=everything, collate_fn=loader.collate_fn, device=device
        )
    folder = part_dir(results_dir, rank)
    folder.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        details = {"overrides": origin_overrides(dataset), "weights": str(trained.weights)}
        if settings["onnx_model"]:
            details["onnx_model"] = str(model.path)
        (Path(results_dir) / OVERRIDES_NAME).write_text(json.dumps(details), encoding="utf-8")
    with ResultsWriter(folder, part=True) as writer:
        count = infer_into(model, loader, writer, device=device, progress=None if rank == 0 else False)
    if world_size > 1:
        logger.debug("Rank %d of %d inferred %d objects", rank, world_size, count)
        idist.barrier()
    return count


def _onnx_model(settings: Any, device: str) -> tuple[Any, Any]:
    """The ONNX model of ``infer.onnx_model``, and the weights and train run it was exported from.

    The train run (recorded by ``hyrax export``) gives ``infer.split`` its saved splits.
    """
    import torch

    from hyrax.errors import ConfigError
    from hyrax.inference.onnx_model import OnnxModel, read_export_info
    from hyrax.inference.trained_model import TrainedWeights

    model = OnnxModel(settings["onnx_model"], device=device, threads=torch.get_num_threads())
    info = read_export_info(model.path)
    train_dir = Path(info["train_dir"]) if info.get("train_dir") else None
    if settings["split"] is not False and train_dir is None:
        raise ConfigError(
            f"infer.split = {settings['split']!r} needs the splits of the train run the ONNX model came "
            f"from, but {model.path} has no export_info.json naming it. Set infer.split = false, or "
            "export the model again with `hyrax export`.",
            key="infer.split",
        )
    return model, TrainedWeights(Path(info.get("weights") or model.path), train_dir)
