"""Time to resolve object ids to rows in inference results: 1,000,000 ids against 1,000,000 rows.

Writes ``--n`` rows (ids like ``"obj_00000000123456"`` in shuffled order, 8-d vectors) with
ResultsWriter, which builds the sorted ``batch_index.npy``; then, on a freshly opened
InferenceDataSet (memory-mapped, nothing loaded), resolves all ``--n`` ids in a random order with
one ``indices_of`` call, and in chunks of 100,000, and times single ``index_of`` calls. The rows found
are checked against the ids. A dict built from the ids, the usual alternative, is timed for
comparison (its build time is paid on every open). Target: well under a second per 100,000 ids.

    .venv/bin/python benchmarks/id_lookup.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hyrax.datasets.inference_dataset import InferenceDataSet
from hyrax.inference.results_writer import ResultsWriter


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.n
    folder = Path(tempfile.mkdtemp(prefix="hyrax-id-bench-"))
    try:
        rng = np.random.default_rng(0)
        ids = np.char.add("obj_", np.char.zfill(rng.permutation(n).astype(str), 14))
        start = time.perf_counter()
        with ResultsWriter(folder) as writer:
            for first in range(0, n, 4096):
                chunk = slice(first, min(first + 4096, n))
                writer.write(ids[chunk], np.zeros((len(ids[chunk]), 8)), np.arange(n)[chunk])
        print(f"wrote {n} rows and the sorted id index in {time.perf_counter() - start:.1f} s")

        queries = ids[rng.permutation(n)]
        start = time.perf_counter()
        dataset = InferenceDataSet.from_directory(folder)
        opened = time.perf_counter() - start
        start = time.perf_counter()
        rows = dataset.indices_of(queries)
        whole = time.perf_counter() - start
        assert (ids[rows] == queries).all(), "a looked-up row holds another id"
        chunk_times = []
        for first in range(0, n, 100_000):
            start = time.perf_counter()
            dataset.indices_of(queries[first : first + 100_000])
            chunk_times.append(time.perf_counter() - start)
        singles = queries[:1000].tolist()
        start = time.perf_counter()
        for object_id in singles:
            dataset.index_of(object_id)
        single = (time.perf_counter() - start) / len(singles)

        start = time.perf_counter()
        table = {object_id: row for row, object_id in enumerate(ids.tolist())}
        build = time.perf_counter() - start
        listed = queries.tolist()
        start = time.perf_counter()
        [table[object_id] for object_id in listed]
        dict_lookup = time.perf_counter() - start

        per_100k = whole / n * 100_000
        print(f"open InferenceDataSet (memory-mapped):     {opened * 1000:8.1f} ms")
        print(f"resolve {n} ids in one call:          {whole:8.2f} s  = {per_100k:.3f} s per 100k")
        print(
            f"resolve in calls of 100k ids:              {np.mean(chunk_times):8.3f} s per call "
            f"(max {max(chunk_times):.3f} s)"
        )
        print(f"index_of one id:                           {single * 1e6:8.1f} us")
        print(f"dict of all ids, for comparison: build {build:.2f} s, {n} lookups {dict_lookup:.2f} s")
        verdict = "ok" if per_100k < 0.5 and max(chunk_times) < 0.5 else "MISSED"
        print(f"per 100k ids: {per_100k:.3f} s (target well under 1 s) {verdict}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
