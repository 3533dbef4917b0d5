"""The browser harness (tests/browser.py) against small pages whose right answers are known."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from browser import count_color_pixels, count_foreground_pixels, is_local_url

RED = (255, 0, 0)


def write_page(folder: Path, name: str, body: str, head: str = "") -> Path:
    """An HTML page with no margins, so element positions are exact in screenshots."""
    path = folder / name
    path.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        # An inline icon, or Chromium asks the server for /favicon.ico and logs the 404 as an error.
        "<link rel='icon' href='data:,'>"
        f"{head}</head><body style='margin: 0; background: white'>{body}</body></html>"
    )
    return path


@pytest.fixture
def local_server(tmp_path):
    """A static HTTP server on 127.0.0.1 (free port) serving ``tmp_path``; yields its base URL."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.browser
def test_canvas_drawing_shows_in_screenshot(browser, tmp_path):
    page = write_page(
        tmp_path,
        "canvas.html",
        "<canvas id='plot' width='200' height='200' style='position: absolute; left: 100px; top: 50px'>"
        "</canvas><script>"
        "const context = document.getElementById('plot').getContext('2d');"
        "context.fillStyle = 'rgb(255, 0, 0)'; context.fillRect(50, 50, 100, 100);"
        "document.body.dataset.drawn = 'yes';"
        "</script>",
    )
    browser.open(page, wait_for="body[data-drawn='yes']")

    image = browser.screenshot(tmp_path / "shots" / "canvas.png")
    assert (tmp_path / "shots" / "canvas.png").stat().st_size > 0
    assert image.shape == (1000, 1400, 3)
    assert browser.element_box("#plot") == (100, 50, 300, 250)
    # The square spans (150, 100)-(250, 200) in the viewport: all of it red, nothing red outside.
    assert count_color_pixels(image, RED, (150, 100, 250, 200)) == 100 * 100
    assert count_color_pixels(image, RED) == 100 * 100
    assert count_foreground_pixels(image, browser.element_box("#plot")) == 100 * 100
    assert count_foreground_pixels(image, (0, 0, 100, 1000)) == 0

    element = browser.screenshot(selector="#plot")
    assert element.shape == (200, 200, 3)
    assert count_color_pixels(element, RED, (50, 50, 150, 150)) == 100 * 100

    assert browser.console_errors() == []
    assert browser.network_requests() == [page.resolve().as_uri()]
    assert browser.external_requests() == []


@pytest.mark.browser
def test_console_errors_and_warnings_are_reported(browser, tmp_path):
    page = write_page(
        tmp_path,
        "console.html",
        "<script>console.log('fine'); console.warn('careful'); console.error('x');</script>",
    )
    browser.open(page)

    errors = browser.console_errors()
    assert len(errors) == 2, errors
    assert errors[0].startswith("WARNING: ") and '"careful"' in errors[0]
    assert errors[1].startswith("SEVERE: ") and '"x"' in errors[1]
    assert browser.console_errors(ignore=[r'"careful"']) == [errors[1]]
    assert [entry["level"] for entry in browser.console_messages()] == ["INFO", "WARNING", "SEVERE"]

    # A fresh page starts with a clean console.
    browser.open(write_page(tmp_path, "quiet.html", "<p>quiet</p>"))
    assert browser.console_messages() == []


@pytest.mark.browser
def test_uncaught_exception_is_an_error(browser, tmp_path):
    browser.open(write_page(tmp_path, "throws.html", "<script>null.property;</script>"))
    errors = browser.console_errors()
    assert len(errors) == 1 and "TypeError" in errors[0], errors


@pytest.mark.browser
def test_requests_leaving_the_machine_are_listed(browser, tmp_path):
    page = write_page(
        tmp_path,
        "remote.html",
        "<p>remote</p>",
        head="<script src='http://example.invalid/x.js'></script>",
    )
    browser.open(page)

    assert "http://example.invalid/x.js" in browser.network_requests()
    assert browser.external_requests() == ["http://example.invalid/x.js"]
    # The failed load is also a console error, so a console check alone would catch it too.
    assert any("example.invalid/x.js" in error for error in browser.console_errors())


@pytest.mark.browser
def test_local_server_and_drag(browser, tmp_path, local_server):
    write_page(
        tmp_path,
        "drag.html",
        "<div id='pad' style='position: absolute; left: 40px; top: 60px; width: 400px; height: 300px;"
        " background: #ddd'></div><ol id='events'></ol><script>"
        "const pad = document.getElementById('pad');"
        "const events = document.getElementById('events');"
        "let moves = 0;"
        "pad.addEventListener('mousemove', () => { moves += 1; });"
        "for (const type of ['mousedown', 'mouseup']) {"
        "  pad.addEventListener(type, (event) => {"
        "    const box = pad.getBoundingClientRect();"
        "    const item = document.createElement('li');"
        "    item.textContent = `${type} ${event.clientX - box.left} ${event.clientY - box.top} ${moves}`;"
        "    events.appendChild(item);"
        "  });"
        "}"
        "</script>",
    )
    url = f"{local_server}/drag.html"
    browser.open(url, wait_for="#pad")
    assert browser.driver.current_url == url

    browser.drag("#pad", (20, 30), (220, 130), steps=8)
    browser.wait_until("return document.querySelectorAll('#events li').length >= 2")

    lines = [item.text for item in browser.driver.find_elements("css selector", "#events li")]
    assert [line.split()[:3] for line in lines] == [["mousedown", "20", "30"], ["mouseup", "220", "130"]]
    # The drag moves through the element between press and release, as box-select handlers need.
    assert int(lines[1].split()[3]) >= 8

    assert browser.console_errors() == []
    requests = browser.network_requests()
    assert url in requests
    assert all(is_local_url(request) for request in requests), requests


@pytest.mark.parametrize("required", [False, True])
def test_missing_browser_skips_or_fails(tmp_path, required):
    # The fixture is exercised in a pytest of its own, pointed at a Chromium that does not exist.
    tests_dir = Path(__file__).parent
    for name in ("conftest.py", "browser.py"):
        shutil.copy(tests_dir / name, tmp_path / name)
    (tmp_path / "test_needs_browser.py").write_text(
        textwrap.dedent(
            """
            def test_needs_browser(browser):
                pass
            """
        )
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"HYRAX_REQUIRE_BROWSER", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER"}
    }
    env["HYRAX_CHROMIUM"] = str(tmp_path / "no-such-chromium")
    if required:
        env["HYRAX_REQUIRE_BROWSER"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider", "test_needs_browser.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "Chromium not installed: apt-get install chromium chromium-driver" in output, output
    if required:
        assert result.returncode == 1 and "1 error" in output, output
    else:
        assert result.returncode == 0 and "1 skipped" in output, output
