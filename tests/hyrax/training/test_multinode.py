"""Training on two torchrun "nodes" on one machine (gloo on 127.0.0.1), and resuming it.

Each node is a ``torch.distributed.run --nnodes=2 --nproc_per_node=1 --node_rank=<r>`` subprocess
running ``multinode_train.py``, which trains with ``Hyrax(config).train()`` and saves its rank's
weights. Only rank 0 writes a results directory; rank 1 writes nothing under its results_dir.
Resuming both nodes with ``train.resume = true`` continues from rank 0's checkpoint, trains only the
missing epoch, and (slow test) ends with the weights of an uninterrupted run, to the last bit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hyrax.results import is_complete, list_results_dirs
from hyrax.training.checkpoint import LATEST_CHECKPOINT_NAME
from hyrax.training.distributed import free_port

HELPER = Path(__file__).with_name("multinode_train.py")
N_OBJECTS, BATCH_SIZE, TRAIN_SIZE = 40, 8, 0.6
BATCHES_PER_EPOCH = -(-int(N_OBJECTS * TRAIN_SIZE) // BATCH_SIZE)


def write_config(path: Path, results_dir: Path, epochs: int, resume: bool = False) -> Path:
    """A HyraxCNN (with batch norm) on 40 random 1x8x8 images, batch 8, results in ``results_dir``."""
    path.write_text(
        f"""[general]
seed = 7
device = "cpu"
results_dir = "{results_dir.as_posix()}"
data_dir = "{(path.parent / "data").as_posix()}"

[model]
name = "HyraxCNN"

[model.HyraxCNN]
num_classes = 3

[data_set]
name = "HyraxRandomDataset"
train_size = {TRAIN_SIZE}
validate_size = 0.2
test_size = 0.2

[data_set.HyraxRandomDataset]
size = {N_OBJECTS}
shape = [1, 8, 8]
num_classes = 3

[data_loader]
batch_size = {BATCH_SIZE}

[train]
epochs = {epochs}
resume = {str(resume).lower()}
progress_bar = false
mlflow = false
tensorboard = false
"""
    )
    return path


def run_two_nodes(work_dir: Path, configs: tuple[Path, Path], out: Path) -> list[str]:
    """Run node 0 and node 1 of a 2-node torchrun with static rendezvous; return each node's stderr."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1"]
            + [f"--node_rank={rank}", "--master_addr=127.0.0.1", f"--master_port={port}"]
            + [str(HELPER), str(config), str(out)],
            cwd=work_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank, config in enumerate(configs)
    ]
    logs = []
    try:
        for node in nodes:
            _, stderr = node.communicate(timeout=180)
            logs.append(stderr)
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
    for rank, (node, stderr) in enumerate(zip(nodes, logs, strict=True)):
        assert node.returncode == 0, f"node {rank} failed:\n{stderr[-4000:]}"
    return logs


def equal_weights_on_both_ranks(out: Path) -> dict[str, torch.Tensor]:
    rank0, rank1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert any("running_mean" in key for key in rank0), "the model should have batch norm buffers"
    assert rank0.keys() == rank1.keys()
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key
    return rank0


def epochs_logged(log: str) -> list[int]:
    return [int(epoch) for epoch in re.findall(r"Epoch (\d+)/\d+:", log)]


def train_then_resume(work_dir: Path) -> dict[str, torch.Tensor]:
    """Train 2 epochs on two nodes, check where results went, resume to 3 epochs; the resumed weights."""
    shared = work_dir / "results"
    # Node 1 gets a results_dir of its own, so any file it wrote would show there.
    node1_results = work_dir / "node1_results"
    first = (
        write_config(work_dir / "node0.toml", shared, epochs=2),
        write_config(work_dir / "node1.toml", node1_results, epochs=2),
    )
    logs = run_two_nodes(work_dir, first, work_dir / "first")
    weights = equal_weights_on_both_ranks(work_dir / "first")

    runs = list_results_dirs(shared, "train", complete_only=False)
    assert len(runs) == 1 and is_complete(runs[0])
    run = runs[0]
    names = {path.name for path in run.iterdir()}
    assert {"model_weights.pth", LATEST_CHECKPOINT_NAME, "runtime_config.toml"} <= names
    saved = torch.load(run / "model_weights.pth", weights_only=True)
    for key, value in weights.items():
        assert torch.equal(saved[key], value), key
    assert not node1_results.exists() or not any(node1_results.iterdir())
    assert epochs_logged(logs[0]) == [1, 2] and epochs_logged(logs[1]) == []

    # Resume on both nodes from the newest run's checkpoint, found in the shared results_dir.
    resumed = write_config(work_dir / "resume.toml", shared, epochs=3, resume=True)
    logs = run_two_nodes(work_dir, (resumed, resumed), work_dir / "resumed")
    resumed_weights = equal_weights_on_both_ranks(work_dir / "resumed")
    runs = list_results_dirs(shared, "train", complete_only=False)
    assert len(runs) == 2 and runs[0] == run and all(is_complete(r) for r in runs)
    done = f"Resuming from {run / LATEST_CHECKPOINT_NAME}: epoch 2, iteration {2 * BATCHES_PER_EPOCH} done"
    assert done in logs[0]
    assert epochs_logged(logs[0]) == [3], "the resumed run trains only the missing epoch"
    checkpoint = torch.load(runs[1] / LATEST_CHECKPOINT_NAME, weights_only=True)
    assert (checkpoint["epoch"], checkpoint["iteration"]) == (3, 3 * BATCHES_PER_EPOCH)
    saved = torch.load(runs[1] / "model_weights.pth", weights_only=True)
    for key, value in resumed_weights.items():
        assert torch.equal(saved[key], value), key
    return resumed_weights


def test_two_nodes_train_equal_weights_and_resume(work_dir):
    train_then_resume(work_dir)


@pytest.mark.slow
def test_a_resumed_two_node_run_equals_an_uninterrupted_one(work_dir):
    resumed_weights = train_then_resume(work_dir)
    fresh = write_config(work_dir / "fresh.toml", work_dir / "fresh_results", epochs=3)
    run_two_nodes(work_dir, (fresh, fresh), work_dir / "fresh")
    fresh_weights = equal_weights_on_both_ranks(work_dir / "fresh")
    for key, value in fresh_weights.items():
        assert torch.equal(resumed_weights[key], value), key
