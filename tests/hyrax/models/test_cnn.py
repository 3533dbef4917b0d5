from __future__ import annotations

import numpy as np
import pytest
import torch

from hyrax.config import load_config
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.cache import CachedDataset
from hyrax.datasets.random_dataset import HyraxRandomDataset
from hyrax.datasets.synthetic_galaxy_dataset import SyntheticGalaxyDataSet
from hyrax.errors import ConfigError
from hyrax.models.base import ModelDataError
from hyrax.models.cnn import HyraxCNN, declared_classes

KEY = "model.HyraxCNN.num_classes"


class LabelledOnly(HyraxDataset):
    """Images whose labels are known only by reading each object, as in many plug-in datasets."""

    registry_name = None

    def __init__(self, labels):
        super().__init__(None)
        self._labels = list(labels)

    def __len__(self):
        return len(self._labels)

    def ids(self):
        return [f"obj{i}" for i in range(len(self))]

    def get_data(self, index):
        return np.zeros((1, 8, 8), dtype=np.float32)

    def get_label(self, index):
        return self._labels[index]


def random_dataset(num_classes):
    config = load_config()
    table = config["data_set"]["HyraxRandomDataset"]
    table["size"], table["shape"], table["num_classes"] = 20, [1, 8, 8], num_classes
    return HyraxRandomDataset(config)


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
    config["general"]["dev_mode"] = True  # lets the value past the configuration's own check
    config["model"]["HyraxCNN"]["num_classes"] = 1
    with pytest.raises(ConfigError, match="num_classes must be at least 2") as error:
        HyraxCNN(config, (1, 16, 16))
    assert error.value.key == KEY
    with pytest.raises(ConfigError, match="at least 2"):
        HyraxCNN.check_data(config, random_dataset(3))


def test_more_dataset_classes_than_num_classes_is_a_config_error_with_the_fix():
    config = load_config()
    assert config["model"]["HyraxCNN"]["num_classes"] == 5
    for dataset in (random_dataset(10), CachedDataset(random_dataset(10), 1000)):
        with pytest.raises(ConfigError) as error:
            HyraxCNN.check_data(config, dataset)
        message = str(error.value)
        assert error.value.key == KEY
        assert f"{KEY} = 5" in message and "HyraxRandomDataset has num_classes = 10" in message
        assert f"set {KEY} = 10" in message

    config["data_set"]["SyntheticGalaxyDataSet"]["size"] = 4
    galaxies = SyntheticGalaxyDataSet(config)
    config["model"]["HyraxCNN"]["num_classes"] = 3
    with pytest.raises(ConfigError, match=rf"has 5 classes \(elliptical, spiral.*set {KEY} = 5"):
        HyraxCNN.check_data(config, galaxies)

    config["model"]["HyraxCNN"]["num_classes"] = 10
    HyraxCNN.check_data(config, random_dataset(10))
    HyraxCNN.check_data(config, galaxies)


def test_declared_classes_from_names_count_or_labels():
    class Declared(LabelledOnly):
        class_names = [f"class{i}" for i in range(12)]

    class WithLabels(LabelledOnly):
        def labels(self):
            return np.asarray(self._labels)

    count, how = declared_classes(Declared([0]))
    assert count == 12 and how.endswith("class9, ...)")
    assert declared_classes(random_dataset(4)) == (4, "has num_classes = 4")
    assert declared_classes(WithLabels([0, 6, 2])) == (7, "has labels up to 6")
    with pytest.raises(ConfigError, match=rf"has labels up to 6, .*set {KEY} = 7"):
        HyraxCNN.check_data(load_config(), WithLabels([0, 6, 2]))


def test_an_unlabelled_dataset_is_refused_before_training():
    with pytest.raises(ModelDataError, match="needs labelled data.*HyraxRandomDataset.*HyraxAutoencoder"):
        HyraxCNN.check_data(load_config(), random_dataset(0))


def test_labels_beyond_num_classes_in_a_batch_name_the_object_and_the_fix():
    dataset = LabelledOnly([0, 3, 7, 1])
    assert declared_classes(dataset) is None
    HyraxCNN.check_data(load_config(), dataset)  # nothing declared: the batches are checked instead
    model = HyraxCNN(load_config(), (1, 8, 8))
    batch = torch.utils.data.default_collate([dataset[i] for i in range(4)])
    with pytest.raises(ConfigError) as error:
        model.compute_loss(batch)
    assert error.value.key == KEY
    assert "object 'obj2' has label 7" in str(error.value) and f"set {KEY} = 8" in str(error.value)
    with torch.no_grad(), pytest.raises(ConfigError, match=f"set {KEY} = 8"):
        model.validate_step(batch)

    batch["label"] = torch.tensor([0, -1, 1, 2])
    with pytest.raises(ModelDataError, match="label of the data is -1.*from 0"):
        model.compute_loss(batch)
