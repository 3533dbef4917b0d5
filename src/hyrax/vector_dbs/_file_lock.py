"""An exclusive, non-blocking lock on an open file that works on POSIX systems and on Windows.

``fcntl`` exists only on POSIX and ``msvcrt`` only on Windows, so each is imported when a lock is
taken, never at module level: importing a backend must not fail on either platform.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import IO


def try_lock(file: IO) -> bool:
    """Lock ``file`` (open for writing) for this process alone, without waiting: True when taken, False
    when another process or file object holds it. Closing the file releases the lock. Raises OSError on
    a platform with neither ``fcntl`` nor ``msvcrt``.
    """
    try:
        import fcntl
    except ImportError:
        return _try_lock_windows(file)
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _try_lock_windows(file: IO) -> bool:
    try:
        import msvcrt
    except ImportError:
        raise OSError(
            f"Cannot lock {getattr(file, 'name', file)}: this platform has neither fcntl (POSIX) nor "
            "msvcrt (Windows) file locking."
        ) from None
    # msvcrt locks a byte range from the current position; every writer locks the same first byte.
    file.seek(0)
    try:
        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def hold_writer_lock(path: Path, where: str) -> IO:
    """Take the one writer's lock of a database (``path`` is a lock file in its folder, ``where`` the
    database as errors name it), held until the returned file is closed.

    The file names the holder (process and host), so a second writer's error (a ``VectorDBError``, also
    raised when files cannot be locked here) can say who it is. The operating system drops the lock
    when the holder dies, so a killed writer leaves no stale lock.
    """
    from hyrax.vector_dbs._checks import VectorDBError

    lock = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until the caller closes it
    try:
        locked = try_lock(lock)
    except OSError as error:
        lock.close()
        raise VectorDBError(f"Cannot write the {where}: {error}") from error
    if not locked:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise VectorDBError(
            f"The {where} is being written by {holder}; wait for it to finish (or close that object), or "
            "write to another folder (vector_db.vector_db_dir)."
        )
    lock.seek(0)
    lock.truncate()
    lock.write(f"process {os.getpid()} on {socket.gethostname()}")
    lock.flush()
    return lock
