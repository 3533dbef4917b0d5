"""The ``infer`` verb: run a trained model over a dataset and save one output vector per object."""

from __future__ import annotations

import logging
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)


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

        With ``infer.nproc_per_node = N``, or under ``torchrun``, each process infers a contiguous
        share of the objects and the shares are joined at the end into the same results one process
        writes (see :mod:`hyrax.inference.shares`).

        Returns
        -------
        InferenceDataSet or None
            The results, memory-mapped; None in torchrun ranks other than 0, which write no results
            directory of their own.
        """
        import json
        import time

        from hyrax.datasets.inference_dataset import InferenceDataSet
        from hyrax.inference.results_format import INFER_INFO_NAME, write_dataset_config
        from hyrax.inference.results_writer import merge_parts
        from hyrax.inference.shares import OVERRIDES_NAME, InferJob, infer_share, part_dir
        from hyrax.training.distributed import Launch

        config = self.config
        settings = config["infer"]
        launch = Launch.from_settings(
            settings["distributed_backend"], settings["nproc_per_node"], config["general"]["device"], "infer"
        )
        if not launch.is_main:
            launch.run(infer_share, InferJob(config, None))
            return None
        with self.results_directory() as results_dir:
            started = time.perf_counter()
            launch.run(infer_share, InferJob(config, results_dir))
            count = merge_parts(
                results_dir, [part_dir(results_dir, rank) for rank in range(launch.world_size)]
            )
            details = json.loads((results_dir / OVERRIDES_NAME).read_text(encoding="utf-8"))
            (results_dir / OVERRIDES_NAME).unlink()
            write_dataset_config(results_dir, config, details["overrides"])
            record = {"weights": details["weights"], "objects": count, "processes": launch.world_size}
            if "onnx_model" in details:
                record["onnx_model"] = details["onnx_model"]
            (results_dir / INFER_INFO_NAME).write_text(json.dumps(record), encoding="utf-8")
            seconds = time.perf_counter() - started
            # With several processes the time includes starting them and joining their shares.
            processes = "1 process" if launch.world_size == 1 else f"{launch.world_size} processes, started"
            logger.info(
                "Inferred %d objects in %.1f s (%.0f per second, %s) into %s",
                count,
                seconds,
                count / max(seconds, 1e-9),
                processes,
                results_dir,
            )
        return InferenceDataSet.from_directory(results_dir, config)
