"""Data-loading speed: FitsImageDataSet against a bare astropy loop, and the in-memory item cache.

Writes ``--n`` objects (default 3000) with one ``--size`` x ``--size`` float32 FITS cutout per filter
(default 3 filters, 64x64) and a FITS catalog into a temporary folder, then measures items per second:

* bare loop: ``astropy.io.fits.getdata`` of each object's files, nothing else;
* first pass: ``dataset[i]`` over every object of a FitsImageDataSet (read, stack, NaN check, tensor);
* cached: ``dataset[i]`` over a ``CachedDataset`` that a previous pass filled.

Every file is read once before timing so that all passes find them in the OS page cache; the bare loop
and the first pass then alternate for ``--repeats`` rounds and the best round of each is reported.
Targets: first pass >= 0.8x the bare loop; cached >= 10x the first pass.

    .venv/bin/python benchmarks/data_loading.py [--n 3000] [--filters 3] [--size 64] [--extension]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from hyrax.config import load_config
from hyrax.datasets.cache import CachedDataset
from hyrax.datasets.fits_image_dataset import FitsImageDataSet

FILTERS = ("g", "r", "i", "z", "y")


def write_dataset(folder: Path, n: int, n_filters: int, size: int, extension: bool, scaled: bool) -> Path:
    """Write the cutouts and their catalog; return the catalog path."""
    rng = np.random.default_rng(0)
    filters = FILTERS[:n_filters]
    columns: dict[str, list] = {"object_id": [f"obj{i:06d}" for i in range(n)]}
    for name in filters:
        columns[f"file_{name}"] = []
    for object_id in columns["object_id"]:
        for name in filters:
            image = rng.normal(size=(size, size)).astype(np.float32)
            hdus = [fits.PrimaryHDU(), fits.ImageHDU(image)] if extension else [fits.PrimaryHDU(image)]
            if scaled:
                # BSCALE/BZERO make FitsImageDataSet hand the file to astropy instead of its own reader.
                hdus[-1].header["BSCALE"], hdus[-1].header["BZERO"] = 1.0, 0.0
            filename = f"{object_id}_{name}.fits"
            fits.HDUList(hdus).writeto(folder / filename)
            columns[f"file_{name}"].append(filename)
    catalog = folder / "catalog.fits"
    Table(columns).write(catalog)
    return catalog


def make_dataset(catalog: Path, n_filters: int) -> tuple[FitsImageDataSet, float]:
    """Build the dataset; return it and the seconds its construction (the header scan) took."""
    config = load_config()
    table = config["data_set"]["FitsImageDataSet"]
    table["catalog"] = str(catalog)
    for name in FILTERS[:n_filters]:
        table["filename_columns"][name] = f"file_{name}"
    start = time.perf_counter()
    dataset = FitsImageDataSet(config)
    return dataset, time.perf_counter() - start


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=3000, help="number of objects")
    parser.add_argument("--filters", type=int, default=3, choices=range(1, len(FILTERS) + 1))
    parser.add_argument("--size", type=int, default=64, help="cutout side in pixels")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds; the best is reported")
    parser.add_argument("--extension", action="store_true", help="image in HDU 1 behind an empty primary")
    parser.add_argument("--scaled", action="store_true", help="BSCALE/BZERO headers: astropy decodes pixels")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="hyrax-bench-"))
    try:
        start = time.perf_counter()
        catalog = write_dataset(folder, args.n, args.filters, args.size, args.extension, args.scaled)
        print(
            f"wrote {args.n} objects x {args.filters} filters of {args.size}x{args.size} float32 "
            f"({'HDU 1' if args.extension else 'primary HDU'}{', BSCALE/BZERO' if args.scaled else ''}) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        dataset, build_seconds = make_dataset(catalog, args.filters)
        files = [[paths[i] for paths in dataset._paths] for i in range(len(dataset))]
        for path in (p for row in files for p in row):
            Path(path).read_bytes()
        print("OS page cache warmed: every file was read once before timing.")

        def bare_loop():
            for row in files:
                for path in row:
                    fits.getdata(path)

        def item_pass(data):
            for index in range(len(data)):
                data[index]

        bare, first = [], []
        for _ in range(args.repeats):
            bare.append(timed(bare_loop))
            first.append(timed(lambda: item_pass(dataset)))
        cached_dataset = CachedDataset(dataset, max_bytes=2 * args.n * dataset.get_data(0).nbytes)
        fill = timed(lambda: item_pass(cached_dataset))
        cached = [timed(lambda: item_pass(cached_dataset)) for _ in range(args.repeats)]
        stats = cached_dataset.cache_stats()

        rate = {
            name: args.n / min(times)
            for name, times in [("bare", bare), ("first", first), ("fill", [fill]), ("cached", cached)]
        }
        print(
            f"dataset construction (catalog + header scan of {args.n * args.filters} files): "
            f"{build_seconds:.2f} s"
        )
        print(f"{'bare loop of fits.getdata':<38}{rate['bare']:>10.0f} items/s")
        print(f"{'FitsImageDataSet first pass':<38}{rate['first']:>10.0f} items/s")
        print(f"{'CachedDataset filling pass':<38}{rate['fill']:>10.0f} items/s")
        print(
            f"{'CachedDataset cached pass':<38}{rate['cached']:>10.0f} items/s"
            f"   (hits {stats['hits']}, misses {stats['misses']})"
        )
        first_ratio, cached_ratio = rate["first"] / rate["bare"], rate["cached"] / rate["first"]
        print(
            f"first pass / bare loop = {first_ratio:.2f}x (target >= 0.8x) "
            f"{'ok' if first_ratio >= 0.8 else 'MISSED'}"
        )
        print(
            f"cached / first pass    = {cached_ratio:.2f}x (target >= 10x) "
            f"{'ok' if cached_ratio >= 10 else 'MISSED'}"
        )
        print(f"cached / bare loop     = {rate['cached'] / rate['bare']:.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    warnings.simplefilter("ignore", UserWarning)
    main()
