"""End-to-end runs of the train verb: from Python, from the command line, on real data, after kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hyrax import Hyrax
from hyrax.models.autoencoder import HyraxAutoencoder
from hyrax.models.base import ModelDataError
from hyrax.results import is_complete, list_results_dirs
from hyrax.training.checkpoint import LATEST_CHECKPOINT_NAME
from hyrax_cli.main import main

QUIET_TOML = """
[train]
progress_bar = false
mlflow = false
tensorboard = false
"""

# A run of a few tenths of a second per epoch on the default dataset, made small.
SMALL_TOML = """
[general]
seed = 11
[data_set.SyntheticGalaxyDataSet]
size = 48
image_size = 16
[data_loader]
batch_size = 8
[train]
epochs = {epochs}
progress_bar = false
mlflow = false
tensorboard = false
"""


@pytest.fixture
def quiet(work_dir):
    """``-c quiet.toml``: no progress bar or tracking, to keep the runs short."""
    (work_dir / "quiet.toml").write_text(QUIET_TOML)
    return ["-c", "quiet.toml"]


def train_dirs(root: Path) -> list[Path]:
    return list_results_dirs(root / "results", "train", complete_only=False)


def test_train_from_python_on_the_default_dataset(work_dir):
    h = Hyrax()
    h.set_config("data_set.SyntheticGalaxyDataSet.size", 64)
    h.set_config("data_set.SyntheticGalaxyDataSet.image_size", 32)
    h.set_config("train.epochs", 2)
    h.set_config("train.mlflow", False)  # its database set-up costs seconds; tracking tests cover it
    model = h.train()
    assert isinstance(model, HyraxAutoencoder)
    (directory,) = train_dirs(work_dir)
    assert is_complete(directory)
    for name in (
        "model_weights.pth",
        "runtime_config.toml",
        "splits.npz",
        LATEST_CHECKPOINT_NAME,
        "loss_curve.png",
    ):
        assert (directory / name).is_file(), name
    reloaded = HyraxAutoencoder(h.config, (3, 32, 32)).load(directory / "model_weights.pth")
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value)


def test_train_from_the_command_line(work_dir):
    (work_dir / "small.toml").write_text(SMALL_TOML.format(epochs=2))
    assert main(["train", "-c", "small.toml"]) == 0
    (directory,) = train_dirs(work_dir)
    assert is_complete(directory) and (directory / "model_weights.pth").is_file()


def test_train_on_the_real_hsc_sample(work_dir, hsc_sample_dir, quiet):
    argv = [
        "train",
        *quiet,
        "--set",
        'data_set.name="FitsImageDataSet"',
        "--set",
        f'data_set.FitsImageDataSet.catalog="{hsc_sample_dir / "star_cat_correct.fits"}"',
        "--set",
        'data_set.FitsImageDataSet.object_id_column="# object_id"',
        "--set",
        'data_set.FitsImageDataSet.filename_column="star_filename"',
        "--set",
        "train.epochs=2",
    ]
    assert main(argv) == 0
    (directory,) = train_dirs(work_dir)
    weights = torch.load(directory / "model_weights.pth", weights_only=True)
    assert all(torch.isfinite(value).all() for value in weights.values())


def test_a_bad_optimizer_name_is_named_with_its_table(work_dir, capsys, quiet):
    argv = ["train", *quiet, "--set", 'optimizer.name="torch.optim.Adamm"', "--set", "train.epochs=1"]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "optimizer.name = 'torch.optim.Adamm'" in error and "[optimizer]" in error
    assert "Adam" in error


def test_a_model_that_fails_on_the_data_names_model_shape_and_dataset(work_dir):
    h = Hyrax()
    h.set_config("data_set.name", "HyraxRandomDataset")
    h.set_config("data_set.HyraxRandomDataset.shape", [5])
    h.set_config("train.epochs", 1)
    with pytest.raises(ModelDataError) as error:
        h.train()
    message = str(error.value)
    assert "HyraxAutoencoder" in message and "(5,)" in message and "HyraxRandomDataset" in message


def test_importing_the_verb_does_not_import_torch():
    code = "import sys, hyrax.verbs.train; print(sorted({'torch', 'ignite', 'mlflow'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def _start_training(work_dir: Path, epochs: int) -> subprocess.Popen:
    (work_dir / "small.toml").write_text(SMALL_TOML.format(epochs=epochs))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "hyrax_cli.main", "train", "-c", "small.toml"],
        cwd=work_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_checkpoint(work_dir: Path, process: subprocess.Popen, timeout: float = 240) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for directory in train_dirs(work_dir):
            if (directory / LATEST_CHECKPOINT_NAME).is_file():
                return directory
        if process.poll() is not None:
            raise AssertionError(f"training ended before its first checkpoint: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError("no checkpoint appeared")


def test_resume_after_sigkill(work_dir):
    process = _start_training(work_dir, epochs=12)
    directory = _wait_for_checkpoint(work_dir, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not is_complete(directory)
    killed_at = torch.load(directory / LATEST_CHECKPOINT_NAME, weights_only=True)["epoch"]
    assert 1 <= killed_at < 12

    assert main(["train", "-c", "small.toml", "--set", "train.resume=true"]) == 0
    resumed = train_dirs(work_dir)[-1]
    assert resumed != directory and is_complete(resumed)
    assert torch.load(resumed / LATEST_CHECKPOINT_NAME, weights_only=True)["epoch"] == 12


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(work_dir):
    process = _start_training(work_dir, epochs=30)
    directory = _wait_for_checkpoint(work_dir, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "hyrax train --set train.resume=true" in stderr
    assert not is_complete(directory)
    stopped_at = torch.load(directory / LATEST_CHECKPOINT_NAME, weights_only=True)["iteration"]
    assert stopped_at >= 5

    # The command the message gives, with the run's configuration.
    assert main(["train", "-c", "small.toml", "--set", "train.resume=true"]) == 0
    assert is_complete(train_dirs(work_dir)[-1])
