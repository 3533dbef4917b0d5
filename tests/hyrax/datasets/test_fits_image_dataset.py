"""Tests of FitsImageDataSet and its FITS reader, on the real HSC sample and on small files in tmp_path."""

from __future__ import annotations

import gzip
import logging
import os
import pickle

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from hyrax.config import load_config
from hyrax.datasets._fits_reading import image_shape, read_image
from hyrax.datasets.fits_image_dataset import FitsImageDataSet
from hyrax.datasets.transforms import crop_or_pad
from hyrax.errors import ConfigError, DataError
from hyrax.registry import DATA_SET_REGISTRY

# Astropy's notes on the sample catalogs' column names and Parquet metadata are not under test.
pytestmark = pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")

SAMPLE_CATALOGS = [
    ("star_cat_correct.fits", "# object_id"),
    ("star_cat_correct.csv", "# object_id"),
    ("star_cat_correct.astropy.csv", "# object_id"),
    ("star_cat_correct.pq", "# object_id"),
    ("star_cat_correct.votable", "___object_id"),
]


def make_config(catalog, **keys):
    """A FitsImageDataSet configuration; raw pixels (scaling "none") unless ``keys`` say otherwise.

    Most tests here check reading against astropy pixel for pixel; the scaling tests set it.
    """
    config = load_config()
    config["data_set"]["name"] = "FitsImageDataSet"
    table = config["data_set"]["FitsImageDataSet"]
    table["catalog"] = str(catalog)
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
            dataset = FitsImageDataSet(config)
        return dataset, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    return build


def write_images(directory, images, suffix=".fits"):
    """Write one FITS file per image, named obj<i>; return a catalog path listing them."""
    names = []
    for number, image in enumerate(images):
        name = f"obj{number}{suffix}"
        fits.PrimaryHDU(image).writeto(directory / name)
        names.append(name)
    catalog = directory / "catalog.ecsv"
    Table({"object_id": [f"obj{i}" for i in range(len(images))], "filename": names}).write(catalog)
    return catalog


def sample_ids(hsc_sample_dir):
    table = Table.read(hsc_sample_dir / "star_cat_correct.fits")
    return [str(value) for value in table["# object_id"]], list(table["star_filename"])


@pytest.mark.parametrize(("catalog_name", "id_column"), SAMPLE_CATALOGS)
def test_every_sample_catalog_format_reads_the_same_images(hsc_sample_dir, catalog_name, id_column, build):
    config = make_config(
        hsc_sample_dir / catalog_name, object_id_column=id_column, filename_column="star_filename"
    )
    dataset, messages = build(config)
    ids, filenames = sample_ids(hsc_sample_dir)

    assert list(dataset.ids()) == ids
    assert dataset.shape == (25, 25)
    assert dataset.filters == ("star_filename",)
    assert len(messages) == 1 and "3 of 10 objects" in messages[0]
    for index, filename in enumerate(filenames):
        item = dataset[index]
        assert item["object_id"] == ids[index]
        assert item["data"].shape == (1, 25, 25)
        expected = crop_or_pad(fits.getdata(hsc_sample_dir / filename).astype(np.float32), 25, 25)
        np.testing.assert_array_equal(item["data"].numpy()[0], expected)


def test_sample_pixels_equal_astropy_getdata(hsc_sample_dir):
    for path in sorted((hsc_sample_dir / "images").glob("*.fits")):
        expected = fits.getdata(path)
        assert image_shape(str(path)) == expected.shape
        np.testing.assert_array_equal(read_image(str(path)), expected)


def test_metadata_is_the_catalog(hsc_sample_dir, build):
    catalog = Table.read(hsc_sample_dir / "star_cat_correct.pq", format="parquet")
    config = make_config(
        hsc_sample_dir / "star_cat_correct.pq",
        object_id_column="# object_id",
        filename_column="star_filename",
    )
    dataset, _ = build(config)
    assert "ira" in dataset.metadata_fields() and "star_filename" in dataset.metadata_fields()
    values = dataset.metadata([3, 0], ["ira", "star_filename"])
    np.testing.assert_array_equal(values["ira"], np.asarray(catalog["ira"])[[3, 0]])
    assert list(values["star_filename"]) == [catalog["star_filename"][3], catalog["star_filename"][0]]


