"""Cutouts per second of `hyrax download` at 1, 4 and 16 connections, and `rebuild_manifest` on 100,000 files.

1. **Download throughput.** A local test server (``tests/cutout_server.py``) cuts real FITS cutouts
   out of the HSC sample's sky images (``../shared/data/hsc_sample/images``) and speaks both services'
   protocols: ``hsc_das`` (one ``POST`` of a coordinate list per ``--rows-per-request`` (50) cutouts, a
   tar archive back, HTTP Basic auth) and ``legacy_survey`` (one ``GET`` per cutout). Every request
   waits ``--latency`` seconds (0.05) before it is answered, standing in for the round trip and queue
   of a remote service. The server runs in a child process, so that its work (about 6.6 ms of CPU per
   DAS cutout and 4 ms per Legacy cutout, in one GIL) does not compete with the client's for this
   process's GIL; ``--server-in-process`` runs it in threads here instead. A catalog of ``--objects``
   (400) positions on the sky images is downloaded with the real ``download`` verb
   (``Hyrax().download()``, in this process) into a fresh folder per measurement, in one filter
   (``HSC-I`` / ``r``), as 4 arcsec cutouts (24x24 / 15x15 pixels). Each setting is measured
   ``--rounds`` (3) times, the settings interleaved within each round (services, then 1, 4, 16
   connections), after one unreported warm-up download per service.

   Columns: ``requests`` (HTTP requests one download makes), the median ``cutouts/s`` as the verb
   reports it (``DownloadSummary.rate``: fetched cutouts over the time from the start of fetching to
   the last cutout, without reading the catalog or writing the manifest) and its spread over rounds
   (``min-max``), its ratio to 1 connection, the median wall time of the whole ``h.download()`` call,
   and the cores kept busy by the client (this process) and by the server process (CPU time over
   wall time; a server near 1.0 is saturated, as its cutting runs under one GIL).

   Target: throughput grows with connections until the server saturates.

   The test server sets TCP_NODELAY, as real services' web servers do: it writes an answer's headers
   and body in two ``send`` calls, and with Nagle's algorithm and the client's delayed ACK each answer
   waited about 40 ms more (``legacy_survey`` at 1 connection ran at ~10 cutouts/s instead of ~17).

2. **rebuild_manifest over 100,000 files.** ``--files`` (100,000) cutout files
   ``<object_id>_<filter>.fits`` (50,000 ids x 2 filters) are written to a temporary folder, all with
   the bytes of one small FITS file (a 16x16 float32 image, 5,760 bytes); how long that takes is
   printed apart. Then ``hyrax.datasets.cutout_folder.rebuild_manifest(folder)`` runs in a fresh
   process, twice: on the folder without a manifest, and on the folder with a manifest holding ``ra``
   and ``dec`` as the download verb writes it (``hyrax.download.manifest.write_manifest``; not timed),
   whose per-object columns the rebuild carries over. Reported: the function's time, the child
   process's wall time (interpreter start and imports included), its peak resident memory (``VmHWM``,
   read by the child at the end; ``ru_maxrss`` of a child is no use on Linux, where it starts at the
   parent's peak) and the peak's increase over the peak after the child's imports
   (``hyrax.datasets.cutout_folder``, ``astropy.table``, ``astropy.io.fits``). The files were just
   written, so they are in the page cache; a cold disk would add the time to read the directory and
   stat every file.

   Targets: under 60 s and under 1 GiB; PASS/FAIL per row.

The machine's load averages (1, 5, 15 minutes) are printed at the start and the end; other work slows
every number.

Measured on 2026-11-30, 2 cores, the full default run (2 min 21 s; load 2.43 at the start, 2.04 at
the end, much of it from this benchmark's own earlier runs):

    | service | conns | requests | cutouts/s | min-max | x 1 conn | wall s | cores | srv cores |
    |---|---|---|---|---|---|---|---|---|
    | hsc_das | 1 | 8 | 145.9 | 140.1-171.4 | 1.00 | 2.78 | 0.09 | 0.75 |
    | hsc_das | 4 | 8 | 153.3 | 152.0-193.9 | 1.05 | 2.66 | 0.09 | 0.98 |
    | hsc_das | 16 | 8 | 166.9 | 160.3-177.1 | 1.14 | 2.46 | 0.10 | 0.98 |
    | legacy_survey | 1 | 400 | 17.2 | 17.1-17.3 | 1.00 | 23.36 | 0.05 | 0.09 |
    | legacy_survey | 4 | 400 | 60.2 | 59.0-63.1 | 3.49 | 6.71 | 0.17 | 0.29 |
    | legacy_survey | 16 | 400 | 174.1 | 147.1-195.3 | 10.10 | 2.35 | 0.46 | 0.83 |

    wrote 100,000 cutout files in 8.5 s
    | case | rebuild s | process s | peak MiB | over imports MiB | verdict |
    |---|---|---|---|---|---|
    | no manifest | 1.80 | 2.32 | 203 | 142 | PASS |
    | old manifest with ra, dec | 2.38 | 2.98 | 248 | 188 | PASS |

``legacy_survey`` grows with connections as the target asks: at 1 connection a request takes the
0.05 s latency plus ~8 ms, at 16 the server process nears one busy core (its GIL). ``hsc_das`` is at
the server's limit already at 1 connection: the test server cuts a request's 50 cutouts (~6.6 ms of
CPU each) before it sends anything, so the latency is a small part of a request and more
connections add little (16 connections have only 8 requests to share). The download code itself
used at most half a core. In a separate run with ``--parts rebuild --files 300000`` the rebuild took
7.2 s, with peaks of 484 and 609 MiB: memory grows by about 1.4 KiB per file (1.8 with an old
manifest), so the 1 GiB target would be crossed near 700,000 (550,000) files.

    .venv/bin/python benchmarks/download.py [--objects 400] [--rounds 3] [--latency 0.05] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("hsc_das", "legacy_survey")
FILTERS = {"hsc_das": "HSC-I", "legacy_survey": "r"}
USER, PASSWORD = "astro", "s3cret"
FIRST_ID = 36411452835238206  # HSC-like 17-digit object ids
REBUILD_FILTERS = ("HSC-G", "HSC-R")
TARGET_SECONDS, TARGET_GIB = 60.0, 1.0
WARM_UP_OBJECTS = 20

# Runs in a fresh interpreter: rebuild the manifest of the folder in argv[1]; print times and peaks.
REBUILD_CHILD = """
import json, sys, time
started = time.perf_counter()

