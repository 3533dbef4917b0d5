"""Tests of HSCDataSet and rebuild_manifest on a download-style folder built from the real HSC sample."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from hyrax.config import load_config
from hyrax.datasets.fits_image_dataset import FitsImageDataSet
from hyrax.datasets.hsc_dataset import (
    MANIFEST_NAME,
    HSCDataSet,
    filter_sort_key,
    rebuild_manifest,
    scan_folder,
)
from hyrax.errors import DataError
from hyrax.registry import DATA_SET_REGISTRY

pytestmark = pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")


@pytest.fixture
def download_dir(tmp_path, hsc_sample_dir):
    """A folder as the download verb writes it: 7 objects in HSC-I and HSC-G, object 7 lacking HSC-G.

    Returns the folder and ``{(object_id, filter): source file}``. Only the sample's 25x25 cutouts are
    used, so no size warning mixes with the warnings under test.
    """
    sources = sorted(
        path for path in (hsc_sample_dir / "images").glob("*.fits") if fits.getdata(path).shape == (25, 25)
    )
    folder = tmp_path / "hsc"
    folder.mkdir()
    files = {}
    for number in range(1, 8):
        files[(str(number), "HSC-I")] = sources[number - 1]
        if number != 7:
            files[(str(number), "HSC-G")] = sources[number % len(sources)]
    for (object_id, filter_name), source in files.items():
        shutil.copyfile(source, folder / f"{object_id}_{filter_name}.fits")
    return folder, files


def make_config(folder, **keys):
    """An HSCDataSet configuration; raw pixels (scaling "none") unless ``keys`` say otherwise."""
    config = load_config()
    config["data_set"]["name"] = "HSCDataSet"
    table = config["data_set"]["HSCDataSet"]
    table["data_dir"] = str(folder)
    table["scaling"] = "none"
    for key, value in keys.items():
        table[key] = value
    return config


@pytest.fixture
def build(caplog):
    """Build a dataset and return it with the warnings it logged."""

    def build(config):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hyrax"):
            dataset = HSCDataSet(config)
        return dataset, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    return build


def check_pixels(dataset, files):
    for index, object_id in enumerate(dataset.ids()):
        data = dataset[index]["data"].numpy()
        for channel, filter_name in enumerate(dataset.filters):
            np.testing.assert_array_equal(data[channel], fits.getdata(files[(object_id, filter_name)]))


def test_folder_scan_prunes_objects_missing_a_filter(download_dir, build):
    folder, files = download_dir
    dataset, messages = build(make_config(folder))
    assert dataset.ids() == ["1", "2", "3", "4", "5", "6"]
    assert dataset.filters == ("HSC-G", "HSC-I")
    assert dataset[0]["data"].shape == (2, 25, 25)
    assert len(messages) == 1
    assert "left out 1 of 7 objects" in messages[0] and "HSC-G: 1" in messages[0] and "ids: 7" in messages[0]
    check_pixels(dataset, files)
    assert isinstance(dataset, FitsImageDataSet) and DATA_SET_REGISTRY.get("HSCDataSet") is HSCDataSet


def test_manifest_gives_the_same_dataset(download_dir, build):
    folder, files = download_dir
    path = rebuild_manifest(folder)
    assert path == folder / MANIFEST_NAME
    manifest = Table.read(path)
    assert len(manifest) == 13 and manifest.colnames == ["object_id", "filter", "filename", "status", "time"]
    assert set(manifest["status"]) == {"ok"}
    (folder / "8_HSC-I.fits").write_bytes((folder / "1_HSC-I.fits").read_bytes())

    dataset, messages = build(make_config(folder))
    assert dataset.ids() == ["1", "2", "3", "4", "5", "6"] and len(messages) == 1
    check_pixels(dataset, files)
    dataset, _ = build(make_config(folder, filters=["HSC-I"]))
    assert "8" not in dataset.ids() and len(dataset) == 7


def test_manifest_columns_become_metadata_and_survive_a_rebuild(download_dir, build):
    folder, _ = download_dir
    rows = scan_folder(folder)
    ra = {object_id: 30.0 + int(object_id) for object_id, _, _ in rows}
    Table(
        {
            "object_id": [r[0] for r in rows],
            "filter": [r[1] for r in rows],
            "filename": [r[2] for r in rows],
            "ra": [ra[r[0]] for r in rows],
        }
    ).write(folder / MANIFEST_NAME)
    dataset, _ = build(make_config(folder, filters=["HSC-I"]))
    assert dataset.metadata_fields() == ["object_id", "ra"]
    np.testing.assert_array_equal(dataset.metadata([0, 6], ["ra"])["ra"], [31.0, 37.0])

    (folder / "8_HSC-I.fits").write_bytes((folder / "1_HSC-I.fits").read_bytes())
    manifest = Table.read(rebuild_manifest(folder))
    assert len(manifest) == 14
    by_id = dict(zip(manifest["object_id"], manifest["ra"], strict=True))
    assert by_id["3"] == 33.0 and np.ma.is_masked(by_id["8"])


def test_filter_selection(download_dir, build):
    folder, files = download_dir
    dataset, messages = build(make_config(folder, filters=["HSC-I"]))
    assert messages == [] and len(dataset) == 7 and dataset.filters == ("HSC-I",)
    check_pixels(dataset, files)

    dataset, _ = build(make_config(folder, filters=["HSC-I", "HSC-G"]))
    assert dataset.filters == ("HSC-I", "HSC-G")
    check_pixels(dataset, files)

    with pytest.raises(DataError, match=r"filter 'HSC-R'.*Filters found: HSC-G, HSC-I"):
        HSCDataSet(make_config(folder, filters=["HSC-R"]))


def test_default_scaling_puts_every_filter_in_units_of_its_noise(download_dir, build):
    folder, files = download_dir
    dataset, _ = build(make_config(folder, scaling="asinh"))
    assert load_config()["data_set"]["HSCDataSet"]["scaling"] == "asinh"
    for index, object_id in enumerate(dataset.ids()):
        data = dataset[index]["data"].numpy()
        assert np.isfinite(data).all() and np.abs(data).max() < 10
        for channel, filter_name in enumerate(dataset.filters):
            raw = fits.getdata(files[(object_id, filter_name)]).astype(np.float64)
            median = np.median(raw)
            expected = np.arcsinh((raw - median) / (1.4826 * np.median(np.abs(raw - median))))
            np.testing.assert_allclose(data[channel], expected, rtol=1e-5, atol=1e-5)


def test_general_data_dir_is_the_default(download_dir):
    folder, _ = download_dir
    config = make_config(folder, filters=["HSC-I"])
    config["data_set"]["HSCDataSet"]["data_dir"] = False
    config["general"]["data_dir"] = str(folder)
    assert len(HSCDataSet(config)) == 7


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist.*data_set.HSCDataSet.data_dir"):
        HSCDataSet(make_config(tmp_path / "absent"))
    with pytest.raises(DataError, match="lists no <object_id>_<filter>.fits cutouts"):
        HSCDataSet(make_config(tmp_path))
    with pytest.raises(DataError, match="holds no <object_id>_<filter>.fits files"):
        rebuild_manifest(tmp_path)


def test_stale_manifest_errors_or_skips(download_dir, build, caplog):
    folder, _ = download_dir
    rebuild_manifest(folder)
    (folder / "2_HSC-G.fits").unlink()
    missing = r"object '2': .*2_HSC-G.fits: the file does not exist"
    with caplog.at_level(logging.WARNING, logger="hyrax"), pytest.raises(DataError, match=missing):
        HSCDataSet(make_config(folder))
    assert "left out 1 of 7 objects that lack a filter" in caplog.text
    dataset, messages = build(make_config(folder, on_missing="skip"))
    assert dataset.ids() == ["1", "3", "4", "5", "6"]
    assert len(messages) == 2 and any("whose file is missing" in m and "'2'" in m for m in messages)


def test_manifest_lacking_a_column_suggests_a_rebuild(download_dir):
    folder, _ = download_dir
    Table({"object_id": ["1"], "filename": ["1_HSC-I.fits"]}).write(folder / MANIFEST_NAME)
    with pytest.raises(DataError, match=r"lacks the column\(s\) filter.*rebuild_manifest"):
        HSCDataSet(make_config(folder))


def test_scan_ignores_other_files_and_sorts(tmp_path):
    for name in ["10_HSC-Y.fits", "10_HSC-G.fits", "9_HSC-R.fits", "a_b_NB0921.fits", "notes.txt", "x.fits"]:
        (tmp_path / name).write_bytes(b"")
    assert scan_folder(tmp_path) == [
        ("9", "HSC-R", "9_HSC-R.fits"),
        ("10", "HSC-G", "10_HSC-G.fits"),
        ("10", "HSC-Y", "10_HSC-Y.fits"),
        ("a_b", "NB0921", "a_b_NB0921.fits"),
    ]
    assert sorted(["HSC-Z", "NB0921", "HSC-G", "HSC-I"], key=filter_sort_key) == [
        "HSC-G",
        "HSC-I",
        "HSC-Z",
        "NB0921",
    ]


def test_rebuild_over_a_manifest_with_no_rows_keeps_its_columns_masked(download_dir):
    folder, _ = download_dir
    Table(
        {
            "object_id": np.array([], str),
            "filter": np.array([], str),
            "filename": np.array([], str),
            "ra": np.array([], float),
            "field": np.array([], str),
        }
    ).write(folder / MANIFEST_NAME)
    manifest = Table.read(rebuild_manifest(folder))
    assert len(manifest) == 13 and sorted(set(manifest["object_id"])) == [str(n) for n in range(1, 8)]
    assert manifest["ra"].dtype.kind == "f" and manifest["ra"].mask.all()
    assert manifest["field"].mask.all()


def test_rebuild_of_a_folder_without_cutouts_says_what_files_it_expects(tmp_path):
    for name in ["notes.txt", "image.fits"]:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(DataError) as caught:
        rebuild_manifest(tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message and "<object_id>_<filter>.fits" in message
    assert "2 other file(s) or folder(s): image.fits, notes.txt" in message
    assert not (tmp_path / MANIFEST_NAME).exists()
