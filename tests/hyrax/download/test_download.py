"""The download verb against a real local HTTP server speaking the HSC DAS and Legacy Surveys protocols.

The server (``tests/cutout_server.py``) cuts real FITS cutouts from the real HSC sample images and
injects faults on request; every test checks files, pixels and the manifest on disk, and counts the
requests the server received.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from cutout_server import CutoutServer, require_sample
from hyrax import Hyrax
from hyrax.datasets.cutout_folder import JOURNAL_NAME, MANIFEST_NAME, cutout_filename, read_manifest
from hyrax.download.services.base import DownloadError
from hyrax.errors import DataError, UnknownNameError

pytestmark = pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")

SEMI_ARCSEC = 1.5


@pytest.fixture(scope="module")
def server():
    """One cutout server for the module; each test starts with no requests recorded."""
    require_sample()
    with CutoutServer() as running:
        yield running


@pytest.fixture
def cutouts(server, work_dir, monkeypatch):
    """The server with an empty request log, in a fresh working folder, without ambient credentials."""
    monkeypatch.delenv("HYRAX_DOWNLOAD_USER", raising=False)
    monkeypatch.delenv("HYRAX_DOWNLOAD_PASSWORD", raising=False)
    server.requests.clear()
    server.slow_seconds = 3.0
    return server


def write_catalog(path, rows):
    """Write ``(object_id, ra, dec)`` rows as a FITS catalog and return its path."""
    Table({"object_id": [r[0] for r in rows], "ra": [r[1] for r in rows], "dec": [r[2] for r in rows]}).write(
        path, overwrite=True
    )
    return path


def make_hyrax(server, catalog, service="hsc_das", **keys):
    """A Hyrax whose [download] table points at the local server, with fast retries."""
    h = Hyrax()
    table = h.config["download"]
    table["service"] = service
    table["source_catalog"] = str(catalog)
    table["semi_width"] = table["semi_height"] = f"{SEMI_ARCSEC}asec"
    table["filters"] = ["HSC-G", "HSC-I"] if service == "hsc_das" else ["g", "r"]
    table["hsc_das"]["url"] = server.das_url
    table["legacy_survey"]["url"] = server.legacy_url
    table["legacy_survey"]["pixel_scale"] = 0.168
    table["username"], table["password"] = "astro", "s3cret"
    table["retry_wait"] = 0.01
    table["timeout"] = 5
    for key, value in keys.items():
        if "." in key:
            section, name = key.split(".")
            table[section][name] = value
        else:
            table[key] = value
    return h


def stars(server):
    return [(object_id, ra, dec) for object_id, ra, dec in server.catalog_positions()]


def check_folder(folder, server, rows, filters, semi_deg=SEMI_ARCSEC / 3600):
    """Every cutout is on disk exactly once, equal to what the server cut, and the manifest agrees."""
    expected = {cutout_filename(i, f) for i, _, _ in rows for f in filters}
    on_disk = {path.name for path in folder.iterdir()}
    assert on_disk == expected | {MANIFEST_NAME}, on_disk ^ (expected | {MANIFEST_NAME})
    for object_id, ra, dec in rows:
        for filter_name in filters:
            with fits.open(folder / cutout_filename(object_id, filter_name)) as hdus:
                image = next(hdu.data for hdu in hdus if hdu.data is not None)
            want = server.expected_pixels(ra, dec, filter_name, semi_deg, semi_deg)
            assert np.array_equal(np.asarray(image, np.float32), want, equal_nan=True), (
                object_id,
                filter_name,
            )
    manifest = Table.read(folder / MANIFEST_NAME)
    assert len(manifest) == len(expected)
    assert set(manifest["filename"]) == expected and set(manifest["status"]) == {"ok"}
    assert [str(i) for i in manifest["object_id"][:: len(filters)]] == [r[0] for r in rows]
    assert np.allclose(manifest["ra"][:: len(filters)], [r[1] for r in rows])
    assert all(len(str(t)) == 19 for t in manifest["time"])


def test_das_download_survives_every_fault_and_writes_each_cutout_once(cutouts, work_dir):
    rows = stars(cutouts)
    h = make_hyrax(cutouts, write_catalog(work_dir / "stars.fits", rows), **{"hsc_das.rows_per_request": 4})
    h.config["download"]["timeout"] = 0.5
    cutouts.slow_seconds = 1.5
    for fault in ("500", "truncate", "drop", "slow"):
        cutouts.inject(fault)
    summary = h.download()
    folder = work_dir / "data" / "cutouts"
    check_folder(folder, cutouts, rows, ["HSC-G", "HSC-I"])
    assert (summary.fetched, summary.failed, summary.no_data) == (20, 0, 0)
    assert sorted(r.fault for r in cutouts.requests if r.fault) == ["500", "drop", "slow", "truncate"]
    # 5 lists of 4 rows, and the 4 faulty requests asked again for (at most) their rows.
    assert 5 + 4 <= len(cutouts.requests) <= 9
    assert not (folder / JOURNAL_NAME).exists()


def test_legacy_download_records_positions_without_data_and_never_retries_them(cutouts, work_dir):
    rows = stars(cutouts)[:3] + [("far-away", 10.0, 10.0)]
    h = make_hyrax(cutouts, write_catalog(work_dir / "cat.fits", rows), "legacy_survey", retries=3)
    summary = h.download()
    assert (summary.fetched, summary.no_data, summary.failed) == (6, 2, 0)
    folder = work_dir / "data" / "cutouts"
    assert not (folder / cutout_filename("far-away", "g")).exists()
    assert cutouts.count(10.0, 10.0) == 2
    manifest = Table.read(folder / MANIFEST_NAME)
    far = manifest[[str(i) == "far-away" for i in manifest["object_id"]]]
    assert list(far["status"]) == ["no data", "no data"]
    listed, _ = read_manifest(folder)
    assert [row for row in listed if row[0] == "far-away"] == [("far-away", "g", ""), ("far-away", "r", "")]
    for object_id, ra, dec in rows[:3]:
        with fits.open(folder / cutout_filename(object_id, "r")) as hdus:
            assert np.array_equal(
                hdus[0].data.astype(np.float32),
                cutouts.expected_pixels(ra, dec, "r", SEMI_ARCSEC / 3600, SEMI_ARCSEC / 3600),
                equal_nan=True,
            )


def test_a_rerun_skips_complete_files_and_fetches_missing_truncated_and_corrupt_ones(cutouts, work_dir):
    rows = stars(cutouts)
    h = make_hyrax(cutouts, write_catalog(work_dir / "stars.fits", rows), "legacy_survey")
    h.download()
    folder = work_dir / "data" / "cutouts"
    truncated, corrupt, deleted = (folder / cutout_filename(rows[i][0], "g") for i in range(3))
    truncated.write_bytes(truncated.read_bytes()[:4000])
    corrupt.write_bytes(b"not a FITS file at all" * 200)
    deleted.unlink()
    cutouts.requests.clear()
    summary = h.download()
    assert (summary.fetched, summary.skipped, summary.refetched) == (3, 17, 2)
    assert len(cutouts.requests) == 3
    assert all(cutouts.count(rows[i][1], rows[i][2], "g") == 1 for i in range(3))
    check_folder(folder, cutouts, rows, ["g", "r"], SEMI_ARCSEC / 3600)


def test_bad_credentials_stop_at_once_with_no_retries_and_no_results(cutouts, work_dir):
    rows = stars(cutouts)
    h = make_hyrax(
        cutouts,
        write_catalog(work_dir / "stars.fits", rows),
        password="wrong-password-123",
        concurrent_requests=3,
        retries=5,
        **{"hsc_das.rows_per_request": 1},
    )
    with pytest.raises(DownloadError) as caught:
        h.download()
    message = str(caught.value)
    assert "HTTP 401" in message and "HYRAX_DOWNLOAD_USER" in message and "credentials_file" in message
    assert "wrong-password-123" not in message
    # Only the requests already in flight when the first 401 arrived were sent: no retry storm.
    assert 1 <= len(cutouts.requests) <= 3
    assert all(r.status == 401 for r in cutouts.requests)
    assert not (work_dir / "results").exists() or not any((work_dir / "results").iterdir())


def test_missing_credentials_are_asked_for_before_any_request(cutouts, work_dir):
    h = make_hyrax(cutouts, write_catalog(work_dir / "stars.fits", stars(cutouts)), username="", password="")
    with pytest.raises(DownloadError, match="HYRAX_DOWNLOAD_USER and HYRAX_DOWNLOAD_PASSWORD.*netrc"):
        h.download()
    assert cutouts.requests == []


def test_credentials_come_from_the_environment_or_a_netrc_file_and_are_never_written(
    cutouts, work_dir, monkeypatch
):
    rows = stars(cutouts)[:2]
    catalog = write_catalog(work_dir / "stars.fits", rows)
    monkeypatch.setenv("HYRAX_DOWNLOAD_USER", "astro")
    monkeypatch.setenv("HYRAX_DOWNLOAD_PASSWORD", "s3cret")
    assert make_hyrax(cutouts, catalog, username="", password="").download().fetched == 4
    monkeypatch.delenv("HYRAX_DOWNLOAD_PASSWORD")
    netrc = work_dir / "netrc"
    netrc.write_text("machine 127.0.0.1 login astro password s3cret\n")
    h = make_hyrax(cutouts, catalog, username="", password="", credentials_file=str(netrc), data_dir="two")
    assert h.download().fetched == 4
    assert {r.user for r in cutouts.requests} == {"astro"}
    for path in (work_dir / "results").rglob("*"):
        if path.is_file():
            assert b"s3cret" not in path.read_bytes(), path


def test_unknown_service_lists_the_services(cutouts, work_dir):
    h = make_hyrax(cutouts, write_catalog(work_dir / "stars.fits", stars(cutouts)), service="hsc")
    with pytest.raises(UnknownNameError, match="hsc_das.*legacy_survey"):
        h.download()


def test_a_catalog_without_the_named_columns_lists_its_columns(cutouts, work_dir):
    Table({"id": ["1"], "ra_deg": [30.0], "dec_deg": [-6.0]}).write(work_dir / "cat.csv")
    h = make_hyrax(cutouts, work_dir / "cat.csv")
    with pytest.raises(DataError, match=r"no column 'object_id'.*Its columns: id, ra_deg, dec_deg"):
        h.download()
    assert cutouts.requests == []


def test_a_url_that_does_not_answer_is_a_named_error(cutouts, work_dir):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    h = make_hyrax(
        cutouts, write_catalog(work_dir / "stars.fits", stars(cutouts)), "legacy_survey", retries=1
    )
    h.config["download"]["legacy_survey"]["url"] = f"http://127.0.0.1:{port}/viewer/fits-cutout"
    with pytest.raises(
        DownloadError, match=r"delivered nothing.*the connection failed.*download.<service>.url"
    ):
        h.download()


def test_object_ids_cannot_write_outside_the_folder_and_read_back_unchanged(cutouts, work_dir):
    ra, dec = cutouts.sky_positions(1)[0]
    ids = ["../escape", "a/b", "spaced id", "naïve_1"]
    rows = [(object_id, ra, dec) for object_id in ids]
    h = make_hyrax(cutouts, write_catalog(work_dir / "odd.ecsv", rows), "legacy_survey", filters=["r"])
    h.download()
    folder = work_dir / "data" / "cutouts"
    assert sorted(p.name for p in work_dir.rglob("*.fits") if p.parent != folder) == []
    h.config["data_set"]["name"] = "HSCDataSet"
    assert sorted(h.prepare().ids()) == sorted(ids)


def test_the_next_train_finds_the_downloaded_folder_by_itself(cutouts, work_dir, capsys):
    rows = stars(cutouts)
    h = make_hyrax(
        cutouts, write_catalog(work_dir / "stars.fits", rows), data_dir=str(work_dir / "elsewhere")
    )
    h.download()
    h = Hyrax()
    h.config["data_set"]["name"] = "HSCDataSet"
    dataset = h.prepare()
    assert sorted(dataset.ids()) == sorted(r[0] for r in rows)
    assert dataset.filters == ("HSC-G", "HSC-I") and tuple(dataset[0]["data"].shape) == (2, 18, 18)
    positions = {object_id: ra for object_id, ra, _ in rows}
    ras = dataset.metadata(range(len(dataset)), ["ra"])["ra"]
    assert np.allclose(ras, [positions[object_id] for object_id in dataset.ids()])
    printed = capsys.readouterr().out
    assert "HSCDataSet: 10 objects" in printed and "filters: HSC-G, HSC-I" in printed
    h.config["train"]["epochs"] = 1
    h.config["data_set"]["train_size"], h.config["data_set"]["validate_size"] = 0.8, 0.2
    h.config["data_set"]["test_size"] = False
    h.train()
    trained = next((work_dir / "results").glob("*-train-*"))
    assert len(np.load(trained / "splits.npz")["train"]) == 8
    h.infer()
    inferred = next((work_dir / "results").glob("*-infer-*"))
    assert str(work_dir / "elsewhere") in (inferred / "dataset_config.toml").read_text()


def test_failures_are_listed_in_failures_csv_and_a_rerun_fetches_only_them(cutouts, work_dir, capsys):
    import csv

    from hyrax.results import list_results_dirs

    rows = stars(cutouts)[:3]
    # One request at a time: a failure of the very first request stops a download, by design.
    catalog = write_catalog(work_dir / "cat.fits", rows)
    h = make_hyrax(cutouts, catalog, "legacy_survey", retries=1, concurrent_requests=1)
    failing_ra = rows[1][1]
    cutouts.inject(
        "500", times=2, match=lambda r: any(abs(ra - failing_ra) < 1e-6 and f == "g" for ra, _, f in r.rows)
    )
    summary = h.download()
    assert (summary.fetched, summary.failed) == (5, 1)
    (run,) = list_results_dirs(h.config["general"]["results_dir"], "download", complete_only=False)
    with open(run / "failures.csv", newline="", encoding="utf-8") as stream:
        header, *failed = list(csv.reader(stream))
    assert header == ["object_id", "filter", "reason"]
    assert [row[:2] for row in failed] == [[rows[1][0], "g"]] and "500" in failed[0][2]
    assert f"{rows[1][0]} g" in capsys.readouterr().out
    cutouts.requests.clear()
    summary = h.download()
    assert (summary.fetched, summary.skipped, summary.failed) == (1, 5, 0)
    assert len(cutouts.requests) == 1
    check_folder(work_dir / "data" / "cutouts", cutouts, rows, ["g", "r"], SEMI_ARCSEC / 3600)
