"""Time and peak memory of `hyrax visualize` at 100,000 and 1,000,000 points, up to the first frame.

For each of ``--sizes`` a umap results directory of that many 2-D points is written directly (no
training, no UMAP fit): one Gaussian blob per class, with the class labels stored beside the vectors,
linked to the default ``SyntheticGalaxyDataSet`` with ``size`` = N (writing it is not timed; the labels
are drawn per object, about 20 s for 1,000,000). That dataset draws its objects lazily, so no image is
made; with the default ``[visualize]`` settings (``color_column = ""``,
``fields = []``) points are coloured by the stored labels and no metadata is read from it. Then, each
in a fresh process so that memory peaks do not mix:

1. **build**: load the embedding (``load_embedding``) and build the ``Explorer``, imports included, as
   ``h.visualize()`` does; the import of torch (through ``InferenceDataSet``) is timed on its own. The
   breakdown adds what a server session does next with it: render it into a Bokeh document (HoloViews
   plot and the first Datashader aggregation, which compiles Datashader's numba kernels in a new
   process), serialize that document, and render a second session in the same process (the warm cost).
2. **first frame**: ``hyrax visualize --serve`` starts; once it prints its address, headless Chromium
   (``tests/browser.py``) opens the page, and the time is taken when the plot's canvas shows the
   rasterised image (Bokeh's image glyph has its data, the document is idle, and the plot frame holds
   painted pixels). Reported from the server's start and from the page's opening, with the server's
   peak resident memory (``VmHWM``) at that moment; the server is then stopped with SIGINT.

Targets on a 2-core machine: the first frame of 1,000,000 points in under 10 s (from the server's
start), in under 2 GB (the server's peak memory).

Each size is measured ``--repeats`` times (each time in new processes); the table shows the median
times and the largest peaks, since other work on a shared machine shifts single runs by seconds. Its
columns: ``build`` and ``peak`` (1.), ``1st render`` (the first render of the breakdown), ``srv up``
(until the server printed its address), ``1st byte``, ``loaded`` and ``page>frame`` (from opening the
page until the HTML's first byte, which waits for the session's Explorer and plot, until the load
event, which waits for the scripts, and until the frame), ``start>frame`` and ``srv peak`` (2.).

    .venv/bin/python benchmarks/visualize.py [--sizes 1000000 100000] [--repeats 3] [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.config import load_config
from hyrax.inference.results_format import write_dataset_config
from hyrax.inference.results_writer import ResultsWriter
from hyrax.results import create_results_dir, mark_complete

HERE = Path(__file__).resolve().parent
TARGET_SIZE, TARGET_SECONDS, TARGET_MIB = 1_000_000, 10.0, 2048
BLOCK = 100_000
# A first frame not there after this long is reported as a failure, not waited for.
FRAME_TIMEOUT = 300.0
SERVER_START_TIMEOUT = 600.0
POLL_SECONDS = 0.1

CONFIG = """
[general]
results_dir = "{root}/results"
data_dir = "{root}/data"
[data_set.SyntheticGalaxyDataSet]
size = {size}
[visualize]
input_dir = "{input_dir}"
"""

# Runs in a fresh interpreter: phase times and the peak memory (VmHWM) after each phase, as JSON.
BUILD_CHILD = """
import json, sys, time
start = time.perf_counter()
args = json.loads(sys.argv[1])

def peak_mib():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

phases = []
def phase(name):
    global start
    now = time.perf_counter()
    phases.append((name, now - start, peak_mib()))
    start = now

