from __future__ import annotations

import torch

from hyrax.config import load_config
from hyrax.models.loopback import HyraxLoopback


def test_training_drives_the_factor_to_one():
    config = load_config()
    config["optimizer"]["kwargs"]["lr"] = 0.05
    model = HyraxLoopback(config, (3,))
    model.configure_training()
    batch = {"data": torch.rand(8, 3)}
    for _ in range(200):
        model.train_step(batch)
    assert abs(model.scale.item() - 1) < 0.01