def peak_kib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])

import astropy.io.fits, astropy.table
from hyrax.datasets.cutout_folder import rebuild_manifest
imported = time.perf_counter()
baseline = peak_kib()
rebuild_manifest(sys.argv[1])
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "rebuild_s": done - imported,
                  "baseline_kib": baseline, "peak_kib": peak_kib()}))
"""


def load() -> str:
    """The load averages over 1, 5 and 15 minutes."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# ------------------------------------------------------------------------------------------- download
def write_catalog(path: Path, positions: list[tuple[float, float]]) -> Path:
    """A FITS catalog with columns object_id, ra, dec."""
    import numpy as np
    from astropy.table import Table

    ids = np.arange(FIRST_ID, FIRST_ID + len(positions), dtype=np.int64)
    ras, decs = (np.array(values) for values in zip(*positions, strict=True))
    Table({"object_id": ids, "ra": ras, "dec": decs}).write(path, overwrite=True)
    return path


def download_once(server, args, service: str, connections: int, catalog: Path, folder: Path, tmp: Path):
    """Run the download verb once into a new ``folder``; return its row of measurements."""
    from hyrax import Hyrax

    h = Hyrax()
    general = h.config["general"]
    if "log_level" in general:
        general["log_level"] = "warning"
    general["results_dir"] = str(tmp / "results")
    d = h.config["download"]
    d["source_catalog"] = str(catalog)
    d["data_dir"] = str(folder)
    d["service"] = service
    d["hsc_das"]["url"] = server.das_url
    d["legacy_survey"]["url"] = server.legacy_url
    d["username"], d["password"] = USER, PASSWORD
    d["filters"] = [FILTERS[service]]
    d["semi_width"] = d["semi_height"] = "2asec"
    d["concurrent_requests"] = connections
    d["hsc_das"]["rows_per_request"] = args.rows_per_request
    requests_before, server_cpu_before = server.counters()
    cpu_started, started = time.process_time(), time.perf_counter()
    # The verb prints its summary line; the table says it instead.
    with contextlib.redirect_stdout(io.StringIO()):
        summary = h.download()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    requests_after, server_cpu_after = server.counters()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "rate": summary.rate,
        "wall": wall,
        "cores": cpu / wall,
        "server_cores": (server_cpu_after - server_cpu_before) / wall,
        "requests": requests_after - requests_before,
        "fetched": summary.fetched,
        "total": summary.total,
        "failed": summary.failed,
        "no_data": summary.no_data,
    }


