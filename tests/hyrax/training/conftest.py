"""Small, fast training configurations and a model that records its losses."""

from __future__ import annotations

import os
import signal
from typing import ClassVar

import pytest

from hyrax.config import ConfigManager
from hyrax.models.autoencoder import HyraxAutoencoder
from hyrax.models.base import hyrax_model


@hyrax_model("RecordingAutoencoder", force=True)
class RecordingAutoencoder(HyraxAutoencoder):
    """HyraxAutoencoder that appends every training loss to ``losses`` and can Ctrl-C itself."""

    losses: ClassVar[list[float]] = []
    interrupt_at: ClassVar[int | None] = None

    def train_step(self, batch):
        output = super().train_step(batch)
        type(self).losses.append(output["loss"])
        if len(type(self).losses) == type(self).interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return output


@pytest.fixture
def recording_model():
    RecordingAutoencoder.losses = []
    RecordingAutoencoder.interrupt_at = None
    yield RecordingAutoencoder
    RecordingAutoencoder.losses = []
    RecordingAutoencoder.interrupt_at = None


def small_settings(**overrides):
    """Runtime overrides for a run of a few seconds on random 1x8x8 images."""
    settings = {
        "general": {"seed": 7},
        "model": {"name": "HyraxAutoencoder"},
        "data_set": {
            "name": "HyraxRandomDataset",
            "HyraxRandomDataset": {"size": 40, "shape": [1, 8, 8], "num_classes": 0},
            "train_size": 0.6,
            "validate_size": 0.2,
            "test_size": 0.2,
        },
        "data_loader": {"batch_size": 6},
        "train": {"epochs": 2, "progress_bar": False, "mlflow": False, "tensorboard": False},
    }
    for table, values in overrides.items():
        settings.setdefault(table, {}).update(values)
    return settings


@pytest.fixture
def settings():
    """:func:`small_settings`, for tests that build the configuration themselves."""
    return small_settings


@pytest.fixture
def small_manager(work_dir):
    """A ConfigManager for a tiny training run whose results land in the test's folder."""

    def make(**overrides):
        return ConfigManager(runtime_config=small_settings(**overrides))

    return make
