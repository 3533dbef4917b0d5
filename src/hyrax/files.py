"""Writing files so that readers never see half of one: write beside, then rename over."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, rename it over ``path``.

    The rename is atomic on one file system, so ``path`` always holds either the old file or the
    whole new one. If the block raises, the temporary file is removed and ``path`` is untouched. The
    temporary name is hidden (it starts with a dot) and unique to the process and thread.

    Parameters
    ----------
    path : path
        The file to write.

    Yields
    ------
    Path
        Where to write the content; its name ends in ``.tmp``, so give writers that choose a format by
        the file name (astropy, pandas) the format explicitly.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with replacing(target) as temporary:
    ...     _ = temporary.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`replacing`; return the path."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)