def test_registered_and_transforms_applied(hsc_sample_dir, build):
    assert DATA_SET_REGISTRY.get("FitsImageDataSet") is FitsImageDataSet
    config = make_config(
        hsc_sample_dir / "star_cat_correct.fits",
        object_id_column="# object_id",
        filename_column="star_filename",
    )
    config["data_set"]["transforms"] = ["tanh"]
    dataset, _ = build(config)
    _, filenames = sample_ids(hsc_sample_dir)
    expected = np.tanh(fits.getdata(hsc_sample_dir / filenames[1]).astype(np.float32))
    np.testing.assert_allclose(dataset.get_data(1)[0], expected, rtol=1e-6)


def test_per_filter_columns_from_a_toml_file(hsc_sample_dir, tmp_path, build):
    _, filenames = sample_ids(hsc_sample_dir)
    square = [name for name in filenames if fits.getdata(hsc_sample_dir / name).shape == (25, 25)]
    Table({"id": [10, 11, 12], "g_file": square[0:3], "r_file": square[3:6]}).write(tmp_path / "cat.csv")
    (tmp_path / "hyrax.toml").write_text(
        "[data_set.FitsImageDataSet]\n"
        'catalog = "cat.csv"\n'
        'scaling = "none"\n'
        'object_id_column = "id"\n'
        f'data_dir = "{hsc_sample_dir}"\n'
        "[data_set.FitsImageDataSet.filename_columns]\n"
        'g = "g_file"\n'
        'r = "r_file"\n'
    )
    dataset, messages = build(load_config(tmp_path / "hyrax.toml"))
    assert messages == []
    assert dataset.ids() == ["10", "11", "12"] and dataset.filters == ("g", "r")
    data = dataset[2]["data"].numpy()
    np.testing.assert_array_equal(data[0], fits.getdata(hsc_sample_dir / square[2]))
    np.testing.assert_array_equal(data[1], fits.getdata(hsc_sample_dir / square[5]))

    config = load_config(tmp_path / "hyrax.toml")
    config["data_set"]["FitsImageDataSet"]["filters"] = ["r"]
    dataset, _ = build(config)
    assert dataset.filters == ("r",)
    np.testing.assert_array_equal(dataset.get_data(0)[0], fits.getdata(hsc_sample_dir / square[3]))

    config["data_set"]["FitsImageDataSet"]["filters"] = ["i"]
    with pytest.raises(ConfigError, match="'i'.*Defined filters: g, r"):
        FitsImageDataSet(config)


@pytest.mark.parametrize(
    ("mode", "quantile"), [("zero", 0.05), ("quantile", 0.05), ("quantile", 0.5), ("leave", 0.05)]
)
def test_nan_modes(tmp_path, mode, quantile, build):
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    image[0, :3] = np.nan
    image[5, 5] = np.inf
    catalog = write_images(tmp_path, [image])
    dataset, _ = build(make_config(catalog, nan_mode=mode, nan_quantile=quantile))
    data = dataset.get_data(0)[0]
    bad = ~np.isfinite(image)
    np.testing.assert_array_equal(data[~bad], image[~bad])
    if mode == "leave":
        np.testing.assert_array_equal(data[bad], image[bad])
    else:
        fill = 0.0 if mode == "zero" else np.quantile(image[~bad], quantile)
        np.testing.assert_allclose(data[bad], fill)


def test_all_nan_image_with_quantile_becomes_zero(tmp_path, build):
    catalog = write_images(tmp_path, [np.full((4, 4), np.nan, dtype=np.float32)])
    dataset, _ = build(make_config(catalog))
    np.testing.assert_array_equal(dataset.get_data(0), np.zeros((1, 4, 4), dtype=np.float32))


def test_unequal_sizes_give_one_warning_and_a_common_shape(tmp_path, build):
    rng = np.random.default_rng(1)
    images = [rng.normal(size=shape).astype(np.float32) for shape in [(10, 10), (10, 10), (12, 12), (8, 9)]]
    catalog = write_images(tmp_path, images)
    dataset, messages = build(make_config(catalog))
    assert dataset.shape == (10, 10)
    assert len(messages) == 1
    assert "2 of 4 objects" in messages[0] and "12x12" in messages[0] and "8x9" in messages[0]
    assert {tuple(dataset[i]["data"].shape) for i in range(4)} == {(1, 10, 10)}
    np.testing.assert_array_equal(dataset.get_data(2)[0], images[2][1:11, 1:11])
    padded = dataset.get_data(3)[0]
    np.testing.assert_array_equal(padded[1:9, 0:9], images[3])
    assert not padded[0].any() and not padded[9].any()

    dataset, messages = build(make_config(catalog, shape=[6, 6]))
    assert dataset.shape == (6, 6) and len(messages) == 1 and "4 of 4 objects" in messages[0]
    np.testing.assert_array_equal(dataset.get_data(0)[0], images[0][2:8, 2:8])


