from __future__ import annotations

import random

import numpy as np
import torch

from hyrax.training.seeding import RNGState, seed_everything


def draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_repeats_draws():
    seed_everything(5)
    first = draw()
    seed_everything(5)
    assert draw() == first


def test_state_survives_a_weights_only_round_trip(tmp_path):
    seed_everything(1)
    draw()
    torch.save(RNGState().state_dict(), tmp_path / "rng.pt")
    expected = draw()
    draw()
    RNGState().load_state_dict(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draw() == expected
