"""The pieces of a download that need no server: angles, the catalog checks, the streamed manifest."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from hyrax import Hyrax
from hyrax.datasets.cutout_folder import read_manifest, write_manifest_in_chunks
from hyrax.download import manifest as manifest_module
from hyrax.download.services.base import DownloadError
from hyrax.download.targets import parse_angle, read_targets


@pytest.mark.parametrize(
    ("text", "arcsec"), [("10asec", 10.0), ("10 arcsec", 10.0), ("0.5arcmin", 30.0), ("0.001deg", 3.6)]
)
def test_angles_take_any_angular_unit(text, arcsec):
    assert parse_angle(text, "download.semi_width") * 3600 == pytest.approx(arcsec)


@pytest.mark.parametrize("text", ["10", "10 kg", "-2asec", "wide"])
def test_an_angle_without_a_unit_or_not_positive_names_the_key(text):
    with pytest.raises(DownloadError, match="download.semi_width"):
        parse_angle(text, "download.semi_width")


def test_catalog_rows_with_repeated_ids_or_bad_positions_are_named(tmp_path):
    Table({"object_id": ["a", "b", "a"], "ra": [1.0, 2.0, 3.0], "dec": [0.0, 0.0, 0.0]}).write(
        tmp_path / "r.ecsv"
    )
    with pytest.raises(DownloadError, match=r"repeats 1 object id\(s\) in 'object_id': 'a'"):
        read_targets(tmp_path / "r.ecsv", "object_id", "ra", "dec")
    Table({"object_id": ["a", "b"], "ra": [1.0, np.nan], "dec": [95.0, 0.0]}).write(tmp_path / "p.ecsv")
    with pytest.raises(
        DownloadError, match=r"2 object\(s\) without a valid position.*'a' \(row 0.*'b' \(row 1"
    ):
        read_targets(tmp_path / "p.ecsv", "object_id", "ra", "dec")


def test_settings_errors_come_before_any_request(work_dir):
    h = Hyrax()
    table = h.config["download"]
    with pytest.raises(DownloadError, match="download.source_catalog is not set"):
        h.download()
    Table({"object_id": ["a"], "ra": [1.0], "dec": [0.0]}).write(work_dir / "c.ecsv")
    table["source_catalog"] = "c.ecsv"
    table["service"], table["mask"] = "legacy_survey", True
    with pytest.raises(DownloadError, match="serves the layers image; not mask"):
        h.download()
    table["mask"], table["filters"] = False, ["g_1"]
    with pytest.raises(DownloadError, match="without underscores"):
        h.download()
    assert not (work_dir / "results").exists()


def test_the_manifest_streams_in_chunks_and_reads_back_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest_module, "_CHUNK_OBJECTS", 3)
    ids = ["1", "22", "naïve", "a/b", "5", "6", "7"]
    (tmp_path / "22_g.fits").write_bytes(b"x")
    (tmp_path / "a%2Fb_r.fits").write_bytes(b"x")
    ras, decs = np.linspace(0, 6, 7), np.linspace(-3, 3, 7)
    outcomes = {("1", "g"): ("no data", 0.0), ("5", "r"): ("failed", 0.0)}
    path = manifest_module.write_manifest(tmp_path, ids, ras, decs, ["g", "r"], outcomes)
    table = Table.read(path)
    assert len(table) == 14 and np.allclose(table["ra"][::2], ras) and np.allclose(table["dec"][1::2], decs)
    rows, extra = read_manifest(tmp_path)
    assert [row[0] for row in rows[::2]] == ids
    assert {row for row in rows if row[2]} == {("22", "g", "22_g.fits"), ("a/b", "r", "a%2Fb_r.fits")}
    assert set(extra) == {"ra", "dec"}
    statuses = dict(zip([(r[0], r[1]) for r in rows], table["status"], strict=True))
    assert (statuses[("1", "g")], statuses[("5", "r")], statuses[("22", "g")]) == ("no data", "failed", "ok")
    assert statuses[("6", "g")] == "not tried"


def test_a_chunked_table_with_the_wrong_row_count_is_never_left_behind(tmp_path):
    chunks = iter([{"name": np.array(["a", "b"]), "value": np.array([1.0, 2.0])}])
    with pytest.raises(ValueError, match="told 3 rows but got 2"):
        write_manifest_in_chunks(tmp_path / "t.fits", 3, {"name": 1}, ["value"], chunks)
    assert not (tmp_path / "t.fits").exists()