def test_equal_sizes_give_no_warning(tmp_path, build):
    catalog = write_images(tmp_path, [np.ones((5, 7), dtype=np.float32)] * 3)
    dataset, messages = build(make_config(catalog))
    assert messages == [] and dataset.shape == (5, 7)


def test_wrong_column_names_list_the_columns(hsc_sample_dir):
    config = make_config(hsc_sample_dir / "star_cat_correct.fits", filename_column="star_filename")
    with pytest.raises(DataError) as error:
        FitsImageDataSet(config)
    message = str(error.value)
    assert "no column 'object_id'" in message and "object_id_column" in message
    assert "Did you mean `# object_id`?" in message and "star_filename" in message and "ira" in message

    config = make_config(
        hsc_sample_dir / "star_cat_correct.votable",
        object_id_column="___object_id",
        filename_column="star_file",
    )
    with pytest.raises(DataError, match="no column 'star_file'.*Did you mean `star_filename`"):
        FitsImageDataSet(config)


def test_empty_catalog(tmp_path):
    Table({"object_id": np.array([], dtype=str), "filename": np.array([], dtype=str)}).write(
        tmp_path / "c.ecsv"
    )
    with pytest.raises(DataError, match="has no rows"):
        FitsImageDataSet(make_config(tmp_path / "c.ecsv"))


def test_catalog_not_set_missing_or_unreadable(tmp_path):
    config = make_config("x")
    config["data_set"]["FitsImageDataSet"]["catalog"] = False
    with pytest.raises(ConfigError, match="needs a catalog"):
        FitsImageDataSet(config)
    with pytest.raises(DataError, match="Catalog file not found"):
        FitsImageDataSet(make_config(tmp_path / "absent.fits"))
    (tmp_path / "bad.fits").write_bytes(b"not a table")
    with pytest.raises(DataError, match="Cannot read the catalog .*bad.fits"):
        FitsImageDataSet(make_config(tmp_path / "bad.fits"))


def test_corrupt_and_truncated_files_name_the_object_and_path(tmp_path):
    catalog = write_images(tmp_path, [np.ones((4, 4), dtype=np.float32)] * 3)
    (tmp_path / "obj1.fits").write_bytes(os.urandom(3000))
    with pytest.raises(DataError) as error:
        FitsImageDataSet(make_config(catalog))
    assert "object 'obj1'" in str(error.value) and str(tmp_path / "obj1.fits") in str(error.value)
    assert 'on_missing = "skip"' in str(error.value)

    fits.PrimaryHDU(np.ones((100, 100), dtype=np.float32)).writeto(tmp_path / "obj1.fits", overwrite=True)
    (tmp_path / "obj1.fits").write_bytes((tmp_path / "obj1.fits").read_bytes()[:5760])
    with pytest.raises(DataError, match="object 'obj1'.*shorter than its header"):
        FitsImageDataSet(make_config(catalog))


def test_missing_file_error_or_skip(tmp_path, build):
    catalog = write_images(tmp_path, [np.full((4, 4), i, dtype=np.float32) for i in range(4)])
    (tmp_path / "obj2.fits").unlink()
    with pytest.raises(
        DataError, match=r"1 of 4 objects.*object 'obj2': .*obj2.fits: the file does not exist"
    ):
        FitsImageDataSet(make_config(catalog))

    dataset, messages = build(make_config(catalog, on_missing="skip"))
    assert dataset.ids() == ["obj0", "obj1", "obj3"] and len(dataset) == 3
    assert (
        len(messages) == 1 and "left out 1 of 4 objects whose file" in messages[0] and "obj2" in messages[0]
    )
    assert dataset.get_data(2)[0, 0, 0] == 3.0
    np.testing.assert_array_equal(dataset.metadata([2], ["object_id"])["object_id"], ["obj3"])


