"""Benchmark vector databases at 100k and 1M vectors: insert time, peak memory, disk, latency, recall.

Each backend runs in its own subprocess (this script with ``--single``), so its peak resident memory
(``ru_maxrss``) is its own, and a slow backend can be stopped by ``--timeout``. The vectors are a
mixture of 100 overlapping clusters, each spread over its own 24-d subspace plus noise in all 64
dimensions (clustered and of low intrinsic dimension, like learned embeddings, and hard enough that
approximate search misses neighbours). They are made block by block from a seed, so every subprocess
sees the same data without holding it all in memory. Queries are new draws from the same mixture;
recall@10 is measured against exact search in float64.

    python benchmarks/vector_db.py --sizes 100000 1000000 --backends numpy faiss chromadb lancedb qdrant

Backends: ``numpy`` (exact brute force, the reference), ``lancedb`` (IVF_PQ index, merge_insert
upserts), ``qdrant`` (local mode), ``faiss-hnsw`` (a raw FAISS HNSW32 index), and every Hyrax vector database
by its registered name (``chromadb``, ``faiss``), measured through the Hyrax interface.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

BLOCK = 10_000
N_CLUSTERS, LATENT_DIM = 100, 24


def mixture(seed: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster centres, 24-d linear subspaces and spreads: low intrinsic dimension, like embeddings.

    The clusters overlap enough that an index must scan several cells to find all 10 neighbours.
    """
    rng = np.random.default_rng([seed, 1])
    centers = rng.normal(0, 0.4, (N_CLUSTERS, dim))
    bases = rng.normal(0, 1, (N_CLUSTERS, LATENT_DIM, dim))
    bases /= np.linalg.norm(bases, axis=2, keepdims=True)
    return centers, bases, rng.uniform(0.5, 1.5, N_CLUSTERS)


def draw(rng: np.random.Generator, count: int, centers, bases, scales) -> np.ndarray:
    which = rng.integers(0, len(centers), count)
    latent = rng.normal(0, 1, (count, LATENT_DIM)) * scales[which, None]
    x = centers[which] + rng.normal(0, 0.2, (count, centers.shape[1]))
    for cluster in np.unique(which):
        members = which == cluster
        x[members] += latent[members] @ bases[cluster]
    return x.astype(np.float32)


def blocks(size: int, dim: int, seed: int):
    """Yield (start, vectors) blocks of the data set, reproducibly."""
    shape = mixture(seed, dim)
    for start in range(0, size, BLOCK):
        yield start, draw(np.random.default_rng([seed, 2, start]), min(BLOCK, size - start), *shape)


def queries(count: int, dim: int, seed: int) -> np.ndarray:
    return draw(np.random.default_rng([seed, 3]), count, *mixture(seed, dim))


