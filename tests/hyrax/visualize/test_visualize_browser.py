"""The visualize page and the live app, in a real headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import count_color_pixels, count_foreground_pixels
from hyrax import Hyrax
from hyrax.results import list_results_dirs
from hyrax.visualize.plots import CATEGORY_COLORS

pytestmark = pytest.mark.browser

# Finds elements inside Panel's shadow roots, which document.querySelectorAll does not enter.
DEEP_QUERY = """
function deepAll(selector, root) {
  let found = Array.from(root.querySelectorAll(selector));
  for (const element of root.querySelectorAll('*')) {
    if (element.shadowRoot) found = found.concat(deepAll(selector, element.shadowRoot));
  }
  return found;
}
"""

CONFIG = """
[general]
results_dir = "{root}/results"
data_dir = "{root}/data"
[data_set.SyntheticGalaxyDataSet]
size = 40
image_size = 16
[visualize]
port = {port}
fields = ["magnitude"]
"""


def _screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: the test's folder, or HYRAX_SCREENSHOT_DIR (the docs' images) when set."""
    folder = Path(os.environ.get("HYRAX_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _hex_rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def _config(root: Path, port: int = 5006) -> Path:
    path = root / "visualize.toml"
    path.write_text(CONFIG.format(root=root, port=port))
    return path


def test_the_saved_page_opens_offline_and_shows_the_points(browser, tmp_path, umap_run):
    h = Hyrax(config_file=_config(tmp_path))
    umap_run(h)
    h.visualize()
    (directory,) = list_results_dirs(h.config["general"]["results_dir"], "visualize")
    browser.open(directory / "visualize.html", wait_for="div")
    browser.wait_until(
        "return document.querySelector('div') !== null && window.Bokeh !== undefined "
        "&& Bokeh.documents.length > 0",
        message="Bokeh never rendered the page",
    )
    time.sleep(1.0)  # WebGL draws on the next animation frames after the document is ready.
    image = browser.screenshot(_screenshot_path(tmp_path, "visualize_page.png"))
    # SwiftShader, the software WebGL of a machine without a GPU, reports its own slow paths.
    assert browser.console_errors(ignore=[r"GL Driver Message"]) == []
    assert browser.external_requests() == []
    assert all(url.startswith(("file:", "data:", "blob:")) for url in browser.network_requests())
    plot_region = (0, 0, 700, 650)
    assert count_foreground_pixels(image, plot_region) > 2000
    coloured = sum(count_color_pixels(image, _hex_rgb(c), plot_region) for c in CATEGORY_COLORS[:5])
    assert coloured > 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_a_selection_in_the_live_app_fills_the_table_and_the_thumbnails(browser, tmp_path, umap_run):
    port = _free_port()
    config = _config(tmp_path, port)
    umap_run(Hyrax(config_file=config))
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hyrax_cli.main", "visualize", "--serve", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_server(url, process)
        browser.open(url)
        count = DEEP_QUERY + "return deepAll(arguments[0], document).length;"
        browser.wait_until(lambda: browser.run_js(count, "canvas") > 0, timeout=60, message="no plot canvas")
        time.sleep(1.0)
        canvas = browser.run_js(DEEP_QUERY + "return deepAll('canvas', document)[0];")
        left, top, right, bottom = browser.element_box(canvas)
        width, height = right - left, bottom - top
        browser.drag(canvas, (width * 0.15, height * 0.1), (width * 0.6, height * 0.8), steps=30, step_ms=50)
        browser.wait_until(
            lambda: browser.run_js(count, "figure.hyrax-thumbnail") > 0,
            timeout=60,
            message="the selection filled no thumbnails",
        )
        thumbnails = browser.run_js(count, "figure.hyrax-thumbnail")
        rows = browser.run_js(count, ".tabulator-row")
        browser.screenshot(_screenshot_path(tmp_path, "visualize_served.png"))
        assert 0 < thumbnails <= 24
        assert rows > 0
        assert browser.external_requests() == []
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"serving http://127.0.0.1:{port}/" in output and "Stopped serving." in output