import pandas, panel, holoviews, datashader, bokeh
from hyrax.config import load_config
from hyrax.visualize.embedding import load_embedding
from hyrax.visualize.explorer import Explorer
phase("imports")
# load_embedding reads through InferenceDataSet, whose module imports torch; timed on its own.
import hyrax.datasets.inference_dataset
phase("torch import")
config = load_config(args["config"])
settings, seed = config["visualize"], int(config["general"]["seed"])
embedding = load_embedding(config, args["input_dir"])
phase("load_embedding")
explorer = Explorer(embedding, settings, seed)
phase("Explorer()")
from bokeh.document import Document
document = Document()
document.add_root(explorer.layout.get_root(document))
phase("first render")
payload = json.dumps(document.to_json(deferred=False))
phase("serialize")
Explorer(embedding, settings, seed).layout.get_root(Document())
phase("second session")
print(json.dumps({"phases": phases, "document_mib": len(payload) / 2**20}))
"""

NAVIGATION_FIRST_BYTE = "return performance.getEntriesByType('navigation')[0].responseStart / 1000;"
# Bokeh's views are reached through Bokeh.index, so Panel's shadow roots need no walking.
FRAME_PROBE = """
const state = {documents: 0, idle: false, image: false, painted: 0};
if (typeof Bokeh === "undefined" || !Bokeh.documents) return state;
state.documents = Bokeh.documents.length;
state.idle = state.documents > 0 && Bokeh.documents.every((document) => document.is_idle);
const renderers = [...Bokeh.index.query(
  (view) => view.model.type === "GlyphRenderer" && view.model.glyph.type.startsWith("Image"))];
for (const view of renderers) {
  const image = view.model.data_source.data.image;
  if (image == null || image.length === 0) continue;
  state.image = true;
  const layer = view.plot_view.canvas.primary;
  const box = view.plot_view.frame.bbox;
  const ratio = layer.pixel_ratio;
  const pixels = layer.ctx.getImageData(
    box.left * ratio, box.top * ratio, box.width * ratio, box.height * ratio).data;
  let painted = 0;
  // The frame's background is white; anything clearly darker was drawn there.
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] > 0 && (pixels[i] < 240 || pixels[i + 1] < 240 || pixels[i + 2] < 240)) painted++;
  }
  state.painted = Math.max(state.painted, painted);
}
return state;
"""
# Painted pixels in the plot frame that count as the rasterised points having been drawn.
MIN_PAINTED = 1000


def write_umap_run(root: Path, size: int) -> tuple[Path, Path]:
    """A complete umap results directory of ``size`` labelled 2-D points; returns it and a config file.

    The points are one Gaussian blob per class of the dataset's labels, so the plot has structure and
    every class is a colour. The ids and indices are those of ``SyntheticGalaxyDataSet`` of that size,
    so thumbnails would find the objects.
    """
    from hyrax.datasets.synthetic_galaxy_dataset import SyntheticGalaxyDataSet

    config = load_config()
    config["general"]["results_dir"] = str(root / "results")
    config["data_set"]["name"] = "SyntheticGalaxyDataSet"
    config["data_set"]["SyntheticGalaxyDataSet"]["size"] = size
    dataset = SyntheticGalaxyDataSet(config)
    centres = np.random.default_rng(0).normal(scale=6.0, size=(len(dataset.class_names), 2))
    rng = np.random.default_rng(1)
    directory = create_results_dir(config["general"]["results_dir"], "umap")
    ids = dataset.ids()
    with ResultsWriter(directory) as writer:
        for first in range(0, size, BLOCK):
            index = np.arange(first, min(first + BLOCK, size))
            labels = np.fromiter((dataset.get_label(int(i)) for i in index), dtype=np.int64, count=len(index))
            points = centres[labels] + rng.normal(size=(len(index), 2))
            writer.write([ids[int(i)] for i in index], points, index, labels)
    write_dataset_config(directory, config)
    mark_complete(directory)
    config_file = root / f"visualize-{size}.toml"
    config_file.write_text(CONFIG.format(root=root, size=size, input_dir=directory))
    return directory, config_file


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env() -> dict[str, str]:
    """The environment of the measured processes: unbuffered output, no telemetry."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


