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
