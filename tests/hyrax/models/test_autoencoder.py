from __future__ import annotations

import pytest
import torch

from hyrax.config import load_config
from hyrax.models.autoencoder import HyraxAutoencoder
from hyrax.models.base import ModelDataError
from hyrax.registry import MODEL_REGISTRY


@pytest.mark.parametrize("shape", [(3, 64, 64), (5, 65, 63), (1, 4, 4), (28, 28), (2, 3, 100)])
def test_latent_and_reconstruction_shapes(shape):
    config = load_config()
    config["model"]["HyraxAutoencoder"]["latent_dim"] = 7
    model = HyraxAutoencoder(config, shape)
    x = model.to_tensor({"data": torch.rand(2, *shape)})
    assert model(x).shape == (2, 7)
    assert model.reconstruct(x).shape == x.shape
    assert model.compute_loss({"data": torch.rand(2, *shape)}).dim() == 0


def test_non_image_data_is_refused():
    with pytest.raises(ModelDataError, match=r"HyraxAutoencoder takes images.*\(10,\)"):
        HyraxAutoencoder(load_config(), (10,))


def test_registered_as_default_model():
    assert MODEL_REGISTRY.get(load_config()["model"]["name"]) is HyraxAutoencoder
