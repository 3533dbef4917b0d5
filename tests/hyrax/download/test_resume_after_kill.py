"""A download killed with SIGKILL midway resumes without fetching its finished files again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.table import Table

from cutout_server import CutoutServer, require_sample
from hyrax import Hyrax
from hyrax.datasets.cutout_folder import JOURNAL_NAME, MANIFEST_NAME, cutout_filename, rebuild_manifest

pytestmark = pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")

N_OBJECTS = 60
KILL_AFTER_FILES = 12


def _config(path, server, catalog, folder, results):
    path.write_text(
        f"""[general]
results_dir = "{results}"

[download]
service = "legacy_survey"
source_catalog = "{catalog}"
data_dir = "{folder}"
filters = ["r"]
semi_width = "1.5asec"
semi_height = "1.5asec"
concurrent_requests = 2
retry_wait = 0.01

[download.legacy_survey]
url = "{server.legacy_url}"
pixel_scale = 0.168
"""
    )
    return path


def _finished_files(folder):
    return {p.name for p in folder.glob("*.fits") if p.name != MANIFEST_NAME} if folder.is_dir() else set()


def test_a_killed_download_resumes_without_fetching_finished_files_again(tmp_path):
    require_sample()
    with CutoutServer(latency=0.05) as server:
        positions = server.sky_positions(N_OBJECTS, seed=3)
        ids = [f"obj{number:03d}" for number in range(N_OBJECTS)]
        catalog = tmp_path / "targets.fits"
        Table({"object_id": ids, "ra": [p[0] for p in positions], "dec": [p[1] for p in positions]}).write(
            catalog
        )
        folder, results = tmp_path / "cutouts", tmp_path / "results"
        config = _config(tmp_path / "download.toml", server, catalog, folder, results)
        process = subprocess.Popen(
            [sys.executable, "-m", "hyrax_cli.main", "download", "-c", str(config)],
            cwd=tmp_path,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while len(_finished_files(folder)) < KILL_AFTER_FILES and process.poll() is None:
            assert time.monotonic() < deadline, "the download made no progress"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        before = _finished_files(folder)
        assert KILL_AFTER_FILES <= len(before) < N_OBJECTS, "the download was not killed midway"
        assert (folder / JOURNAL_NAME).exists() and not (folder / MANIFEST_NAME).exists()

        # Without a rerun, rebuild_manifest recovers the positions from the journal.
        manifest = Table.read(rebuild_manifest(folder))
        by_id = dict(zip(ids, positions, strict=True))
        assert len(manifest) >= len(before)
        listed = [str(i) for i in manifest["object_id"]]
        assert np.allclose(np.asarray(manifest["ra"], float), [by_id[i][0] for i in listed])

        summary = Hyrax(config).download()
        assert summary.skipped >= len(before) and summary.fetched + summary.skipped == N_OBJECTS
        for object_id, (ra, dec) in by_id.items():
            asked = server.count(ra, dec, "r")
            if cutout_filename(object_id, "r") in before:
                assert asked == 1, f"{object_id} was finished before the kill but fetched again"
            else:
                assert asked in (1, 2), object_id
        assert _finished_files(folder) == {cutout_filename(i, "r") for i in ids}
        assert not (folder / JOURNAL_NAME).exists()
        assert not [p for p in folder.iterdir() if p.name.endswith(".part")]
        final = Table.read(folder / MANIFEST_NAME)
        assert len(final) == N_OBJECTS and set(final["status"]) == {"ok"}
