"""Reconstruction error: objects the trained autoencoder reproduces badly are odd (``docs/outliers.md``).

The model is the one whose weights made the infer run (``infer_info.json`` in its results names them),
or ``outliers.model_weights_file``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from hyrax.inference.results_format import INFER_INFO_NAME
from hyrax.outliers.base import OutlierError, OutlierMethod, ScoringJob

logger = logging.getLogger(__name__)


class ReconstructionError(OutlierMethod):
    """Mean squared reconstruction error per pixel, for models that reconstruct (the autoencoder)."""

    registry_name = "reconstruction"

    def score(self, job: ScoringJob) -> dict[str, np.ndarray]:
        """Reconstruct every object of the infer run with the model that computed it."""
        import torch

        from hyrax.datasets.loading import make_data_loader
        from hyrax.inference.trained_model import load_trained_model
        from hyrax.training.device import select_device

        source = job.source
        weights = _weights_of(job)
        origin = source.origin
        positions = source.origin_indices(np.arange(len(source)))
        config = job.config
        loader_settings = {**config["data_loader"], "batch_size": min(job.batch_size, 256)}
        seed = int(config["general"]["seed"])
        loader = make_data_loader(origin, positions, loader_settings, shuffle=False, seed=seed)
        device = select_device(config["general"]["device"])
        model = load_trained_model(
            config, origin, weights, indices=positions[:2], collate_fn=loader.collate_fn, device=device
        )
        if not callable(getattr(model, "reconstruct", None)):
            raise OutlierError(
                f"outliers.method = 'reconstruction' needs a model that reconstructs its input (a "
                f"reconstruct(x) method, as HyraxAutoencoder has); {type(model).__name__} has none. Use "
                "outliers.method = 'knn', 'isolation_forest' or 'lof' on its latent vectors instead."
            )
        means, peaks = [], []
        with torch.no_grad():
            for batch in loader:
                x = model.to_tensor(batch).to(device)
                squared = (model.reconstruct(x) - x).float().pow(2).flatten(1)
                means.append(squared.mean(dim=1).cpu().numpy())
                peaks.append(squared.max(dim=1).values.cpu().numpy())
        mse = np.concatenate(means) if means else np.empty(0)
        peak = np.concatenate(peaks) if peaks else np.empty(0)
        score = mse if job.settings["reconstruction_statistic"] == "mean" else peak
        return {"score": score, "reconstruction_mse": mse, "max_squared_residual": peak}


def _weights_of(job: ScoringJob) -> Any:
    from hyrax.inference.trained_model import find_trained_weights

    configured = job.settings["model_weights_file"]
    if not configured:
        info = job.source.results_dir / INFER_INFO_NAME
        if not info.is_file():
            raise OutlierError(
                f"{info} does not exist, so the weights that computed {job.source.results_dir} are "
                "unknown. Set outliers.model_weights_file to the weights file (or train results directory)."
            )
        configured = json.loads(info.read_text(encoding="utf-8"))["weights"]
    return find_trained_weights(
        configured,
        "outliers.model_weights_file",
        results_root=job.config["general"]["results_dir"],
        weights_filename=job.config["train"]["weights_filename"],
    ).weights