class ServerProcess:
    """The test cutout server in a child process, so that it does not share this process's GIL.

    Offers what the benchmark uses of ``CutoutServer``: ``das_url``, ``legacy_url``,
    ``sky_positions()``, and counters read through a pipe.
    """

    def __init__(self, latency: float):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(target=serve, args=(child_end, latency), daemon=True)
        self._process.start()
        reply = self._pipe.recv()
        if isinstance(reply, Exception):
            raise reply
        self.das_url, self.legacy_url = reply

    def _ask(self, *message):
        self._pipe.send(message)
        return self._pipe.recv()

    def sky_positions(self, n: int, seed: int) -> list[tuple[float, float]]:
        return self._ask("positions", n, seed)

    def counters(self) -> tuple[int, float]:
        """Requests received so far, and the server process's CPU seconds."""
        return self._ask("counters")

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._ask("stop")
        self._process.join(timeout=10)


def serve(pipe, latency: float) -> None:
    """Child process: run a ``CutoutServer`` and answer the parent's questions until told to stop."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import cutout_server

        server = cutout_server.CutoutServer(latency=latency)
    except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
        pipe.send(error)
        return
    with server:
        pipe.send((server.das_url, server.legacy_url))
        while True:
            question, *rest = pipe.recv()
            if question == "positions":
                pipe.send(server.sky_positions(*rest))
            elif question == "counters":
                pipe.send((len(server.requests), time.process_time()))
            else:
                pipe.send(None)
                return


class ServerInProcess:
    """The test cutout server in threads of this process (``--server-in-process``)."""

    def __init__(self, latency: float):
        import cutout_server

        self._server = cutout_server.CutoutServer(latency=latency)
        self._server.start()
        self.das_url, self.legacy_url = self._server.das_url, self._server.legacy_url
        self.sky_positions = self._server.sky_positions

    def counters(self) -> tuple[int, float]:
        """Requests received so far; its CPU time is this process's, counted as the client's."""
        return len(self._server.requests), 0.0

    def close(self) -> None:
        self._server.stop()


def run_downloads(args, tmp: Path) -> None:
    """Measure every service at every connection count, ``--rounds`` times; print the table."""
    make_server = ServerInProcess if args.server_in_process else ServerProcess
    server = make_server(args.latency)
    results: dict[tuple[str, int], list[dict]] = {}
    try:
        positions = server.sky_positions(args.objects, args.seed)
        catalog = write_catalog(tmp / "catalog.fits", positions)
        warm_catalog = write_catalog(tmp / "warm_up.fits", positions[:WARM_UP_OBJECTS])
        for service in args.services:
            download_once(server, args, service, 4, warm_catalog, tmp / f"warm-{service}", tmp)
        for round_number in range(1, args.rounds + 1):
            for service in args.services:
                for connections in args.connections:
                    folder = tmp / f"{service}-{connections}-{round_number}"
                    row = download_once(server, args, service, connections, catalog, folder, tmp)
                    results.setdefault((service, connections), []).append(row)
                    print(
                        f"# round {round_number} {service:13s} {connections:2d} conn: {row['rate']:7.1f} "
                        f"cutouts/s, {row['fetched']}/{row['total']} fetched, load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
    finally:
        server.close()
    print(
        f"\n{args.objects} objects x 1 filter, latency {args.latency} s per request, "
        f"hsc_das {args.rows_per_request} rows per request, {args.rounds} round(s); cutouts/s median "
        "(min-max)\n"
    )
    columns = ["service", "conns", "requests", "cutouts/s", "min-max", "x 1 conn", "wall s", "cores"]
    columns += ["srv cores", "note"]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for service in args.services:
        base = None
        for connections in args.connections:
            rows = results[(service, connections)]
            rates = [row["rate"] for row in rows]
            median = statistics.median(rates)
            base = median if base is None else base
            notes = []
            bad = [row for row in rows if row["fetched"] != row["total"] or row["failed"] or row["no_data"]]
            if bad:
                fetched = [row["fetched"] for row in bad]
                notes.append(f"{len(bad)} run(s) incomplete: fetched {fetched} of {bad[0]['total']}")
            requests = max(row["requests"] for row in rows)
            server_cores = [row["server_cores"] for row in rows]
            if requests < connections:
                notes.append(f"only {requests} requests to spread")
            cells = [
                service,
                str(connections),
                str(requests),
                f"{median:.1f}",
                f"{min(rates):.1f}-{max(rates):.1f}",
                f"{median / base:.2f}" if base else "-",
                f"{statistics.median(row['wall'] for row in rows):.2f}",
                f"{statistics.median(row['cores'] for row in rows):.2f}",
                "-" if args.server_in_process else f"{statistics.median(server_cores):.2f}",
                "; ".join(notes),
            ]
            print("| " + " | ".join(cells) + " |", flush=True)


# ------------------------------------------------------------------------------------- rebuild_manifest
def small_fits_bytes() -> bytes:
    """The bytes of a FITS file holding a 16x16 float32 image."""
    import numpy as np
    from astropy.io import fits

    buffer = io.BytesIO()
    image = np.random.default_rng(0).normal(size=(16, 16)).astype(np.float32)
    fits.PrimaryHDU(image).writeto(buffer)
    return buffer.getvalue()


def write_cutout_files(folder: Path, files: int) -> tuple[list[str], tuple[str, ...]]:
    """``files`` cutout files (ids x filters) with the same small FITS bytes; return ids and filters."""
    from hyrax.datasets.cutout_folder import cutout_filename

    content = small_fits_bytes()
    filters = REBUILD_FILTERS
    ids = [str(FIRST_ID + index) for index in range(-(-files // len(filters)))]
    written = 0
    for object_id in ids:
        for filter_name in filters:
            if written == files:
                break
            with open(folder / cutout_filename(object_id, filter_name), "wb") as stream:
                stream.write(content)
            written += 1
    return ids, filters


def rebuild_in_child(folder: Path, timeout: float, log: Path) -> dict:
    """Run ``rebuild_manifest(folder)`` in a fresh interpreter; return its times and memory."""
    command = [sys.executable, "-c", REBUILD_CHILD, str(folder)]
    started = time.perf_counter()
    with open(log, "w") as log_file:
        child = subprocess.Popen(command, stdout=log_file, stderr=log_file)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            return {"process_s": time.perf_counter() - started, "error": f"stopped after {timeout:.0f} s"}
        except BaseException:
            child.kill()
            child.wait()
            raise
    row = {"process_s": time.perf_counter() - started}
    lines = log.read_text().strip().splitlines() or ["?"]
    if child.returncode != 0:
        row["error"] = f"exit {child.returncode}: {lines[-1][:120]}"
        return row
    # The child measures its own peak (VmHWM): the ru_maxrss of a child, whether from os.wait4 or
    # RUSAGE_CHILDREN, starts at this process's peak on Linux, since exec keeps the high-water mark
    # of the memory it replaces.
    row.update(json.loads(lines[-1]))
    return row


def run_rebuild(args, tmp: Path) -> None:
    """Write the files, rebuild the manifest without and with an old one; print the table."""
    folder = tmp / "cutouts"
    folder.mkdir()
    started = time.perf_counter()
    ids, filters = write_cutout_files(folder, args.files)
    print(
        f"\n# wrote {args.files:,} cutout files ({len(ids):,} ids x {len(filters)} filters) in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    rows = [("no manifest", rebuild_in_child(folder, args.timeout, tmp / "rebuild-1.log"))]
    if "error" not in rows[0][1]:
        import numpy as np

        from hyrax.download.manifest import write_manifest

        rng = np.random.default_rng(args.seed)
        ras, decs = rng.uniform(0, 360, len(ids)), rng.uniform(-30, 30, len(ids))
        started = time.perf_counter()
        write_manifest(folder, ids, ras, decs, filters, {})
        print(f"# wrote manifest.fits with ra, dec (write_manifest) in {time.perf_counter() - started:.1f} s")
        row = rebuild_in_child(folder, args.timeout, tmp / "rebuild-2.log")
        rows.append(("old manifest with ra, dec", row))
    print(
        f"\nrebuild_manifest over {args.files:,} files; targets: under {TARGET_SECONDS:.0f} s and "
        f"{TARGET_GIB} GiB\n"
    )
    print("| case | rebuild s | process s | peak MiB | over imports MiB | verdict |")
    print("|" + "---|" * 6)
    for case, row in rows:
        if "error" in row:
            print(f"| {case} | - | {row['process_s']:.1f} | - | - | FAIL ({row['error']}) |")
            continue
        peak_mib, baseline_mib = row["peak_kib"] / 1024, row["baseline_kib"] / 1024
        passed = row["rebuild_s"] < TARGET_SECONDS and peak_mib < TARGET_GIB * 1024
        cells = [
            case,
            f"{row['rebuild_s']:.2f}",
            f"{row['process_s']:.2f}",
            f"{peak_mib:.0f}",
            f"{peak_mib - baseline_mib:.0f}",
            "PASS" if passed else "FAIL",
        ]
        print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=400, help="objects downloaded per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each setting")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--services", nargs="+", choices=SERVICES, default=list(SERVICES))
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each request waits")
    parser.add_argument("--rows-per-request", type=int, default=50, help="hsc_das cutouts per request")
    parser.add_argument("--files", type=int, default=100_000, help="cutout files for rebuild_manifest")
    parts = ("download", "rebuild")
    parser.add_argument("--parts", nargs="+", choices=parts, default=list(parts), help="what to measure")
    parser.add_argument(
        "--server-in-process",
        action="store_true",
        help="run the test server in threads of this process instead of a child process",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per rebuild")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--quick", action="store_true", help="a fast check: 100 objects, 1 round, 10,000 files"
    )
    args = parser.parse_args()
    if args.quick:
        args.objects, args.rounds, args.files = 100, 1, 10_000

    sys.path.insert(0, str(REPO / "tests"))
    from cutout_server import SAMPLE_DIR

    if "download" in args.parts and not (SAMPLE_DIR / "images").is_dir():
        sys.exit(
            f"The HSC sample's sky images are not at {SAMPLE_DIR / 'images'}; the test cutout server needs "
            "them (they ship beside the repository as ../shared/data/hsc_sample). Run with --parts rebuild "
            "to measure rebuild_manifest alone."
        )
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load at start {load()}", flush=True)
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(tempfile.mkdtemp(prefix="hyrax-download-bench-"))
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hyrax-download-bench-")))
        if "download" in args.parts:
            run_downloads(args, tmp)
        if "rebuild" in args.parts:
            run_rebuild(args, tmp)
        if args.keep:
            print(f"kept {tmp}")
    print(f"\n# load at end {load()}")


if __name__ == "__main__":
    main()