def test_skipping_every_object_is_an_error(tmp_path, caplog):
    catalog = write_images(tmp_path, [np.ones((4, 4), dtype=np.float32)])
    (tmp_path / "obj0.fits").unlink()
    with caplog.at_level(logging.WARNING, logger="hyrax"), pytest.raises(DataError, match="every one was"):
        FitsImageDataSet(make_config(catalog, on_missing="skip"))
    assert "left out 1 of 1" in caplog.text


def test_dataset_pickles_for_worker_processes(tmp_path, build):
    catalog = write_images(tmp_path, [np.full((4, 4), i, dtype=np.float32) for i in range(3)])
    dataset, _ = build(make_config(catalog))
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy.ids() == dataset.ids()
    np.testing.assert_array_equal(copy.get_data(2), dataset.get_data(2))


def test_file_removed_after_building_names_the_object(tmp_path, build):
    catalog = write_images(tmp_path, [np.ones((4, 4), dtype=np.float32)] * 2)
    dataset, _ = build(make_config(catalog))
    (tmp_path / "obj1.fits").unlink()
    with pytest.raises(DataError, match=r"obj1.fits, the filename image of object 'obj1': the file does not"):
        dataset[1]


def test_relative_names_resolve_against_data_dir(tmp_path, build):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    fits.PrimaryHDU(np.full((3, 3), 7, dtype=np.float32)).writeto(images_dir / "a.fits")
    Table({"object_id": [1], "filename": ["a.fits"]}).write(tmp_path / "cat.fits")
    with pytest.raises(DataError, match="does not exist"):
        FitsImageDataSet(make_config(tmp_path / "cat.fits"))
    dataset, _ = build(make_config(tmp_path / "cat.fits", data_dir=str(images_dir)))
    assert dataset.ids() == ["1"] and dataset.get_data(0)[0, 1, 1] == 7.0


def test_formats_astropy_decodes_match_getdata(tmp_path, build):
    scaled = fits.PrimaryHDU(np.arange(20, dtype=np.int16).reshape(4, 5))
    scaled.header["BSCALE"], scaled.header["BZERO"] = 0.5, 100.0
    scaled.writeto(tmp_path / "scaled.fits")
    fits.PrimaryHDU(np.arange(20, dtype=np.int32).reshape(4, 5)).writeto(tmp_path / "int.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.eye(5, dtype=np.float64))]).writeto(
        tmp_path / "ext.fits"
    )
    (tmp_path / "zipped.fits.gz").write_bytes(gzip.compress((tmp_path / "int.fits").read_bytes()))
    fits.PrimaryHDU(np.ones((1, 4, 5), dtype=np.float32)).writeto(tmp_path / "cube1.fits")
    for name in ["scaled.fits", "int.fits", "ext.fits", "zipped.fits.gz", "cube1.fits"]:
        path = str(tmp_path / name)
        np.testing.assert_array_equal(read_image(path), fits.getdata(path))
        assert image_shape(path) == fits.getdata(path).shape

    Table(
        {
            "object_id": ["a", "b", "c", "d"],
            "filename": ["scaled.fits", "int.fits", "zipped.fits.gz", "cube1.fits"],
        }
    ).write(tmp_path / "cat.ecsv")
    dataset, _ = build(make_config(tmp_path / "cat.ecsv"))
    np.testing.assert_array_equal(dataset.get_data(0)[0], fits.getdata(tmp_path / "scaled.fits"))
    assert dataset.get_data(3).shape == (1, 4, 5)


def test_large_files_and_long_headers_match_getdata(tmp_path):
    big = np.random.default_rng(2).normal(size=(700, 600)).astype(np.float32)
    fits.PrimaryHDU(big).writeto(tmp_path / "big.fits")
    extension = fits.ImageHDU(np.arange(12, dtype=np.float64).reshape(3, 4))
    for number in range(400):
        extension.header[f"KEY{number}"] = number
    fits.HDUList([fits.PrimaryHDU(), extension]).writeto(tmp_path / "long.fits")
    for name in ["big.fits", "long.fits"]:
        path = str(tmp_path / name)
        np.testing.assert_array_equal(read_image(path), fits.getdata(path))
        assert image_shape(path) == fits.getdata(path).shape


