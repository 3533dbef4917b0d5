import hashlib
import http.server
import io
import pickle
import socket
import tarfile
import threading

import numpy as np
import pytest

from hyrax.config import load_config
from hyrax.datasets.cifar_dataset import ARCHIVE_NAME, HyraxCifarDataSet, decode_archive
from hyrax.errors import ConfigError, DataError

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_PER_BATCH, TEST_COUNT = 2, 3


def batch(rng, count):
    # CIFAR rows hold 1024 red, then 1024 green, then 1024 blue values, each image row-major.
    return {
        b"batch_label": b"synthetic",
        b"data": rng.integers(0, 256, size=(count, 3072), dtype=np.uint8),
        b"labels": rng.integers(0, 10, size=count).tolist(),
        b"filenames": [f"image_{i}.png".encode() for i in range(count)],
    }


def add(archive, name, payload):
    data = pickle.dumps(payload, protocol=2)
    info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def small_archive(tmp_path):
    """A CIFAR-10 python archive with 2 images per training batch and 3 test images."""
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{n}": batch(rng, TRAIN_PER_BATCH) for n in range(1, 6)}
    batches["test_batch"] = batch(rng, TEST_COUNT)
    served = tmp_path / "served"
    served.mkdir()
    path = served / ARCHIVE_NAME
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "batches.meta", {b"label_names": [name.encode() for name in CLASS_NAMES]})
        for name, payload in batches.items():
            add(archive, name, payload)
    return path, batches


@pytest.fixture
def server(small_archive):
    directory = small_archive[0].parent
    requests_seen = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self):  # noqa: N802 (the name http.server calls)
            requests_seen.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{ARCHIVE_NAME}", requests_seen
    httpd.shutdown()
    httpd.server_close()


def make_config(tmp_path, url, known_hash, split="train"):
    config = load_config()
    config["general"]["data_dir"] = str(tmp_path / "data")
    settings = config["data_set"]["HyraxCifarDataSet"]
    settings.update(url=url, known_hash=known_hash, split=split)
    return config


def sha256(path):
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_downloads_once_and_decodes_the_training_batches(tmp_path, small_archive, server):
    url, requests_seen = server
    config = make_config(tmp_path, url, sha256(small_archive[0]))
    dataset = HyraxCifarDataSet(config)
    assert dataset.archive_path == (tmp_path / "data" / "cifar10" / ARCHIVE_NAME).resolve()
    assert len(dataset) == 5 * TRAIN_PER_BATCH
    batches = small_archive[1]
    raw = batches["data_batch_2"][b"data"][1]
    item = dataset[3]
    assert item["data"].shape == (3, 32, 32)
    np.testing.assert_allclose(item["data"][1, 0, 5].item(), raw[1024 + 5] / 255, rtol=1e-6)
    np.testing.assert_allclose(item["data"][2, 31, 31].item(), raw[3071] / 255, rtol=1e-6)
    assert item["label"] == batches["data_batch_2"][b"labels"][1]
    assert item["object_id"] == "cifar_train_00003"
    table = dataset.metadata([3], ["label", "class_name"])
    assert table["class_name"][0] == CLASS_NAMES[item["label"]]
    assert dataset.class_names == CLASS_NAMES

    HyraxCifarDataSet(config)
    assert len(requests_seen) == 1


def test_test_split_and_transforms(tmp_path, small_archive, server):
    config = make_config(tmp_path, server[0], sha256(small_archive[0]), split="test")
    config["data_set"]["transforms"] = ["crop_to"]
    config["data_set"]["crop_to"] = [8, 8]
    dataset = HyraxCifarDataSet(config)
    assert len(dataset) == TEST_COUNT
    assert dataset.ids()[2] == "cifar_test_00002"
    assert dataset[0]["data"].shape == (3, 8, 8)
    expected = small_archive[1]["test_batch"][b"data"][0].reshape(3, 32, 32)[:, 12:20, 12:20] / 255
    np.testing.assert_allclose(dataset.get_data(0), expected, rtol=1e-6)


def test_offline_failure_says_where_to_put_the_archive(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{ARCHIVE_NAME}"
    config = make_config(tmp_path, url, "md5:c58f30108f718f92721af3b95e74349a")
    with pytest.raises(DataError) as info:
        HyraxCifarDataSet(config)
    message = str(info.value)
    assert str((tmp_path / "data" / "cifar10" / ARCHIVE_NAME).resolve()) in message
    assert url in message and "data_set.HyraxCifarDataSet.url" in message


def test_an_archive_copied_by_hand_is_used_without_a_download(tmp_path, small_archive):
    target = tmp_path / "data" / "cifar10" / ARCHIVE_NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(small_archive[0].read_bytes())
    config = make_config(tmp_path, "http://127.0.0.1:9/unreachable", sha256(small_archive[0]))
    assert len(HyraxCifarDataSet(config)) == 10


def test_hash_mismatch_is_a_data_error_naming_the_key(tmp_path, server):
    config = make_config(tmp_path, server[0], "sha256:" + "0" * 64)
    with pytest.raises(DataError, match="data_set.HyraxCifarDataSet.known_hash"):
        HyraxCifarDataSet(config)


def test_unknown_split_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'data_set.HyraxCifarDataSet.split' key must be one of"):
        make_config(tmp_path, "http://127.0.0.1:9/x", False, split="validate")


def test_decoding_refuses_pickles_that_would_run_code(tmp_path):
    path = tmp_path / ARCHIVE_NAME
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "batches.meta", {b"label_names": [b"a"]})
        add(archive, "test_batch", {b"data": np.zeros((1, 3072), np.uint8), b"labels": [print]})
    with pytest.raises(DataError, match="'test_batch' in .* is not a CIFAR-10 batch .*refusing .*print"):
        decode_archive(path, "test")


def test_a_file_that_is_not_an_archive_is_named(tmp_path):
    path = tmp_path / ARCHIVE_NAME
    path.write_bytes(b"<html>proxy login page</html>")
    with pytest.raises(DataError, match="is not a gzipped tar archive"):
        decode_archive(path, "train")


def test_an_archive_without_the_batches_is_named(tmp_path):
    path = tmp_path / ARCHIVE_NAME
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "batches.meta", {b"label_names": [b"a"]})
    with pytest.raises(DataError, match="has no 'test_batch' file"):
        decode_archive(path, "test")
