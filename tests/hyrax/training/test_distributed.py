"""Training in two processes on the gloo backend, and the choice of launch."""

from __future__ import annotations

import ignite.distributed as idist
import pytest
import torch

from hyrax.config import ConfigManager
from hyrax.errors import ConfigError
from hyrax.results import find_most_recent_results_dir
from hyrax.training.distributed import Launch, average_gradients, free_port
from hyrax.training.session import TrainingJob, train_process
from hyrax.verbs.train import Train


def _train_and_save(local_rank, job, out_dir):
    model = train_process(local_rank, job)
    torch.save(model.state_dict(), out_dir / f"rank{idist.get_rank()}.pt")
    torch.save(idist.get_world_size(), out_dir / f"world{idist.get_rank()}.pt")


def cnn_settings(small_settings):
    return small_settings(
        model={"name": "HyraxCNN"},
        data_set={"HyraxRandomDataset": {"size": 40, "shape": [1, 8, 8], "num_classes": 3}},
        data_loader={"batch_size": 8},
    )


def _train_in_two_processes(runtime, work_dir):
    """Train with ``runtime`` settings in 2 gloo processes; each saves its weights in work_dir/weights."""
    config = ConfigManager(runtime_config=runtime).config
    out = work_dir / "weights"
    out.mkdir()
    (work_dir / "run").mkdir()
    job = TrainingJob(config, work_dir / "run", None)
    idist.spawn("gloo", _train_and_save, args=(job, out), nproc_per_node=2, master_port=free_port())
    return out


def test_two_gloo_processes_end_with_equal_weights(work_dir, settings):
    out = _train_in_two_processes(cnn_settings(settings), work_dir)
    assert torch.load(out / "world1.pt") == 2
    rank0, rank1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert any("running_mean" in key for key in rank0)
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key
    assert (work_dir / "run" / "model_weights.pth").is_file()
    assert not (work_dir / "weights" / "model_weights.pth").exists()


@pytest.mark.slow
def test_the_verb_spawns_processes_when_configured(work_dir, settings):
    runtime = cnn_settings(settings)
    runtime["train"]["nproc_per_node"] = 2
    manager = ConfigManager(runtime_config=runtime)
    model = Train(manager).run()
    directory = find_most_recent_results_dir(manager.config["general"]["results_dir"], "train")
    saved = torch.load(directory / "model_weights.pth", weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(saved[key], value), key


def test_launch_choices(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert Launch.from_settings(False, 1, "cpu") == Launch(None, 1, False)
    assert Launch.from_settings(False, 2, "cpu") == Launch("gloo", 2, False)
    with pytest.raises(ConfigError, match="train.nproc_per_node"):
        Launch.from_settings(False, 0, "cpu")
    with pytest.raises(ConfigError, match="'mpi-ish' is not available"):
        Launch.from_settings("mpi-ish", 2, "cpu")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "1")
    launch = Launch.from_settings(False, 1, "cpu")
    assert launch.under_torchrun and not launch.is_main and launch.backend == "gloo"


def test_average_gradients_is_a_no_op_in_one_process():
    layer = torch.nn.Linear(2, 1)
    layer(torch.ones(1, 2)).sum().backward()
    before = layer.weight.grad.clone()
    average_gradients(list(layer.parameters()))
    assert torch.equal(layer.weight.grad, before)


def test_two_processes_train_on_a_dev_mode_config_with_an_unknown_key(work_dir, settings):
    runtime = cnn_settings(settings)
    runtime["general"]["dev_mode"] = True
    runtime["train"]["a_key_only_my_plugin_knows"] = 1
    out = _train_in_two_processes(runtime, work_dir)
    assert torch.load(out / "world1.pt") == 2
    assert (work_dir / "run" / "model_weights.pth").is_file()