def test_images_that_are_not_2d_or_absent_are_reported(tmp_path):
    fits.PrimaryHDU(np.ones((2, 4, 5), dtype=np.float32)).writeto(tmp_path / "cube.fits")
    Table({"object_id": ["a"], "filename": ["cube.fits"]}).write(tmp_path / "cat.ecsv")
    with pytest.raises(DataError, match=r"object 'a'.*shape \(2, 4, 5\); one 2-D image per file"):
        FitsImageDataSet(make_config(tmp_path / "cat.ecsv"))
    fits.PrimaryHDU().writeto(tmp_path / "cube.fits", overwrite=True)
    with pytest.raises(DataError, match=r"object 'a'.*holds no image data"):
        FitsImageDataSet(make_config(tmp_path / "cat.ecsv"))


@pytest.mark.parametrize(
    ("key", "value"),
    [("nan_mode", "zeros"), ("nan_quantile", 5.0), ("shape", [4]), ("scaling", "asnh"), ("scaling", 1)],
)
def test_bad_options_are_config_errors_naming_key_and_value(tmp_path, key, value):
    catalog = write_images(tmp_path, [np.ones((4, 4), dtype=np.float32)])
    with pytest.raises(ConfigError) as error:
        FitsImageDataSet(make_config(catalog, **{key: value}))
    assert error.value.key == f"data_set.FitsImageDataSet.{key}"
    assert key in str(error.value) and repr(value) in str(error.value)


def test_a_subclass_table_without_the_scaling_key_gets_the_default(tmp_path):
    class LegacyFits(FitsImageDataSet):
        registry_name = None
        config_table = "LegacyFits"

    catalog = write_images(tmp_path, [500.0 + np.arange(16, dtype=np.float32).reshape(4, 4)])
    config = make_config(catalog).to_dict()
    config["data_set"]["LegacyFits"] = {
        k: v for k, v in config["data_set"]["FitsImageDataSet"].items() if k != "scaling"
    }
    dataset = LegacyFits(config)
    assert dataset.scaling == "asinh" and abs(float(np.median(dataset.get_data(0)))) < 1e-6


def test_filters_without_filename_columns_is_a_config_error(tmp_path):
    catalog = write_images(tmp_path, [np.ones((4, 4), dtype=np.float32)])
    with pytest.raises(ConfigError, match="filters selects among"):
        FitsImageDataSet(make_config(catalog, filters=["g"]))


def test_duplicate_ids(tmp_path):
    write_images(tmp_path, [np.ones((4, 4), dtype=np.float32)] * 2)
    Table({"object_id": ["x", "x"], "filename": ["obj0.fits", "obj1.fits"]}).write(tmp_path / "dup.ecsv")
    with pytest.raises(DataError, match="must be unique.*x"):
        FitsImageDataSet(make_config(tmp_path / "dup.ecsv"))


def sample_config(hsc_sample_dir, **keys):
    """The real sample through the default configuration, with only ``keys`` changed."""
    config = load_config()
    config["data_set"]["name"] = "FitsImageDataSet"
    table = config["data_set"]["FitsImageDataSet"]
    table["catalog"] = str(hsc_sample_dir / "star_cat_correct.fits")
    table["object_id_column"] = "# object_id"
    table["filename_column"] = "star_filename"
    for key, value in keys.items():
        table[key] = value
    return config


def robust_reference(image):
    """(image - median) / (1.4826 * MAD), computed independently of Hyrax in float64."""
    image = np.asarray(image, dtype=np.float64)
    median = np.median(image)
    return (image - median) / (1.4826 * np.median(np.abs(image - median)))


def test_default_scaling_brings_real_cutouts_to_order_unity(hsc_sample_dir, build):
    raw_dataset, _ = build(sample_config(hsc_sample_dir, scaling="none"))
    raw = np.stack([raw_dataset.get_data(i) for i in range(len(raw_dataset))])
    assert np.abs(raw).max() > 40  # the stars peak at 43 to 175 in the sample's units

    dataset, _ = build(sample_config(hsc_sample_dir))
    assert dataset.scaling == "asinh"
    data = np.stack([dataset.get_data(i) for i in range(len(dataset))])
    assert np.isfinite(data).all()
    assert np.median(np.abs(data)) < 1 and np.abs(data).max() < 10

    _, filenames = sample_ids(hsc_sample_dir)
    for index, filename in enumerate(filenames):
        pixels = fits.getdata(hsc_sample_dir / filename)
        expected = crop_or_pad(np.arcsinh(robust_reference(pixels)).astype(np.float32), 25, 25)
        np.testing.assert_allclose(data[index, 0], expected, rtol=1e-5, atol=1e-5)


