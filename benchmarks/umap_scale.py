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

``--speedups`` measures instead the two speed-ups that reach past umap-learn's public interface
(see :mod:`hyrax.inference.umap_reducer`), each against umap's public path in the same run:
transforming 3,000 points with a reducer fitted on 1,024, with sklearn's vectorised euclidean
distances against umap's per-pair numba callable; and a second run in a fresh process (the first
filled the numba cache) of importing umap, fitting and transforming, with every umap and pynndescent
function cached against umap's own partial caching.

    .venv/bin/python benchmarks/umap_scale.py [--sizes 10000 100000] [--dim 64] [--cold]
    .venv/bin/python benchmarks/umap_scale.py --speedups
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
from hyrax.process import numba_cache_dir
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


_SECOND_RUN = """
import time
started = time.perf_counter()
{imports}
import numpy as np
vectors = np.random.default_rng(0).normal(size=(1124, 16)).astype(np.float32)
reducer = umap.UMAP(random_state=1).fit(vectors[:1024])
reducer.transform(vectors[1024:])
print(time.perf_counter() - started)
"""


def speedups(dim: int) -> None:
    """Time each speed-up against umap's public path, and print the ratios."""
    import copy

    from hyrax.inference.umap_reducer import fit_reducer, import_umap

    umap = import_umap()
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(CLUSTERS, dim))
    vectors = (centres[rng.integers(0, CLUSTERS, 4024)] + rng.normal(size=(4024, dim))).astype(np.float32)
    fitted, new = vectors[:1024], vectors[1024:]
    ours = fit_reducer(fitted, {"random_state": 1}, n_to_transform=len(new))
    public = copy.deepcopy(ours)
    public._input_distance_func = umap.distances.euclidean
    timings = {}
    for name, reducer in (("vectorised distances", ours), ("umap's per-pair callable", public)):
        reducer.transform(new[:20])  # compiles what the transform needs
        started = time.perf_counter()
        reducer.transform(new)
        timings[name] = time.perf_counter() - started
        print(f"transform {len(new)} points, {name}: {timings[name]:.1f} s")
    ratio = timings["umap's per-pair callable"] / timings["vectorised distances"]
    print(f"    speed-up {ratio:.1f}x")
    imports = {
        "every function cached (import_umap)": (
            "from hyrax.inference.umap_reducer import import_umap\numap = import_umap()"
        ),
        "umap's own caching (import umap)": "import umap",
    }
    seconds = {}
    for name, code in imports.items():
        with tempfile.TemporaryDirectory(prefix="hyrax-numba-") as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            script = _SECOND_RUN.format(imports=code)
            for run in ("first", "second"):
                output = subprocess.run(
                    [sys.executable, "-c", script], env=env, capture_output=True, text=True
                )
                if output.returncode:
                    raise RuntimeError(output.stderr)
                seconds[name, run] = float(output.stdout.split()[-1])
            print(
                f"fresh process, {name}: first run {seconds[name, 'first']:.1f} s, "
                f"second run {seconds[name, 'second']:.1f} s"
            )
    ours_second, theirs_second = (seconds[name, "second"] for name in imports)
    print(f"    second run {theirs_second / ours_second:.1f}x faster with every function cached")
    print(f"load {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--cold", action="store_true", help="also time a run with an empty numba cache")
    parser.add_argument(
        "--speedups", action="store_true", help="time the two speed-ups against umap's own path"
    )
    args = parser.parse_args()
    if args.speedups:
        speedups(args.dim)
        return

    root = Path(tempfile.mkdtemp(prefix="hyrax-umap-bench-"))
    cache = numba_cache_dir()
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
