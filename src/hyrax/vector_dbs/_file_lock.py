"""An exclusive, non-blocking lock on an open file that works on POSIX systems and on Windows.

``fcntl`` exists only on POSIX and ``msvcrt`` only on Windows, so each is imported when a lock is
taken, never at module level: importing a backend must not fail on either platform.
"""

from __future__ import annotations

from typing import IO


def try_lock(file: IO) -> bool:
    """Lock ``file`` for this process alone, without waiting; closing the file releases the lock.

    Parameters
    ----------
    file : file object
        A file opened for writing.

    Returns
    -------
    bool
        True when the lock was taken, False when another process or file object holds it.

    Raises
    ------
    OSError
        When this platform has neither ``fcntl`` nor ``msvcrt``, so files cannot be locked.
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
