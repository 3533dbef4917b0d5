"""The ``test`` verb: evaluate a trained model on the test split it was trained beside."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)

METRICS_NAME = "test_metrics.json"
CONFUSION_MATRIX_NAME = "confusion_matrix.png"
CONFUSION_COUNTS_NAME = "confusion_matrix.npy"


@hyrax_verb("test")
class Test(Verb):
    """Evaluate a trained model on the test split: loss, and accuracy with a confusion matrix."""

    next_step = "`hyrax infer` (a latent vector per object)"

    add_parser_kwargs = {
        "epilog": "Weights come from test.model_weights_file, or from the most recent complete train run; "
        "the test split is the one that run saved."
    }

    def run(self) -> dict[str, float]:
        """Evaluate the trained model on the test split of the train run its weights come from.

        The metrics are the means over the test batches of what the model's ``validate_step``
        returns (``loss`` at least), as in validation during training. For classifiers on labelled
        data, ``accuracy`` is the fraction of test objects classified correctly and the confusion
        matrix is saved as ``confusion_matrix.png`` (and its counts as ``confusion_matrix.npy``). The
        metrics go to ``test_metrics.json`` and, with ``train.mlflow``, to the MLflow store as
        ``test_<name>``.

        Returns
        -------
        dict of str to float
            The metrics, e.g. ``{"loss": 0.41, "accuracy": 0.87}``.
        """
        from hyrax.datasets.loading import build_dataset, make_data_loader
        from hyrax.errors import ConfigError
        from hyrax.inference.evaluation import evaluate
        from hyrax.inference.trained_model import find_trained_weights, load_trained_model, split_indices
        from hyrax.models.factory import model_class
        from hyrax.training import mlflow_store
        from hyrax.training.device import select_device

        config = self.config
        key = "test.model_weights_file"
        trained = find_trained_weights(
            config["test"]["model_weights_file"],
            key,
            results_root=config["general"]["results_dir"],
            weights_filename=config["train"]["weights_filename"],
        )
        if trained.train_dir is None:
            raise ConfigError(
                f"The test split is saved by the train run, but the weights {trained.weights} are not in a "
                f"train results directory (no splits.npz beside them). Set {key} to the train results "
                f"directory, or to false for the most recent complete train run.",
                key=key,
            )
        dataset = build_dataset(config)
        model_class(config).check_data(config, dataset)
        indices = split_indices(trained, "test", len(dataset), key)
        if len(indices) == 0:
            raise ConfigError(
                f"The test split of {trained.train_dir} is empty (data_set.test_size was 0 for that run). "
                f"Train with a non-empty test split to evaluate on it.",
                key="data_set.test_size",
            )
        seed = int(config["general"]["seed"])
        loader = make_data_loader(dataset, indices, config["data_loader"], shuffle=False, seed=seed)
        device = select_device(config["general"]["device"])
        model = load_trained_model(
            config, dataset, trained.weights, indices=indices, collate_fn=loader.collate_fn, device=device
        )
        with self.results_directory() as results_dir:
            run = None
            if config["train"]["mlflow"]:
                # MLflow imports and opens its store in the background while the model evaluates.
                run = mlflow_store.open_run(
                    Path(config["general"]["results_dir"]) / mlflow_store.STORE_DIR_NAME,
                    config["train"]["experiment_name"],
                    results_dir,
                    params=mlflow_store.config_params(config),
                    tags={"hyrax.verb": "test", "hyrax.weights": str(trained.weights)},
                )
            try:
                started = time.perf_counter()
                evaluation = evaluate(model, loader, device=device)
                seconds = time.perf_counter() - started
                artifacts = _write_report(results_dir, evaluation, dataset, trained.weights)
            except BaseException as error:
                if run is not None:
                    run.close(mlflow_store.ending_status(error), [])
                raise
            if run is not None:
                mlflow_store.record_run(
                    run, {f"test_{n}": v for n, v in evaluation.metrics.items()}, artifacts
                )
            logger.info(
                "Tested %d objects in %.1f s: %s",
                evaluation.n_objects,
                seconds,
                ", ".join(f"{name} {value:.4g}" for name, value in evaluation.metrics.items()),
            )
        return evaluation.metrics


def _write_report(results_dir: Path, evaluation: Any, dataset: Any, weights: Path) -> list[Path]:
    """Write ``metrics.json`` (and the confusion matrix of a classifier); return the files written."""
    import json

    import numpy as np

    from hyrax.inference.evaluation import plot_confusion_matrix

    artifacts = [results_dir / METRICS_NAME]
    report = {"metrics": evaluation.metrics, "n_objects": evaluation.n_objects, "weights": str(weights)}
    if evaluation.confusion is not None:
        np.save(results_dir / CONFUSION_COUNTS_NAME, evaluation.confusion)
        class_names = getattr(getattr(dataset, "dataset", dataset), "class_names", None)
        artifacts.append(
            plot_confusion_matrix(
                evaluation.confusion, results_dir / CONFUSION_MATRIX_NAME, class_names, results_dir.name
            )
        )
        report["confusion_matrix"] = evaluation.confusion.tolist()
    (results_dir / METRICS_NAME).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return artifacts