def ground_truth(size: int, dim: int, seed: int, q: np.ndarray, k: int) -> np.ndarray:
    """Exact k nearest rows of each query, in float64, one data block at a time."""
    best_d = np.full((len(q), 0), np.inf)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    q64 = q.astype(np.float64)
    for start, x in blocks(size, dim, seed):
        x64 = x.astype(np.float64)
        d = (q64**2).sum(1)[:, None] - 2 * q64 @ x64.T + (x64**2).sum(1)[None, :]
        best_d = np.concatenate([best_d, d], axis=1)
        best_i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(x)), d.shape)], axis=1)
        keep = np.argsort(best_d, axis=1)[:, :k]
        best_d, best_i = np.take_along_axis(best_d, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


# ----- adapters: create, insert, finish (build index, persist, close), open, query, close -----


class Numpy:
    def __init__(self, path: Path, dim: int):
        self.file, self.parts = path / "vectors.npy", []
        path.mkdir(parents=True, exist_ok=True)

    def insert(self, ids, x):
        self.parts.append(x)

    def finish(self):
        np.save(self.file, np.concatenate(self.parts))
        self.parts = []

    def open(self):
        self.x = np.load(self.file)
        self.norms = (self.x**2).sum(1)

    def query(self, v, k):
        d = self.norms - 2 * self.x @ v
        top = np.argpartition(d, k)[:k]
        return [str(i) for i in top[np.argsort(d[top])]]

    def close(self):
        del self.x


class Hyrax:
    def __init__(self, path: Path, dim: int, name: str):
        from hyrax.registry import VECTOR_DB_REGISTRY

        self.cls, self.path = VECTOR_DB_REGISTRY.get(name), path
        self.db = self.cls(path=path, dim=dim).connect()

    def insert(self, ids, x):
        self.db.upsert(ids, x)

    def finish(self):
        self.db.close()

    def open(self):
        self.db = self.cls(path=self.path).connect()

    def query(self, v, k):
        return list(self.db.search_by_vector(v, k).ids[0])

    def close(self):
        self.db.close()


class Qdrant:
    def __init__(self, path: Path, dim: int):
        from qdrant_client import QdrantClient, models

        self.path, self.models = str(path), models
        self.client = QdrantClient(path=self.path)
        vectors = models.VectorParams(size=dim, distance=models.Distance.EUCLID)
        self.client.create_collection("bench", vectors_config=vectors)

    def insert(self, ids, x):
        batch = self.models.Batch(ids=[int(i) for i in ids], vectors=x.tolist())
        self.client.upsert("bench", points=batch)

    def finish(self):
        self.client.close()

    def open(self):
        from qdrant_client import QdrantClient

        self.client = QdrantClient(path=self.path)

    def query(self, v, k):
        return [str(p.id) for p in self.client.query_points("bench", query=v.tolist(), limit=k).points]

    def close(self):
        self.client.close()


class Lance:
    NPROBES, REFINE = 48, 10

    def __init__(self, path: Path, dim: int):
        import lancedb

        self.path, self.dim, self.table = str(path), dim, None
        self.db = lancedb.connect(self.path)

    def insert(self, ids, x):
        import pyarrow as pa

        vectors = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), self.dim)
        data = pa.table({"id": pa.array(ids), "vector": vectors})
        if self.table is None:
            self.table = self.db.create_table("bench", data)
        else:
            self.table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(
                data
            )

    def finish(self):
        from datetime import timedelta

        from lancedb.index import IvfPq

        self.table.optimize(cleanup_older_than=timedelta(0))
        self.table.create_index("vector", config=IvfPq(distance_type="l2", num_sub_vectors=self.dim // 4))
        self.table.optimize(cleanup_older_than=timedelta(0))

    def open(self):
        import lancedb

        self.table = lancedb.connect(self.path).open_table("bench")

    def query(self, v, k):
        search = self.table.search(v).limit(k).nprobes(self.NPROBES).refine_factor(self.REFINE)
        return search.select(["id"]).to_arrow()["id"].to_pylist()

    def close(self):
        self.table = None


class FaissHNSW:
    def __init__(self, path: Path, dim: int):
        import faiss

        self.faiss, self.file = faiss, str(path / "index.faiss")
        path.mkdir(parents=True, exist_ok=True)
        self.index = faiss.IndexHNSWFlat(dim, 32)
        self.index.hnsw.efConstruction = 80

    def insert(self, ids, x):
        self.index.add(x)

    def finish(self):
        self.faiss.write_index(self.index, self.file)

    def open(self):
        self.index = self.faiss.read_index(self.file)
        self.index.hnsw.efSearch = 128

    def query(self, v, k):
        return [str(i) for i in self.index.search(v[None], k)[1][0]]

    def close(self):
        del self.index


ADAPTERS = {"numpy": Numpy, "qdrant": Qdrant, "lancedb": Lance, "faiss-hnsw": FaissHNSW}


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def run_single(args: argparse.Namespace) -> None:
    """Measure one backend at one size in this process; write result.json into --workdir."""
    work, k = Path(args.workdir), 10
    progress = work / "progress.json"
    path = work / "db"
    factory = ADAPTERS.get(args.single)
    db = factory(path, args.dim) if factory else Hyrax(path, args.dim, args.single)
    insert_s = 0.0
    for start, x in blocks(args.size, args.dim, args.seed):
        for offset in range(0, len(x), args.batch):
            part = x[offset : offset + args.batch]
            ids = [str(i) for i in range(start + offset, start + offset + len(part))]
            t = time.perf_counter()
            db.insert(ids, part)
            insert_s += time.perf_counter() - t
        progress.write_text(json.dumps({"inserted": start + len(x), "insert_s": insert_s}))
    t = time.perf_counter()
    db.finish()
    finish_s = time.perf_counter() - t
    t = time.perf_counter()
    db.open()
    open_s = time.perf_counter() - t
    q = queries(args.queries, args.dim, args.seed)
    for v in q[:5]:
        db.query(v, k)
    latencies, found = [], []
    for v in q:
        t = time.perf_counter()
        found.append(db.query(v, k))
        latencies.append(time.perf_counter() - t)
    db.close()
    result = {
        "insert_s": insert_s,
        "finish_s": finish_s,
        "open_s": open_s,
        "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "disk_gb": disk_bytes(path) / 2**30,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "found": found,
        # Other work on the machine slows every number; the 1-minute load average records how much.
        "load": os.getloadavg()[0],
    }
    (work / "result.json").write_text(json.dumps(result))


def run_all(args: argparse.Namespace) -> None:
    root = Path(args.workdir or tempfile.mkdtemp(prefix="hyrax-vdb-bench-"))
    rows = []
    print(
        f"# {datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, dim {args.dim}, {args.queries} queries"
    )
    header = (
        "| backend | vectors | insert s | index+save s | open s | peak RSS GB | disk GB | p50 ms | p99 ms |"
    )
    print(header + " recall@10 | load | note |\n|" + "---|" * 12, flush=True)
    for size in args.sizes:
        truth = ground_truth(size, args.dim, args.seed, queries(args.queries, args.dim, args.seed), 10)
        for backend in args.backends:
            work = root / f"{backend}-{size}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            command = [
                sys.executable,
                __file__,
                "--single",
                backend,
                "--size",
                str(size),
                "--workdir",
                str(work),
            ]
            command += ["--dim", str(args.dim), "--queries", str(args.queries), "--seed", str(args.seed)]
            command += ["--batch", str(args.batch)]
            row = {"backend": backend, "size": size, "note": ""}
            try:
                # Multithreaded BLAS slows a single brute-force query on a busy 2-core machine.
                env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"} if backend == "numpy" else None
                done = subprocess.run(command, timeout=args.timeout, capture_output=True, text=True, env=env)
                if done.returncode:
                    row["note"] = "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:120]
            except subprocess.TimeoutExpired:
                seen = (
                    json.loads((work / "progress.json").read_text())
                    if (work / "progress.json").exists()
                    else {}
                )
                row["note"] = f"timed out after {args.timeout:.0f} s ({seen.get('inserted', 0):,} inserted)"
            if (work / "result.json").exists():
                result = json.loads((work / "result.json").read_text())
                found = result.pop("found")
                hits = [len(set(f) & {str(i) for i in t}) / 10 for f, t in zip(found, truth, strict=True)]
                row.update(result, recall=float(np.mean(hits)))
            rows.append(row)
            print_row(row)
            if not args.keep:
                shutil.rmtree(work / "db", ignore_errors=True)
    (root / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"results in {root / 'results.json'}")


def print_row(row: dict) -> None:
    def cell(key: str, fmt: str) -> str:
        return format(row[key], fmt) if key in row else "–"

    cells = [row["backend"], f"{row['size']:,}", cell("insert_s", ".1f"), cell("finish_s", ".1f")]
    cells += [cell("open_s", ".2f"), cell("rss_gb", ".2f"), cell("disk_gb", ".2f"), cell("p50_ms", ".2f")]
    cells += [cell("p99_ms", ".2f"), cell("recall", ".3f"), cell("load", ".1f"), row["note"]]
    print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=["numpy", "faiss", "chromadb", "lancedb", "qdrant"])
    parser.add_argument("--queries", type=int, default=200, help="single queries timed per backend")
    parser.add_argument("--batch", type=int, default=5000, help="vectors per insert call")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per backend and size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="folder for the databases (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the databases after measuring")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    run_single(args) if args.single else run_all(args)


if __name__ == "__main__":
    main()