def measure_build(input_dir: Path, config_file: Path) -> dict:
    """Load the embedding and build the Explorer in a fresh process, then render it as a session does.

    Returns
    -------
    dict
        ``phases``: (name, seconds, peak MiB so far) in order; ``build`` and ``build_peak``: seconds
        and peak MiB of building the plot as ``h.visualize()`` does (imports, ``load_embedding``,
        ``Explorer()``); ``first_render``: seconds of the first render into a Bokeh document;
        ``document_mib``: the serialized Bokeh document of one session.
    """
    arguments = json.dumps({"config": str(config_file), "input_dir": str(input_dir)})
    process = subprocess.Popen(
        [sys.executable, "-c", BUILD_CHILD, arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        output, errors = process.communicate(timeout=SERVER_START_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"building the plot failed:\n{errors}")
    result = json.loads(output.strip().splitlines()[-1])
    built = {"imports", "torch import", "load_embedding", "Explorer()"}
    result["build"] = sum(seconds for name, seconds, _ in result["phases"] if name in built)
    result["build_peak"] = next(peak for name, _, peak in result["phases"] if name == "Explorer()")
    result["first_render"] = next(seconds for name, seconds, _ in result["phases"] if name == "first render")
    return result


def read_status_mib(pid: int, field: str) -> float:
    """A memory field (``VmHWM``, ``VmRSS``) of a process from /proc, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


class ServerOutput:
    """Reads a server's output in a thread, so waiting for a line is bounded by time."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line)
            if "is serving http" in line:
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        """Whether the server printed its address (False if it exited or ``timeout`` passed first)."""
        self._ready.wait(timeout)
        return any("is serving http" in line for line in self.lines)

    def text(self) -> str:
        """Everything read so far."""
        return "".join(self.lines)


def measure_first_frame(config_file: Path, browser: Any, screenshot: Path | None) -> dict:
    """Serve the app, open it in the browser as soon as it prints its address, time the first frame.

    Returns
    -------
    dict
        Seconds: ``ready`` (from the start until the server printed its address), ``html`` (from
        opening the page until its first byte: the server builds the session's Explorer and plot
        first), ``loaded`` (until the page's load event: its scripts have run), ``page_to_frame`` and
        ``start_to_frame`` (until the rasterised frame is painted). MiB: ``ready_peak`` and ``peak``
        (the server's VmHWM when it printed its address and at the first frame). ``probe``: the
        page's state at the frame.
    """
    # A new port each time: connections of the previous server linger in TIME_WAIT on its port.
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    browser.reset()
    command = [sys.executable, "-m", "hyrax_cli.main", "visualize", "--serve", "-c", str(config_file)]
    start = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--set", f"visualize.port={port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(),
        cwd=config_file.parent,
    )
    output = ServerOutput(process)
    try:
        if not output.wait_ready(SERVER_START_TIMEOUT):
            raise RuntimeError(f"the server did not start in {SERVER_START_TIMEOUT:.0f} s:\n{output.text()}")
        ready = time.perf_counter() - start
        ready_peak = read_status_mib(process.pid, "VmHWM")
        opened = time.perf_counter()
        # Returns at the load event, bounded by the page-load timeout of start_chromium.
        browser.driver.get(url)
        loaded = time.perf_counter() - opened
        html = browser.run_js(NAVIGATION_FIRST_BYTE)
        deadline = opened + FRAME_TIMEOUT
        state: dict = {}
        while time.perf_counter() < deadline:
            state = browser.run_js(FRAME_PROBE)
            if state["idle"] and state["image"] and state["painted"] >= MIN_PAINTED:
                break
            if process.poll() is not None:
                raise RuntimeError(f"the server exited while serving:\n{output.text()}")
            time.sleep(POLL_SECONDS)
        else:
            raise RuntimeError(f"no rasterised frame within {FRAME_TIMEOUT:.0f} s; last page state {state}")
        framed = time.perf_counter()
        peak = read_status_mib(process.pid, "VmHWM")
        if screenshot is not None:
            browser.screenshot(screenshot)
        return {
            "ready": ready,
            "html": html,
            "loaded": loaded,
            "page_to_frame": framed - opened,
            "start_to_frame": framed - start,
            "ready_peak": ready_peak,
            "peak": peak,
            "probe": state,
        }
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a server with SIGINT (Ctrl-C), as a user would; kill it if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=60)


def median_of(runs: list[dict], key: str) -> float:
    """The median of ``key`` over repeated measurements."""
    return statistics.median(run[key] for run in runs)


def measure_size(root: Path, size: int, repeats: int, browser: Any, screenshots: Path | None) -> dict:
    """Every measurement of one size, ``repeats`` times each; prints each run as it ends."""
    began = time.perf_counter()
    input_dir, config_file = write_umap_run(root, size)
    print(f"{size:,} points (umap results written in {time.perf_counter() - began:.0f} s):", flush=True)
    builds, frames = [], []
    for repeat in range(repeats):
        build = measure_build(input_dir, config_file)
        phases = ", ".join(f"{name} {seconds:.2f}" for name, seconds, _ in build["phases"])
        print(
            f"  build  {build['build']:.1f} s, {build['build_peak']:.0f} MiB; phases (s): {phases}; "
            f"document {build['document_mib']:.2f} MiB, process peak {build['phases'][-1][2]:.0f} MiB"
        )
        builds.append(build)
        screenshot = screenshots / f"first-frame-{size}-{repeat}.png" if screenshots else None
        frame = measure_first_frame(config_file, browser, screenshot)
        print(
            f"  serve  address printed {frame['ready']:.1f} s ({frame['ready_peak']:.0f} MiB); from opening "
            f"the page: first byte {frame['html']:.1f} s, loaded {frame['loaded']:.1f} s, frame "
            f"{frame['page_to_frame']:.1f} s ({frame['probe']['painted']} pixels painted); from the start "
            f"{frame['start_to_frame']:.1f} s, {frame['peak']:.0f} MiB",
            flush=True,
        )
        frames.append(frame)
    shutil.rmtree(input_dir)
    return {
        "size": size,
        "build": median_of(builds, "build"),
        "build_peak": max(build["build_peak"] for build in builds),
        "first_render": median_of(builds, "first_render"),
        "ready": median_of(frames, "ready"),
        "html": median_of(frames, "html"),
        "loaded": median_of(frames, "loaded"),
        "page_to_frame": median_of(frames, "page_to_frame"),
        "start_to_frame": median_of(frames, "start_to_frame"),
        "peak": max(frame["peak"] for frame in frames),
    }


def print_table(rows: list[dict]) -> None:
    """The summary: medians of the times, maxima of the peaks, and the verdict on 1,000,000 points."""
    print()
    header = ("points", "build", "peak", "1st render", "srv up", "1st byte", "loaded", "page>frame",
              "start>frame", "srv peak")  # fmt: skip
    widths = (10, 8, 10, 11, 8, 9, 8, 11, 12, 10)
    print("".join(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)))
    for row in rows:
        cells = (
            f"{row['size']:,}", f"{row['build']:.1f} s", f"{row['build_peak']:.0f} MiB",
            f"{row['first_render']:.1f} s", f"{row['ready']:.1f} s", f"{row['html']:.1f} s",
            f"{row['loaded']:.1f} s", f"{row['page_to_frame']:.1f} s", f"{row['start_to_frame']:.1f} s",
            f"{row['peak']:.0f} MiB",
        )  # fmt: skip
        print("".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))
    target = next((row for row in rows if row["size"] == TARGET_SIZE), None)
    if target is None:
        print(f"Verdict: {TARGET_SIZE:,} points not measured; the targets apply to that size.")
        return
    fast, small = target["start_to_frame"] < TARGET_SECONDS, target["peak"] < TARGET_MIB
    print(
        f"Verdict: first frame of {TARGET_SIZE:,} points {target['start_to_frame']:.1f} s after the server "
        f"started ({'meets' if fast else 'MISSES'} < {TARGET_SECONDS:.0f} s), server peak "
        f"{target['peak']:.0f} MiB ({'meets' if small else 'MISSES'} < {TARGET_MIB} MiB)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement per size")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each first frame here")
    args = parser.parse_args()

    # The browser helper lives with the tests; it is not part of the installed package.
    sys.path.insert(0, str(HERE.parent / "tests"))
    from browser import Browser, start_chromium

    root = Path(tempfile.mkdtemp(prefix="hyrax-visualize-bench-"))
    driver = None
    rows = []
    try:
        driver = start_chromium(root / "chromium-profile")
        browser = Browser(driver)
        # Other work on the machine slows every phase; the load average tells how comparable runs are.
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
        for size in args.sizes:
            rows.append(measure_size(root, size, args.repeats, browser, args.screenshots))
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(root, ignore_errors=True)
    print_table(rows)
    print(f"Load average {os.getloadavg()[0]:.1f} at the end; times are medians, peaks maxima over runs.")


if __name__ == "__main__":
    main()
