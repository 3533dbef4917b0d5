"""The ``infer`` verb: run a trained model over a dataset and save one output vector per object."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)


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


def loader_settings(config: Mapping) -> dict[str, Any]:
    """The ``[data_loader]`` table with ``infer.batch_size`` applied."""
    settings = dict(config["data_loader"])
    if config["infer"]["batch_size"] is not False:
        settings["batch_size"] = config["infer"]["batch_size"]
    return settings


@hyrax_verb("infer")
class Infer(Verb):
    """Run a trained model over a dataset and save one output vector per object."""

    next_step = "`hyrax umap` (a 2-D map to look at) or `hyrax save_to_database` (for `hyrax lookup`)"

    add_parser_kwargs = {
        "epilog": "Weights come from infer.model_weights_file, or from the most recent complete train "
        "run. Read the results back with InferenceDataSet, or reduce them with `hyrax umap`."
    }

    def run(self) -> Any:
        """Run ``model.name`` with trained weights over ``infer.split``, or over the whole dataset.

        The weights are ``infer.model_weights_file`` (a weights file or a train results directory), or
        those of the most recent complete train run; a split is the one that run saved. Batches of
        ``infer.batch_size`` (or ``data_loader.batch_size``) stream into a new results directory as
        ``batch_<N>.npy`` files of ids and vectors, then ``batch_index.npy`` (id to file and row) and
        ``dataset_config.toml`` (to reach the original dataset's metadata) are written; the run is
        marked complete last, so an interrupted run is never read by a later verb.

        Returns
        -------
        InferenceDataSet
            The results, memory-mapped.
        """
        import json
        import time
        from pathlib import Path

        from hyrax.datasets.inference_dataset import InferenceDataSet
        from hyrax.datasets.loading import build_dataset, make_data_loader
        from hyrax.inference.results_format import INFER_INFO_NAME, write_dataset_config
        from hyrax.inference.results_writer import ResultsWriter
        from hyrax.inference.runner import infer_into
        from hyrax.inference.trained_model import find_trained_weights, load_trained_model, split_indices
        from hyrax.training.device import select_device

        config = self.config
        settings = config["infer"]
        trained = find_trained_weights(config, settings["model_weights_file"], "infer.model_weights_file")
        dataset = build_dataset(config)
        indices = split_indices(trained, settings["split"], len(dataset), "infer.split")
        seed = int(config["general"]["seed"])
        loader = make_data_loader(dataset, indices, loader_settings(config), shuffle=False, seed=seed)
        device = select_device(config["general"]["device"])
        model = load_trained_model(
            config, dataset, trained.weights, indices=indices, collate_fn=loader.collate_fn, device=device
        )
        with self.results_directory() as results_dir:
            started = time.perf_counter()
            with ResultsWriter(results_dir) as writer:
                count = infer_into(model, loader, writer, device=device)
            write_dataset_config(results_dir, config, origin_overrides(dataset))
            (results_dir / INFER_INFO_NAME).write_text(
                json.dumps({"weights": str(Path(trained.weights).resolve()), "objects": count}),
                encoding="utf-8",
            )
            seconds = time.perf_counter() - started
            logger.info(
                "Inferred %d objects in %.1f s (%.0f per second) into %s",
                count,
                seconds,
                count / max(seconds, 1e-9),
                results_dir,
            )
        return InferenceDataSet.from_directory(results_dir, config)
