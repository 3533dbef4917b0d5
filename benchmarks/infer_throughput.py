"""Inference speed of `hyrax infer` against a hand-written loop, and its peak memory at two sizes.

Both sides run the same HyraxAutoencoder (same weights) over the same HyraxRandomDataset objects
(``--shape``, default 3x32x32) with the same batch size, on the CPU, end to end:

* hand-written loop: build the dataset, a DataLoader and the model, load the weights, then
  ``model(batch["data"])`` under ``torch.no_grad()`` for every batch, keeping ids and outputs in
  lists in memory;
* hyrax infer: ``Hyrax().infer()``, which also writes every batch to ``batch_<N>.npy``, the sorted id
  index, ``dataset_config.toml`` and the completion marker.

The two alternate for ``--repeats`` rounds on ``--n`` objects and the best round of each is reported.
Target: hyrax infer / hand-written loop >= 0.9 in samples per second.

Then each side runs once in a fresh process for each of ``--sizes`` (default 10,000 and 100,000
objects) and its peak resident memory is reported: the verb's must not grow with the size.

    .venv/bin/python benchmarks/infer_throughput.py [--n 10000] [--batch-size 256] [--sizes 10000 100000]
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


def hyrax_infer(h: Hyrax) -> int:
    results = h.infer()
    shutil.rmtree(results.results_dir)
    return len(results)


def timed(function, h: Hyrax) -> float:
    start = time.perf_counter()
    function(h)
    return time.perf_counter() - start


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10000, help="objects in the timed rounds")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shape", type=int, nargs="+", default=[3, 32, 32], help="shape of each object")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the best is reported")
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
        hyrax_infer(h)  # first run pays one-time imports and page-cache warm-up
        loop, verb = [], []
        for _ in range(args.repeats):
            loop.append(timed(hand_written_loop, h))
            verb.append(timed(hyrax_infer, h))
        loop_rate, verb_rate = args.n / min(loop), args.n / min(verb)
        print(f"{'hand-written loop (in memory)':<34}{loop_rate:>10.0f} samples/s  (best of {args.repeats})")
        print(f"{'hyrax infer (streamed to disk)':<34}{verb_rate:>10.0f} samples/s  (best of {args.repeats})")
        ratio = verb_rate / loop_rate
        print(
            f"hyrax infer / hand-written loop = {ratio:.2f} (target >= 0.9) "
            f"{'ok' if ratio >= 0.9 else 'MISSED'}"
        )
        for size in args.sizes:
            for mode, name in (("infer", "hyrax infer"), ("loop", "hand-written loop")):
                rss, seconds = peak_rss_mib(mode, workdir, size, args.batch_size, args.shape)
                print(f"peak RSS {name:<18} {size:>8} objects: {rss:7.0f} MiB  ({seconds:.0f} s wall)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
