"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each xdist worker is a process of its own: two-thread torch kernels in every worker
    # oversubscribe the cores, and spinning threads then slow each other down several-fold.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO_ROOT = Path(__file__).resolve().parent.parent
HSC_SAMPLE_DIR = REPO_ROOT.parent / "shared" / "data" / "hsc_sample"


@pytest.fixture
def hsc_sample_dir() -> Path:
    """The real HSC sample (10 star cutouts and their catalog), read where it lies."""
    if not (HSC_SAMPLE_DIR / "images").is_dir():
        pytest.skip(f"the real HSC sample is not at {HSC_SAMPLE_DIR} (it ships beside the repository)")
    return HSC_SAMPLE_DIR


@pytest.fixture
def work_dir(tmp_path, monkeypatch) -> Path:
    """A temporary folder made the current directory, so default ./data and ./results land in it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory):
    """The example notebooks, each run at most once per test run (see ``tests/notebook_runs.py``)."""
    from notebook_runs import NotebookRuns

    base = tmp_path_factory.getbasetemp()
    # Under xdist, each worker's base folder lies in one of the whole run, which every worker sees.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return NotebookRuns(shared / "notebook_runs", HSC_SAMPLE_DIR)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One headless Chromium for the session (per xdist worker), as a ``tests/browser.py`` Browser.

    Skips the test when Chromium or chromedriver is missing, or fails it when HYRAX_REQUIRE_BROWSER is
    set (CI), so CI cannot pass without having run the browser tests. Tests normally take ``browser``.
    """
    # Imported here so the rest of the suite never pays for selenium.
    from browser import MISSING_BROWSER_REASON, Browser, browser_available, browser_required, start_chromium

    if not browser_available():
        if browser_required():
            pytest.fail(MISSING_BROWSER_REASON.replace("skipped", "required (HYRAX_REQUIRE_BROWSER is set)"))
        pytest.skip(MISSING_BROWSER_REASON)
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield Browser(driver)
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium):
    """The session's Chromium on a blank page, with no console messages or requests from earlier tests."""
    chromium.reset()
    return chromium
