from __future__ import annotations

import torch

from hyrax.config import load_config
from hyrax.models.loopback import HyraxLoopback
from hyrax.training.engines import EpochMeans, create_evaluator, create_trainer


def batches():
    return [{"data": torch.full((2, 3), float(i + 1))} for i in range(3)]


def test_trainer_runs_train_step_and_averages_outputs():
    model = HyraxLoopback(load_config(), (3,))
    model.configure_training()
    trainer = create_trainer(model, device=torch.device("cpu"))
    EpochMeans().attach(trainer)
    model.eval()
    state = trainer.run(batches(), max_epochs=2)
    assert model.training
    assert set(state.output) == {"loss"}
    assert state.metrics["loss"] > 0
    assert model.scale.item() > 0.5


def test_evaluator_validates_without_gradients_in_eval_mode():
    model = HyraxLoopback(load_config(), (3,))
    seen = []
    original = model.validate_step

    def spy(batch):
        seen.append((model.training, torch.is_grad_enabled()))
        return original(batch)

    model.validate_step = spy
    state = create_evaluator(model, device=torch.device("cpu")).run(batches())
    assert seen == [(False, False)] * 3
    expected = sum((0.5 * v) ** 2 for v in (1.0, 2.0, 3.0)) / 3
    assert abs(state.metrics["loss"] - expected) < 1e-6
