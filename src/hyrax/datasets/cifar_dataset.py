"""``HyraxCifarDataSet``: CIFAR-10, downloaded once with pooch and decoded without torchvision."""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hyrax.datasets._settings import check_choice
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.transforms import HyraxImageDataset
from hyrax.errors import DataError

TABLE = "data_set.HyraxCifarDataSet"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
SPLIT_MEMBERS = {
    "train": [f"data_batch_{number}" for number in range(1, 6)],
    "test": ["test_batch"],
}
IMAGE_SHAPE = (3, 32, 32)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches, refusing every global except those numpy arrays are rebuilt from.

    An archive fetched with ``known_hash = false`` is unverified; this keeps a tampered one from
    running code when it is read.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"CIFAR batches only hold arrays and lists; refusing {module}.{name}."
            )
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return super().find_class(module, name)


def _read_member(archive: tarfile.TarFile, archive_path: Path, name: str) -> dict:
    member = next((m for m in archive.getmembers() if m.isfile() and Path(m.name).name == name), None)
    if member is None:
        raise DataError(
            f"{archive_path} has no '{name}' file, so it is not the CIFAR-10 python archive. Delete it "
            f"and run again to download it afresh."
        )
    stream = archive.extractfile(member)
    try:
        return _BatchUnpickler(io.BytesIO(stream.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise DataError(
            f"'{name}' in {archive_path} is not a CIFAR-10 batch ({error}). Delete the archive and run again "
            f"to download it afresh."
        ) from error


def decode_archive(archive_path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read one split of a CIFAR-10 python archive.

    Parameters
    ----------
    archive_path : path
        The ``cifar-10-python.tar.gz`` file.
    split : {"train", "test"}
        The five training batches, or the test batch.

    Returns
    -------
    images : numpy.ndarray
        uint8 array of shape ``(N, 3, 32, 32)``.
    labels : numpy.ndarray
        int64 array of shape ``(N,)``.
    class_names : list of str
        Names of the classes, indexed by label.
    """
    archive_path = Path(archive_path)
    try:
        archive = tarfile.open(archive_path, "r:gz")  # noqa: SIM115 (closed by the with block below)
    except tarfile.TarError as error:
        raise DataError(
            f"{archive_path} is not a gzipped tar archive ({error}). Delete it and run again to download it "
            f"afresh."
        ) from error
    with archive:
        class_names = [
            n.decode() for n in _read_member(archive, archive_path, "batches.meta")[b"label_names"]
        ]
        batches = [_read_member(archive, archive_path, name) for name in SPLIT_MEMBERS[split]]
    images = np.concatenate([np.asarray(batch[b"data"], dtype=np.uint8) for batch in batches])
    labels = np.concatenate([np.asarray(batch[b"labels"], dtype=np.int64) for batch in batches])
    return images.reshape(-1, *IMAGE_SHAPE), labels, class_names


def fetch_archive(url: str, known_hash: str | None, directory: Path) -> Path:
    """Download the archive into ``directory`` unless a copy with the right hash is already there.

    Raises
    ------
    DataError
        When the download fails (saying where to put the archive by hand) or the hash does not match.
    """
    import pooch
    import requests

    path = directory / ARCHIVE_NAME
    try:
        return Path(pooch.retrieve(url, known_hash, fname=ARCHIVE_NAME, path=directory, progressbar=False))
    except (requests.exceptions.RequestException, OSError) as error:
        raise DataError(
            f"Could not download CIFAR-10 from {url} ({type(error).__name__}: {error}). Without network "
            f"access, download {url} elsewhere and copy it to {path}, or set {TABLE}.url to a reachable "
            f"copy."
        ) from error
    except ValueError as error:
        raise DataError(
            f"The file downloaded from {url} does not match {TABLE}.known_hash = {known_hash!r} ({error}). "
            f"Check the url, or set known_hash to the hash of the archive you trust."
        ) from error


class HyraxCifarDataSet(HyraxImageDataset, HyraxDataset):
    """CIFAR-10: 60,000 colour images of 32x32 pixels in 10 classes.

    The archive is downloaded on first use into ``general.data_dir/cifar10`` and checked against
    ``known_hash``; later runs reuse it. ``get_data`` returns float32 ``(3, 32, 32)`` images scaled
    from 0-255 to 0-1, transformed as configured. Labels are integers; the metadata fields are
    ``label`` and ``class_name``. Settings live in ``[data_set.HyraxCifarDataSet]``: ``split``
    (``"train"`` or ``"test"``), ``url`` and ``known_hash``.

    Parameters
    ----------
    config : ConfigDict or mapping
        The whole configuration.

    Raises
    ------
    DataError
        When the archive can be neither found nor downloaded; the message gives the path to copy it to.
    """

    def __init__(self, config: Mapping):
        super().__init__(config)
        settings = config["data_set"]["HyraxCifarDataSet"]
        self.split = check_choice(settings["split"], f"{TABLE}.split", SPLIT_MEMBERS)
        known_hash = settings["known_hash"] or None
        directory = Path(config["general"]["data_dir"]).resolve() / "cifar10"
        self.archive_path = fetch_archive(settings["url"], known_hash, directory)
        self._images, self._labels, self.class_names = decode_archive(self.archive_path, self.split)
        self._ids = [f"cifar_{self.split}_{index:05d}" for index in range(len(self._labels))]
        self._configure_transforms(config)

    def __len__(self) -> int:
        return len(self._labels)

    def get_data(self, index: int) -> np.ndarray:
        """Image ``index`` as float32 ``(3, 32, 32)`` in 0-1, transformed."""
        return self.apply_transforms(self._images[index].astype(np.float32) / 255.0)

    def ids(self) -> list[str]:
        """``"cifar_train_00000"`` ... (or ``cifar_test_...``), in archive order."""
        return self._ids

    def get_label(self, index: int) -> int:
        """The class label (0-9) of image ``index``."""
        return int(self._labels[index])

    def metadata_fields(self) -> list[str]:
        """``label`` and ``class_name``."""
        return ["label", "class_name"]

    def metadata_table(self) -> dict[str, np.ndarray]:
        """Label and class name of every image."""
        return {"label": self._labels, "class_name": np.asarray(self.class_names)[self._labels]}