def test_robust_scaling_puts_each_cutout_in_units_of_its_noise(hsc_sample_dir, build):
    dataset, _ = build(sample_config(hsc_sample_dir, scaling="robust"))
    _, filenames = sample_ids(hsc_sample_dir)
    for index, filename in enumerate(filenames):
        pixels = fits.getdata(hsc_sample_dir / filename)
        if pixels.shape == (25, 25):
            np.testing.assert_allclose(dataset.get_data(index)[0], robust_reference(pixels), rtol=1e-5)


def test_scaling_none_keeps_the_raw_pixels(hsc_sample_dir, build):
    dataset, _ = build(sample_config(hsc_sample_dir, scaling="none"))
    _, filenames = sample_ids(hsc_sample_dir)
    for index, filename in enumerate(filenames):
        expected = crop_or_pad(fits.getdata(hsc_sample_dir / filename).astype(np.float32), 25, 25)
        np.testing.assert_array_equal(dataset.get_data(index)[0], expected)


def test_scaling_removes_sky_level_and_gain_and_keeps_nans_bounded(tmp_path, build):
    rng = np.random.default_rng(3)
    noise = 30.0 * rng.normal(size=(16, 16))
    noise[8, 8] += 1e5
    first = (1000.0 + noise).astype(np.float32)
    second = (30000.0 + 50.0 * noise).astype(np.float32)
    for image in (first, second):
        image[0, :4] = np.nan
    catalog = write_images(tmp_path, [first, second])

    dataset, _ = build(make_config(catalog, scaling="asinh"))
    scaled = [dataset.get_data(0), dataset.get_data(1)]
    for data in scaled:
        assert np.isfinite(data).all() and np.abs(data).max() < 10
        assert abs(float(np.median(data))) < 0.1 and data[0, 8, 8] > 8
    np.testing.assert_allclose(scaled[0], scaled[1], atol=1e-3)

    dataset, _ = build(make_config(catalog, scaling="asinh", nan_mode="leave"))
    data = dataset.get_data(1)
    assert np.isnan(data[0, 0, :4]).all() and np.isfinite(data[0, 1:]).all()


def test_padding_is_at_the_scaled_sky_level_and_transforms_run_after_scaling(tmp_path, build):
    rng = np.random.default_rng(4)
    images = [(500.0 + rng.normal(size=shape)).astype(np.float32) for shape in [(10, 10), (10, 10), (8, 8)]]
    catalog = write_images(tmp_path, images)
    dataset, _ = build(make_config(catalog, scaling="robust"))
    padded = dataset.get_data(2)[0]
    assert not padded[0].any() and not padded[9].any() and not padded[:, 0].any()
    np.testing.assert_allclose(padded[1:9, 1:9], robust_reference(images[2]), atol=1e-4)

    config = make_config(catalog, scaling="robust")
    config["data_set"]["transforms"] = ["tanh"]
    dataset, _ = build(config)
    np.testing.assert_allclose(dataset.get_data(0)[0], np.tanh(robust_reference(images[0])), atol=1e-4)


def test_autoencoder_trains_on_the_real_sample_with_a_small_loss(hsc_sample_dir, work_dir):
    import torch
    from torch.utils.data import default_collate

    from hyrax import Hyrax

    h = Hyrax()
    settings = {
        "data_set.name": "FitsImageDataSet",
        "data_set.FitsImageDataSet.catalog": str(hsc_sample_dir / "star_cat_correct.fits"),
        "data_set.FitsImageDataSet.object_id_column": "# object_id",
        "data_set.FitsImageDataSet.filename_column": "star_filename",
        "model.HyraxAutoencoder.latent_dim": 8,
        "data_loader.batch_size": 4,
        "train.epochs": 2,
        "train.mlflow": False,
        "train.tensorboard": False,
        "train.progress_bar": False,
    }
    for key, value in settings.items():
        h.set_config(key, value)
    model = h.train()
    dataset = FitsImageDataSet(h.config)
    batch = default_collate([dataset[index] for index in range(len(dataset))])
    with torch.no_grad():
        loss = model.compute_loss(batch).item()
    # Raw pixels gave losses of about 100 here, and 1e9 and more on cutouts in raw counts.
    assert 0 < loss < 10
