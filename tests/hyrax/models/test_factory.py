"""build_model: sizing from the dataset, the trial batch, and its errors."""

from __future__ import annotations

import pytest
import torch

from hyrax.config import load_config
from hyrax.datasets.random_dataset import HyraxRandomDataset
from hyrax.models.base import ModelDataError
from hyrax.models.factory import build_model, model_class


def random_config(shape, model="HyraxAutoencoder", num_classes=0):
    config = load_config()
    config["model"]["name"] = model
    config["data_set"]["name"] = "HyraxRandomDataset"
    table = config["data_set"]["HyraxRandomDataset"]
    table["size"], table["shape"], table["num_classes"] = 6, shape, num_classes
    return config


def test_the_model_sizes_itself_from_the_data():
    config = random_config([2, 12, 10])
    model = build_model(config, HyraxRandomDataset(config))
    assert model.sample_shape == (2, 12, 10)
    assert model.reconstruct(torch.rand(3, 2, 12, 10)).shape == (3, 2, 12, 10)
    assert model.training


def test_lazy_layers_are_materialised_by_the_trial_batch():
    from hyrax.models.base import HyraxModel

    class Lazy(HyraxModel):
        def __init__(self, config, sample_shape):
            super().__init__(config, sample_shape)
            self.layer = torch.nn.LazyLinear(3)

        def forward(self, x):
            return self.layer(x)

        def compute_loss(self, batch):
            return self(batch["data"]).sum()

    config = random_config([5])
    config["model"]["name"] = f"{__name__}.Lazy"
    globals()["Lazy"] = Lazy
    model = build_model(config, HyraxRandomDataset(config))
    assert model.layer.weight.shape == (3, 5)


def test_a_model_that_fails_on_the_data_names_model_shape_and_dataset():
    config = random_config([7])
    with pytest.raises(ModelDataError) as error:
        build_model(config, HyraxRandomDataset(config))
    message = str(error.value)
    assert "HyraxAutoencoder" in message and "(7,)" in message and "HyraxRandomDataset" in message


def test_a_model_that_fails_on_the_trial_batch_names_the_input_shape():
    config = random_config([1, 8, 8], model="HyraxCNN")
    with pytest.raises(ModelDataError) as error:
        build_model(config, HyraxRandomDataset(config))
    message = str(error.value)
    assert "HyraxCNN" in message and "(2, 1, 8, 8)" in message and "HyraxRandomDataset" in message
    assert "needs labelled data" in message


def test_a_name_that_is_not_a_model_class():
    config = random_config([1, 8, 8])
    config["model"]["name"] = "collections.OrderedDict"
    with pytest.raises(TypeError, match="not a Hyrax model"):
        model_class(config)
