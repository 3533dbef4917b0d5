"""The HyraxModel contract: registration checks, default steps, optimize, save and load."""

from __future__ import annotations

import pytest
import torch

from hyrax.config import load_config
from hyrax.models.base import HyraxModel, ModelDataError, hyrax_model
from hyrax.models.loopback import HyraxLoopback
from hyrax.registry import MODEL_REGISTRY


@pytest.fixture
def config():
    return load_config()


def batch(n=4, shape=(2, 3)):
    return {"data": torch.ones(n, *shape), "object_id": [str(i) for i in range(n)], "index": torch.arange(n)}


def test_registration_returns_the_class_unchanged_and_registers_it():
    class Doubler(HyraxModel):
        def forward(self, x):
            return 2 * x

    decorated = hyrax_model("DoublerForTest", force=True)(Doubler)
    try:
        assert decorated is Doubler
        assert MODEL_REGISTRY.get("DoublerForTest") is Doubler
    finally:
        MODEL_REGISTRY.unregister("DoublerForTest")


def test_a_class_that_is_not_a_hyrax_model_gets_a_skeleton():
    class Plain(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="does not subclass HyraxModel") as error:
        hyrax_model("PlainForTest")(Plain)
    assert "class Plain(HyraxModel):" in str(error.value)
    assert "PlainForTest" not in MODEL_REGISTRY


def test_missing_forward_and_wrong_signatures_are_refused():
    class NoForward(HyraxModel):
        pass

    with pytest.raises(TypeError, match="must implement forward"):
        hyrax_model("NoForwardForTest")(NoForward)

    class OldInit(HyraxModel):
        def __init__(self, config):
            super().__init__(config, ())

        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"must accept \(self, config, sample_shape\)"):
        hyrax_model("OldInitForTest")(OldInit)

    class TwoArgStep(HyraxModel):
        def forward(self, x):
            return x

        def train_step(self, batch, optimizer):
            return {}

    with pytest.raises(TypeError, match=r"train_step.*must accept \(self, batch\)"):
        hyrax_model("TwoArgStepForTest")(TwoArgStep)


def test_check_data_must_be_a_classmethod_taking_config_and_dataset():
    class InstanceCheck(HyraxModel):
        def forward(self, x):
            return x

        def check_data(self, config, dataset):
            pass

    with pytest.raises(TypeError, match=r"check_data must be a classmethod.*\(cls, config, dataset\)"):
        hyrax_model("InstanceCheckForTest")(InstanceCheck)

    class OneArgCheck(HyraxModel):
        def forward(self, x):
            return x

        @classmethod
        def check_data(cls, dataset):
            pass

    with pytest.raises(TypeError, match=r"check_data.*must accept \(cls, config, dataset\)"):
        hyrax_model("OneArgCheckForTest")(OneArgCheck)
    assert "InstanceCheckForTest" not in MODEL_REGISTRY and "OneArgCheckForTest" not in MODEL_REGISTRY


def test_the_default_check_data_accepts_any_dataset(config):
    assert HyraxLoopback.check_data(config, object()) is None


def test_default_steps(config):
    model = HyraxLoopback(config, (2, 3))
    assert torch.equal(model.to_tensor(batch()), batch()["data"])
    with pytest.raises(RuntimeError, match="configure_training"):
        model.train_step(batch())
    model.configure_training()
    first = model.train_step(batch())
    assert set(first) == {"loss"} and isinstance(first["loss"], float)
    assert first["loss"] == pytest.approx(0.25)
    assert model.scale.item() > 0.5
    with torch.no_grad():
        assert model.validate_step(batch())["loss"] < first["loss"]
        assert model.infer_step(batch()).shape == (4, 2, 3)


def test_criterion_comes_from_config_or_the_model_default(config):
    assert isinstance(HyraxLoopback(config, (2,)).criterion, torch.nn.MSELoss)
    config["criterion"]["name"] = "torch.nn.L1Loss"
    assert isinstance(HyraxLoopback(config, (2,)).criterion, torch.nn.L1Loss)


def test_optimize_clips_gradients(config):
    model = HyraxLoopback(config, (2,))
    config["optimizer"]["name"] = "torch.optim.SGD"
    config["optimizer"]["kwargs"] = {"lr": 1.0}
    model.configure_training(gradient_clip=0.01)
    model.train_step({"data": torch.full((4, 2), 10.0)})
    assert model.scale.item() == pytest.approx(0.5 + 0.01)


def test_optimize_calls_the_gradient_averaging(config):
    seen = []
    model = HyraxLoopback(config, (2,))
    model.configure_training(average_gradients=lambda parameters: seen.append(len(parameters)))
    model.train_step(batch(shape=(2,)))
    assert seen == [1]


def test_settings_is_the_class_table(config):
    from hyrax.models.autoencoder import HyraxAutoencoder

    config["model"]["HyraxAutoencoder"]["latent_dim"] = 5
    assert HyraxAutoencoder(config, (1, 8, 8)).settings["latent_dim"] == 5
    assert HyraxLoopback(config, (2,)).settings == {}

    class Variant(HyraxAutoencoder):
        """A subclass without a table of its own."""

    assert Variant(config, (1, 8, 8)).settings["latent_dim"] == 5

    class Logging:
        """A mixin that is not a model, listed before the model in the bases."""

    class MixedVariant(Logging, HyraxAutoencoder):
        """A variant with a mixin and no table of its own."""

    assert MixedVariant(config, (1, 8, 8)).settings["latent_dim"] == 5


def test_save_and_load_round_trip(config, tmp_path):
    model = HyraxLoopback(config, (2,))
    with torch.no_grad():
        model.scale.fill_(3.0)
    path = model.save(tmp_path / "sub" / "weights.pth")
    assert [p.name for p in path.parent.iterdir()] == ["weights.pth"]
    other = HyraxLoopback(config, (2,)).load(path)
    assert other.scale.item() == 3.0


def test_load_reports_missing_files_and_mismatched_weights(config, tmp_path):
    from hyrax.models.autoencoder import HyraxAutoencoder

    with pytest.raises(FileNotFoundError, match="No model weights"):
        HyraxLoopback(config, (2,)).load(tmp_path / "absent.pth")
    path = HyraxLoopback(config, (2,)).save(tmp_path / "loopback.pth")
    with pytest.raises(ModelDataError, match="do not fit HyraxAutoencoder"):
        HyraxAutoencoder(config, (1, 8, 8)).load(path)


def test_load_maps_gpu_tensors_to_the_model_device(config, tmp_path, monkeypatch):
    calls = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    model = HyraxLoopback(config, (2,))
    model.load(model.save(tmp_path / "w.pth"))
    assert calls == {"map_location": torch.device("cpu"), "weights_only": True}
