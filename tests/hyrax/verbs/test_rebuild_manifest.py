import logging
import shutil

import pytest
from astropy.table import Table

from hyrax.errors import DataError
from hyrax_cli.main import main


def test_rebuild_manifest_from_the_cli(hsc_sample_dir, work_dir, capsys):
    folder = work_dir / "cutouts"
    folder.mkdir()
    images = sorted((hsc_sample_dir / "images").glob("*.fits"))[:3]
    for number, image in enumerate(images):
        shutil.copy(image, folder / f"{1000 + number}_HSC-I.fits")
    assert main(["rebuild_manifest", "--directory", str(folder)]) == 0
    manifest = Table.read(folder / "manifest.fits")
    assert sorted(str(v) for v in manifest["object_id"]) == ["1000", "1001", "1002"]
    assert set(manifest["filter"]) == {"HSC-I"}
    assert "manifest.fits" in capsys.readouterr().out


def test_rebuild_manifest_defaults_to_the_data_dir(work_dir):
    from hyrax import Hyrax

    h = Hyrax()
    h.set_config("general.data_dir", str(work_dir / "empty"))
    (work_dir / "empty").mkdir()
    with pytest.raises(DataError, match="holds no"):
        h.rebuild_manifest()


def test_rebuild_manifest_of_a_folder_without_cutouts_fails_with_the_reason(work_dir, capsys):
    folder = work_dir / "wrong_folder"
    folder.mkdir()
    (folder / "catalog.csv").write_text("object_id,ra\n")
    assert main(["rebuild_manifest", "--directory", str(folder)]) == 1
    error = capsys.readouterr().err
    assert str(folder) in error and "<object_id>_<filter>.fits" in error and "catalog.csv" in error
    assert "Traceback" not in error and "StopIteration" not in error


def test_an_unreadable_old_manifest_is_replaced_with_a_logged_warning(hsc_sample_dir, work_dir, caplog):
    from hyrax.datasets.hsc_dataset import rebuild_manifest

    folder = work_dir / "cutouts"
    folder.mkdir()
    shutil.copy(sorted((hsc_sample_dir / "images").glob("*.fits"))[0], folder / "1_HSC-I.fits")
    (folder / "manifest.fits").write_text("not a FITS file")
    with caplog.at_level(logging.WARNING, logger="hyrax.datasets.hsc_dataset"):
        manifest = Table.read(rebuild_manifest(folder))
    assert manifest["object_id"].tolist() == ["1"]
    assert "old manifest is unreadable" in caplog.text
