"""Both real models learn on the default synthetic dataset: their training loss falls."""

from __future__ import annotations

import pytest
import torch

from hyrax.config import load_config
from hyrax.datasets.loading import build_dataset, make_data_loader
from hyrax.models.factory import build_model


def epoch_losses(model_name, epochs=6, size=256, image_size=32):
    """Train ``model_name`` a few epochs on a small default dataset; return each epoch's mean loss."""
    # The initial weights come from torch's global generator, which earlier tests in this process move.
    torch.manual_seed(3)
    config = load_config()
    config["general"]["seed"] = 3
    config["model"]["name"] = model_name
    config["data_set"]["SyntheticGalaxyDataSet"]["size"] = size
    config["data_set"]["SyntheticGalaxyDataSet"]["image_size"] = image_size
    dataset = build_dataset(config)
    loader = make_data_loader(dataset, None, config["data_loader"], shuffle=True, seed=3)
    model = build_model(config, dataset)
    model.configure_training()
    losses = []
    for _ in range(epochs):
        steps = [model.train_step(batch)["loss"] for batch in loader]
        losses.append(sum(steps) / len(steps))
    return losses


@pytest.mark.parametrize("model_name", ["HyraxAutoencoder", "HyraxCNN"])
def test_loss_falls_on_the_default_dataset(model_name):
    assert load_config()["data_set"]["name"] == "SyntheticGalaxyDataSet"
    losses = epoch_losses(model_name)
    assert losses[-1] < 0.8 * losses[0], losses
