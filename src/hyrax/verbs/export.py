"""The ``export`` verb: write a trained model as ONNX, so inference needs no training code."""

from __future__ import annotations

import logging
from pathlib import Path

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)


@hyrax_verb("export")
class Export(Verb):
    """Write a trained model as an ONNX file (any batch size), checked against PyTorch on real data."""

    next_step = (
        "`hyrax infer --set infer.onnx_model=<the export directory>` (inference without PyTorch models)"
    )

    add_parser_kwargs = {
        "epilog": "Weights come from export.model_weights_file, or from the most recent complete train "
        "run. Needs the onnx extra: pip install 'hyrax[onnx]'."
    }

    def run(self) -> Path:
        """Export ``model.name`` with trained weights to ``model.onnx`` in a new results directory.

        The weights are ``export.model_weights_file`` (a weights file or a train results directory), or
        those of the most recent complete train run. The model is rebuilt for the configured dataset
        on the CPU, and its ``infer_step`` is exported with PyTorch's ``torch.export``-based ONNX
        exporter: one input ``data`` of shape ``(batch, *item_shape)`` with a dynamic batch size, one
        output ``output``. The file is then run with onnxruntime on the first batch of the dataset,
        and on its first object alone, and compared with PyTorch; a difference above
        ``export.tolerance`` (relative to the largest output value) is an error. ``export_info.json``
        beside it records the weights, their train run and the difference found.

        Returns
        -------
        Path
            The ONNX file.
        """
        import json

        from hyrax.datasets.loading import build_dataset, make_data_loader
        from hyrax.inference.onnx_export import check_export, export_onnx
        from hyrax.inference.onnx_model import EXPORT_INFO_NAME, ONNX_MODEL_NAME, require_onnx_packages
        from hyrax.inference.trained_model import find_trained_weights, load_trained_model

        require_onnx_packages("onnx", "onnxscript", "onnxruntime")
        config = self.config
        settings = config["export"]
        trained = find_trained_weights(
            settings["model_weights_file"],
            "export.model_weights_file",
            results_root=config["general"]["results_dir"],
            weights_filename=config["train"]["weights_filename"],
        )
        dataset = build_dataset(config)
        seed = int(config["general"]["seed"])
        loader = make_data_loader(dataset, None, config["data_loader"], shuffle=False, seed=seed)
        model = load_trained_model(config, dataset, trained.weights, collate_fn=loader.collate_fn)
        batch = next(iter(loader))
        with self.results_directory() as results_dir:
            path = export_onnx(
                model, batch, results_dir / ONNX_MODEL_NAME, opset_version=settings["opset_version"] or None
            )
            difference = check_export(path, model, batch, tolerance=float(settings["tolerance"]))
            logger.info(
                "onnxruntime matches PyTorch on %d objects of the dataset: max abs difference %.3g",
                len(batch["data"]),
                difference,
            )
            info = {
                "model": type(model).__name__,
                "weights": str(trained.weights),
                "train_dir": str(trained.train_dir) if trained.train_dir is not None else None,
                "item_shape": list(batch["data"].shape[1:]),
                "max_abs_difference": difference,
            }
            (results_dir / EXPORT_INFO_NAME).write_text(json.dumps(info, indent=1), encoding="utf-8")
        return path
