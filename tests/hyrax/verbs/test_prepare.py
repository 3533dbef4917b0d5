"""The prepare verb builds the configured dataset, returns it and prints what a user checks first."""

from __future__ import annotations

import shutil

import pytest

from hyrax import Hyrax

pytestmark = pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")


def test_prepare_summarises_the_default_dataset(work_dir, capsys):
    h = Hyrax()
    dataset = h.prepare()
    printed = capsys.readouterr().out
    assert len(dataset) == 2000 and tuple(dataset[0]["data"].shape) == (3, 64, 64)
    assert "SyntheticGalaxyDataSet: 2000 objects" in printed
    assert "each item: data of shape (3, 64, 64) (float32), with a label" in printed
    assert "splits: train 1200, validate 400, test 400" in printed
    assert "left out: none" in printed
    assert not (work_dir / "results").exists()


def test_prepare_counts_the_objects_a_folder_leaves_out(work_dir, hsc_sample_dir, capsys):
    folder = work_dir / "hsc"
    folder.mkdir()
    images = sorted((hsc_sample_dir / "images").glob("*-cutout-*.fits"))[:4]
    for number, image in enumerate(images):
        shutil.copyfile(image, folder / f"{number}_HSC-I.fits")
        if number != 2:
            shutil.copyfile(image, folder / f"{number}_HSC-G.fits")
    h = Hyrax()
    h.config["data_set"]["name"] = "HSCDataSet"
    h.config["data_set"]["HSCDataSet"]["data_dir"] = str(folder)
    dataset = h.prepare()
    printed = capsys.readouterr().out
    assert sorted(dataset.ids()) == ["0", "1", "3"] and dataset.left_out == [("2", "no cutout in HSC-G")]
    assert "HSCDataSet: 3 objects" in printed and "filters: HSC-G, HSC-I" in printed
    assert "left out: 1 object(s)" in printed and "2 (no cutout in HSC-G)" in printed
