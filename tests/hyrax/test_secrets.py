"""No secret reaches a file under the results folder or a log line, whatever table or URL it is in."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hyrax import Hyrax
from hyrax.config.redact import redact_text

SECRETS = {
    "token in an open table": "opt-token-5d1f",
    "declared secret key": "download-pw-77ab",
    "password in a URL": "url-pw-c3e9",
    "secret-named key in another open table": "sched-secret-0a4b",
    "user name in a URL": "url-user-9e21",
}

OPTIMIZER_MODULE = """
import torch


class TokenAdam(torch.optim.Adam):
    '''Adam that takes (and ignores) an API token, as a cloud-logging optimizer wrapper might.'''

    def __init__(self, params, api_token=None, **kwargs):
        super().__init__(params, **kwargs)
"""


def _config(root: Path) -> Path:
    (root / "token_optimizer.py").write_text(textwrap.dedent(OPTIMIZER_MODULE))
    text = f"""
    [general]
    results_dir = "{root / "results"}"
    data_dir = "{root / "data"}"
    log_level = "debug"
    log_destination = "{root / "hyrax.log"}"
    seed = 3

    [download]
    password = "{SECRETS["declared secret key"]}"

    [download.hsc_das]
    url = "https://{SECRETS["user name in a URL"]}:{SECRETS["password in a URL"]}@cutouts.example/das"

    [optimizer]
    name = "token_optimizer.TokenAdam"

    [optimizer.kwargs]
    lr = 0.001
    api_token = "{SECRETS["token in an open table"]}"

    [scheduler.kwargs]
    client_secret = "{SECRETS["secret-named key in another open table"]}"

    [data_set]
    name = "HyraxRandomDataset"

    [data_set.HyraxRandomDataset]
    size = 40
    shape = [1, 8, 8]
    num_classes = 0

    [data_set.HyraxCifarDataSet]
    url = "https://mirror-user:{SECRETS["password in a URL"]}@mirror.example/cifar.tar.gz"

    [data_loader]
    batch_size = 8

    [train]
    epochs = 2
    progress_bar = false
    mlflow = true
    tensorboard = true
    """
    path = root / "secret_config.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _files_holding(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(path) for path in sorted(root.rglob("*")) if path.is_file() and needle in path.read_bytes()]


def test_no_secret_is_written_by_the_chain(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    h = Hyrax(config_file=_config(tmp_path))
    h.train()
    h.infer()
    h.save_to_database()
    neighbours = h.lookup(id=h.infer().ids()[0], k=3)
    assert len(neighbours) == 3
    results = tmp_path / "results"
    assert (results / "mlflow" / "mlflow.db").is_file()
    assert list(results.rglob("events.out.tfevents*"))
    assert list(results.rglob("runtime_config.toml"))
    for where, secret in SECRETS.items():
        assert _files_holding(results, secret) == [], where
        assert secret not in (tmp_path / "hyrax.log").read_text(), where
    runtime = next(results.glob("*-train-*")).joinpath("runtime_config.toml").read_text()
    assert "https://***@cutouts.example/das" in runtime
    assert "api_token" not in runtime


def test_a_rerun_from_runtime_config_works_without_the_secrets(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    h = Hyrax(config_file=_config(tmp_path))
    h.set_config("train.epochs", 1)
    h.set_config("train.mlflow", False)
    h.train()
    written = next((tmp_path / "results").glob("*-train-*")) / "runtime_config.toml"
    again = Hyrax(config_file=written)
    assert again.config["download"]["password"] == ""
    assert "api_token" not in again.config["optimizer"]["kwargs"]


def test_vector_db_record_keeps_no_credentials(tmp_path):
    from hyrax.vector_dbs.chromadb_db import ChromaDB
    from hyrax.vector_dbs.connect import write_record

    db = ChromaDB(server_url="http://ann:db-pw-41f0@127.0.0.1:9", collection="c")
    record = write_record(tmp_path, db).read_text()
    assert "db-pw-41f0" not in record and "ann" not in record
    assert "http://***@127.0.0.1:9" in record


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://u:p@host:1/x", "http://***@host:1/x"),
        (
            "see https://token@api.example and s3://k:s@bucket/key",
            "see https://***@api.example and s3://***@bucket/key",
        ),
        ("mail ann@example.org at http://host/p@x", "mail ann@example.org at http://host/p@x"),
    ],
)
def test_url_user_info_is_masked(text, expected):
    assert redact_text(text) == expected
