"""Inference in two gloo processes, spawned or under torchrun, equals inference in one.

Each process infers a contiguous share of the objects; the shares are joined into one results
directory that must hold the same objects, in the same order, with the same vectors, as one process
writes; a rank that dies leaves the run incomplete, and a rerun completes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from dying_dataset import DIE_AT_INDEX, SWITCH

from hyrax import Hyrax
from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.results import is_complete, list_results_dirs
from hyrax.training.distributed import free_port

N_OBJECTS = 50


def write_config(work_dir, dataset="dying_dataset.DyingRandomDataset", **infer):
    """A tiny run on 50 random 1x8x8 images, with the [infer] keys given."""
    extra = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in infer.items())
    path = work_dir / "run.toml"
    path.write_text(
        f"""[general]
seed = 7

[data_set]
name = "{dataset}"
train_size = 0.6
validate_size = 0.2
test_size = 0.2

[data_set.HyraxRandomDataset]
size = {N_OBJECTS}
shape = [1, 8, 8]
num_classes = 3

[data_loader]
batch_size = 6

[train]
epochs = 1
progress_bar = false
mlflow = false
tensorboard = false

[infer]
{extra}"""
    )
    return path


def read_run(directory):
    """Ids, dataset indices and vectors of an infer run, in its own order."""
    reader = InferenceDataSet.from_directory(directory).reader
    rows = reader.read(0, len(reader))
    return [str(i) for i in rows["id"]], rows["index"], rows["tensor"]


@pytest.fixture
def one_thread():
    """One torch thread here, as in each of two processes sharing two cores.

    Matrix products sum in an order that depends on the thread count, so vectors agree to the last
    bit only between processes that use the same number of threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def infer_runs(work_dir):
    root = work_dir / "results"
    return list_results_dirs(root, "infer", complete_only=False)


def test_two_spawned_processes_write_what_one_writes_and_a_dead_rank_leaves_it_incomplete(
    work_dir, monkeypatch, one_thread
):
    Hyrax(write_config(work_dir)).train()
    single = Hyrax(write_config(work_dir)).infer()
    ids, indices, vectors = read_run(single.results_dir)
    assert len(ids) == N_OBJECTS and list(indices) == list(range(N_OBJECTS))

    monkeypatch.setenv(SWITCH, "1")
    h = Hyrax(write_config(work_dir, nproc_per_node=2))
    h.config["results"]["keep_failed"] = True
    with pytest.raises(Exception):  # noqa: B017 - whatever torch reports for a process that died
        h.infer()
    dead = [run for run in infer_runs(work_dir) if not is_complete(run)]
    assert len(dead) == 1 and DIE_AT_INDEX >= N_OBJECTS // 2, "object 37 is in rank 1's share"
    assert not (dead[0] / "batch_index.npy").exists()

    monkeypatch.delenv(SWITCH)
    double = Hyrax(write_config(work_dir, nproc_per_node=2)).infer()
    assert double.results_dir != single.results_dir and is_complete(double.results_dir)
    ids2, indices2, vectors2 = read_run(double.results_dir)
    assert ids2 == ids and np.array_equal(indices2, indices)
    assert np.array_equal(vectors2, vectors)
    assert not list(double.results_dir.glob(".rank_*")) and not list(double.results_dir.glob(".run_*"))
    assert InferenceDataSet.from_directory(double.results_dir).reader.lookup([ids[40]]).tolist() == [40]


def test_infer_under_torchrun_writes_what_one_process_writes(work_dir, one_thread):
    config = write_config(work_dir, dataset="HyraxRandomDataset")
    Hyrax(config).train()
    single = Hyrax(config).infer()
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}"]
        + ["-m", "hyrax_cli.main", "infer", "-c", str(config)],
        cwd=work_dir,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [run for run in infer_runs(work_dir) if run != single.results_dir]
    assert len(runs) == 1 and is_complete(runs[0])
    ids, indices, vectors = read_run(single.results_dir)
    ids2, indices2, vectors2 = read_run(runs[0])
    assert ids2 == ids and np.array_equal(indices2, indices) and np.array_equal(vectors2, vectors)
