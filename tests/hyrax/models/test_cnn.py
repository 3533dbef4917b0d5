from __future__ import annotations

import pytest
import torch

from hyrax.config import load_config
from hyrax.models.base import ModelDataError
from hyrax.models.cnn import HyraxCNN


def test_logits_loss_and_accuracy():
    model = HyraxCNN(load_config(), (3, 32, 32))
    assert isinstance(model.criterion, torch.nn.CrossEntropyLoss)
    batch = {"data": torch.rand(4, 3, 32, 32), "label": torch.tensor([0, 1, 2, 4])}
    assert model(batch["data"]).shape == (4, 5)
    with torch.no_grad():
        metrics = model.validate_step(batch)
    assert set(metrics) == {"loss", "accuracy"} and 0 <= metrics["accuracy"] <= 1


def test_unlabelled_data_is_explained():
    with pytest.raises(ModelDataError, match="needs labelled data"):
        HyraxCNN(load_config(), (1, 16, 16)).compute_loss({"data": torch.rand(2, 1, 16, 16)})


def test_num_classes_must_make_a_classifier():
    config = load_config()
    config["model"]["HyraxCNN"]["num_classes"] = 1
    with pytest.raises(ModelDataError, match="num_classes"):
        HyraxCNN(config, (1, 16, 16))
