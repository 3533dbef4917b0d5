import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hyrax.vector_dbs.base import VectorDBError

pytest.importorskip("chromadb")

from hyrax.vector_dbs.chromadb_db import ChromaDB  # noqa: E402


def test_collection_has_no_embedding_function_and_telemetry_is_off(tmp_path):
    with ChromaDB(path=tmp_path, dim=3) as db:
        assert db._collection._embedding_function is None
        assert db._client.get_settings().anonymized_telemetry is False


def test_upsert_larger_than_chromas_own_batch_limit(tmp_path):
    with ChromaDB(path=tmp_path, dim=2) as db:
        n = db.max_batch_size + 7
        vectors = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
        db.upsert([str(i) for i in range(n)], vectors)
        assert db.count() == n
        ends = [0, db.max_batch_size - 1, db.max_batch_size, n - 1]
        np.testing.assert_array_equal(db.get_by_id([str(i) for i in ends]).vectors, vectors[ends])


def test_server_url_must_be_http(tmp_path):
    with pytest.raises(VectorDBError, match="not an http"):
        ChromaDB(server_url="ftp://somewhere").connect()


def test_unreachable_server_says_how_to_start_one():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(VectorDBError, match="chroma run"):
        ChromaDB(server_url=f"http://127.0.0.1:{port}").connect()


@pytest.fixture
def chroma_server(tmp_path):
    """A real Chroma server on a free local port, started with the `chroma run` command."""
    command = Path(sys.executable).parent / "chroma"
    if not command.exists():
        pytest.skip(f"the `chroma` command is not installed beside {sys.executable}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [str(command), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"`chroma run` did not start serving on {url}")
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_server_url_connects_to_a_running_chroma_server(chroma_server):
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    ids = ["a", "b", "c", "d"]
    with ChromaDB(server_url=chroma_server, collection="remote", dim=3) as db:
        db.upsert(ids, vectors, {"band": np.array(["g", "r", "i", "z"])})
        db.upsert(ids, vectors, {"band": np.array(["g", "r", "i", "z"])})
        assert db.count() == 4
    with ChromaDB(server_url=chroma_server, collection="remote") as db:
        found = db.search_by_id(["b"], k=2)
        assert found.ids[0, 0] == "b" and found.distances[0, 0] == pytest.approx(0)
        assert db.get_by_id(["d"]).metadata["band"].tolist() == ["z"]
