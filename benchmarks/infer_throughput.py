"""Inference speed of `hyrax infer` against a hand-written loop, and its peak memory at two sizes.

Both sides run the same HyraxAutoencoder (same weights) over the same HyraxRandomDataset objects
(``--shape``, default 3x32x32) with the same batch size, on the CPU, end to end:

* hand-written loop: build the dataset, a DataLoader and the model, load the weights, then
  ``model(batch["data"])`` under ``torch.no_grad()`` for every batch, keeping ids and outputs in
  lists in memory;
* hyrax infer: ``Hyrax().infer()``, which also writes every batch to ``batch_<N>.npy``, the sorted id
  index, ``runtime_config.toml``, ``dataset_config.toml`` and the completion marker. Deleting the
  results afterwards is the benchmark's own clean-up, outside the clock.

The two alternate for ``--repeats`` (5) rounds on ``--n`` objects, so that load from other processes
affects both alike; the summary gives the median of the per-round ratios (hyrax infer samples per
second over the loop's) and their spread, and ``--repeat-runs 3`` repeats the whole measurement to
show three runs in a row. Target: hyrax infer / hand-written loop >= 0.95 (median).

Then each side runs once in a fresh process for each of ``--sizes`` (default 10,000 and 100,000
objects) and its peak resident memory is reported: the verb's must not grow with the size.

    .venv/bin/python benchmarks/infer_throughput.py [--n 10000] [--batch-size 256] [--sizes 10000 100000]
    .venv/bin/python benchmarks/infer_throughput.py --repeat-runs 3 --sizes
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from hyrax import Hyrax
from hyrax.datasets.loading import build_dataset, make_data_loader
from hyrax.models.factory import build_model


def make_hyrax(workdir: Path, n: int, batch_size: int, shape: list[int]) -> Hyrax:
    """A Hyrax inferring ``n`` random objects with the weights in ``workdir/weights.pth``."""
    h = Hyrax()
    settings = {
        "general.results_dir": str(workdir / "results"),
        "general.device": "cpu",
        "data_set.name": "HyraxRandomDataset",
        "data_set.HyraxRandomDataset.size": n,
        "data_set.HyraxRandomDataset.shape": shape,
        "data_loader.batch_size": batch_size,
        "infer.model_weights_file": str(workdir / "weights.pth"),
    }
    for key, value in settings.items():
        h.set_config(key, value)
    weights = workdir / "weights.pth"
    if not weights.exists():
        build_model(h.config, build_dataset(h.config)).save(weights)
    return h


def hand_written_loop(h: Hyrax) -> int:
    """Dataset, loader and model built by hand; outputs kept in memory. Returns the object count."""
    config = h.config
    dataset = build_dataset(config)
    loader = make_data_loader(dataset, None, config["data_loader"], shuffle=False, seed=0)
    model = build_model(config, dataset).load(config["infer"]["model_weights_file"]).eval()
    ids, outputs = [], []
    with torch.no_grad():
        for batch in loader:
            outputs.append(model(batch["data"]))
            ids.extend(batch["object_id"])
    vectors = torch.cat(outputs)
    assert len(ids) == len(vectors) == len(dataset)
    return len(ids)


def hyrax_infer(h: Hyrax) -> Path:
    """Run the verb; return its results directory, for the caller to delete once the clock stops."""
    results = h.infer()
    assert len(results) == len(build_dataset(h.config))
    return results.results_dir


def timed(function, h: Hyrax) -> float:
    """Seconds ``function(h)`` takes; a results directory it returns is deleted after the clock stops."""
    start = time.perf_counter()
    written = function(h)
    seconds = time.perf_counter() - start
    if isinstance(written, Path):
        shutil.rmtree(written)
    return seconds


def child(mode: str, workdir: Path, n: int, batch_size: int, shape: list[int]) -> None:
    h = make_hyrax(workdir, n, batch_size, shape)
    (hyrax_infer if mode == "infer" else hand_written_loop)(h)


def peak_rss_mib(mode: str, workdir: Path, n: int, batch_size: int, shape: list[int]) -> tuple[float, float]:
    """Run one side in a fresh process; return its peak resident memory (MiB) and wall time (s)."""
    command = [sys.executable, __file__, "--child", mode, "--workdir", str(workdir), "--n", str(n)]
    command += ["--batch-size", str(batch_size), "--shape", *map(str, shape)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{mode} with {n} objects failed: {process.stderr.read()}")
    return usage.ru_maxrss / 1024, seconds


def measure(h: Hyrax, args: argparse.Namespace, run: int) -> float:
    """Alternate the loop and the verb ``--repeats`` times; print and return the median ratio."""
    import statistics

    ratios = []
    for round_number in range(1, args.repeats + 1):
        loop, verb = timed(hand_written_loop, h), timed(hyrax_infer, h)
        ratios.append(loop / verb)
        print(
            f"run {run} round {round_number}: hand-written loop {args.n / loop:8.0f} samples/s, hyrax infer "
            f"{args.n / verb:8.0f} samples/s, ratio {loop / verb:.3f}",
            flush=True,
        )
    ratios.sort()
    median = statistics.median(ratios)
    print(
        f"run {run}: hyrax infer / hand-written loop, median {median:.3f}, range {ratios[0]:.3f}-"
        f"{ratios[-1]:.3f} (target >= 0.95) {'ok' if median >= 0.95 else 'MISSED'}; load "
        f"{os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10000, help="objects in the timed rounds")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shape", type=int, nargs="+", default=[3, 32, 32], help="shape of each object")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds per measurement")
    parser.add_argument("--repeat-runs", type=int, default=1, help="whole measurements in a row")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10000, 100000], help="sizes for peak RSS")
    parser.add_argument("--child", choices=["infer", "loop"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    if args.child:
        child(args.child, args.workdir, args.n, args.batch_size, args.shape)
        return

    workdir = Path(tempfile.mkdtemp(prefix="hyrax-infer-bench-"))
    try:
        h = make_hyrax(workdir, args.n, args.batch_size, args.shape)
        print(
            f"{args.n} HyraxRandomDataset objects of shape {tuple(args.shape)}, batch size "
            f"{args.batch_size}, HyraxAutoencoder, {torch.get_num_threads()} torch threads"
        )
        timed(hyrax_infer, h)  # first run pays one-time imports and page-cache warm-up
        print(f"load at start {os.getloadavg()[0]:.2f}")
        medians = [measure(h, args, run) for run in range(1, args.repeat_runs + 1)]
        if args.repeat_runs > 1:
            print("runs in a row, median ratio: " + ", ".join(f"{median:.3f}" for median in medians))
        print(f"load at end {os.getloadavg()[0]:.2f}")
        for size in args.sizes:
            for mode, name in (("infer", "hyrax infer"), ("loop", "hand-written loop")):
                rss, seconds = peak_rss_mib(mode, workdir, size, args.batch_size, args.shape)
                print(f"peak RSS {name:<18} {size:>8} objects: {rss:7.0f} MiB  ({seconds:.0f} s wall)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
