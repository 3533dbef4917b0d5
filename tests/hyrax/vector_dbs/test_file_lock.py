import subprocess
import sys
import types

import pytest

from hyrax.vector_dbs._file_lock import try_lock


def test_a_second_lock_on_the_same_file_is_refused_until_the_first_is_closed(tmp_path):
    first = open(tmp_path / "write.lock", "w")  # noqa: SIM115
    second = open(tmp_path / "write.lock", "w")  # noqa: SIM115
    try:
        assert try_lock(first)
        assert not try_lock(second)
        first.close()
        assert try_lock(second)
    finally:
        first.close()
        second.close()


def test_faiss_backend_imports_and_registers_without_fcntl():
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "import hyrax.vector_dbs.faiss_db\n"
        "from hyrax.registry import VECTOR_DB_REGISTRY\n"
        "print(VECTOR_DB_REGISTRY.get('faiss').__name__)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "FaissDB"


@pytest.fixture
def windows_locking(monkeypatch):
    """No fcntl, and an msvcrt whose locking() records its calls and refuses when told to."""
    calls = []
    fake = types.SimpleNamespace(LK_NBLCK=2, refuse=False)

    def locking(fileno, mode, nbytes):
        calls.append((fileno, mode, nbytes))
        if fake.refuse:
            raise PermissionError(13, "Permission denied")

    fake.locking = locking
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    return fake, calls


def test_without_fcntl_the_first_byte_is_locked_with_msvcrt(tmp_path, windows_locking):
    fake, calls = windows_locking
    with open(tmp_path / "write.lock", "w") as file:
        file.write("x")
        assert try_lock(file)
        assert calls == [(file.fileno(), fake.LK_NBLCK, 1)] and file.tell() == 0
        fake.refuse = True
        assert not try_lock(file)


def test_without_any_locking_module_the_error_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    with open(tmp_path / "write.lock", "w") as file, pytest.raises(OSError, match="write.lock"):
        try_lock(file)
