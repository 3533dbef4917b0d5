"""Wall time and peak memory of `hyrax umap` on 10,000 and 100,000 64-d vectors.

For each of ``--sizes`` an infer results directory of that many 64-d vectors (Gaussian clusters, with
ids and labels) is written, then ``hyrax umap`` runs on it in a fresh process with the default
settings (fit on ``umap.fit_sample_size`` = 1024 vectors, transform in batches of
``umap.transform_batch_size``). The wall time of the whole process (imports included) and its peak
resident memory are reported. Targets on a 2-core machine: 100,000 vectors in under 3 minutes and
under 4 GB.

Numba's compiled code is cached in the per-user folder the verb uses (``~/.cache/hyrax/numba``), so
only the very first run on a machine compiles; ``--cold`` adds a run of the smallest size with an
empty cache to show that cost.

    .venv/bin/python benchmarks/umap_scale.py [--sizes 10000 100000] [--dim 64] [--cold]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hyrax.config import load_config
from hyrax.inference.results_format import write_dataset_config
from hyrax.inference.results_writer import ResultsWriter
from hyrax.inference.umap_reducer import numba_cache_dir
from hyrax.results import create_results_dir, mark_complete

CLUSTERS = 10


def write_vectors(root: Path, n: int, dim: int) -> Path:
    """An infer results directory of ``n`` clustered ``dim``-d vectors; returns the directory."""
    config = load_config()
    config["general"]["results_dir"] = str(root / "results")
    config["data_set"]["name"] = "HyraxRandomDataset"
    config["data_set"]["HyraxRandomDataset"]["size"] = n
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(CLUSTERS, dim))
    directory = create_results_dir(config["general"]["results_dir"], "infer")
    with ResultsWriter(directory) as writer:
        for start in range(0, n, 10000):
            index = np.arange(start, min(start + 10000, n))
            labels = index % CLUSTERS
            vectors = centres[labels] + rng.normal(size=(len(index), dim))
            writer.write([f"random_{i:06d}" for i in index], vectors, index, labels)
    write_dataset_config(directory, config)
    mark_complete(directory)
    return directory


def run_umap(infer_dir: Path, root: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run the verb in a fresh process; return its wall time (s) and peak resident memory (MiB)."""
    code = (
        "import logging, sys\n"
        "from hyrax import Hyrax\n"
        "h = Hyrax()\n"
        f"h.set_config('general.results_dir', {str(root / 'results')!r})\n"
        f"h.set_config('umap.input_dir', {str(infer_dir)!r})\n"
        "h.umap()\n"
    )
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    log = process.stderr.read()
    if status != 0:
        raise RuntimeError(f"hyrax umap failed:\n{log}")
    for line in log.splitlines():
        if "Fitted UMAP" in line or "Embedded" in line:
            print("   ", line.split(": ", 1)[-1][:110])
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--cold", action="store_true", help="also time a run with an empty numba cache")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="hyrax-umap-bench-"))
    cache = Path(os.environ.get("NUMBA_CACHE_DIR") or numba_cache_dir())
    warm = cache.is_dir() and any(cache.iterdir())
    print(f"numba cache {cache}: {'filled by earlier runs' if warm else 'empty, so the first run compiles'}")
    try:
        runs = [(size, dict(os.environ), "") for size in args.sizes]
        if args.cold:
            cold_env = {**os.environ, "NUMBA_CACHE_DIR": str(root / "empty_numba_cache")}
            runs.insert(0, (min(args.sizes), cold_env, " with an empty numba cache"))
        for size, env, label in runs:
            infer_dir = write_vectors(root, size, args.dim)
            print(f"umap of {size} {args.dim}-d vectors{label}:")
            seconds, rss = run_umap(infer_dir, root, env)
            verdict = ""
            if size >= 100000:
                ok = seconds < 180 and rss < 4096
                verdict = f"  (targets < 180 s, < 4096 MiB) {'ok' if ok else 'MISSED'}"
            print(f"    wall {seconds:6.1f} s   peak RSS {rss:6.0f} MiB{verdict}")
            shutil.rmtree(infer_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
