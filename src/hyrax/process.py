"""Process-wide settings a verb needs, changed in one place: :func:`verb_scope`, entered as a verb starts.

It sets the environment variables libraries read on import (telemetry off, umap's numba cache), which
stay set, and sends logging where ``[general]`` says until the verb ends; docs/concepts.md tells why.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def numba_cache_dir() -> Path:
    """Where numba caches compiled code: ``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/hyrax/numba``
    or ``~/.cache/hyrax/numba``."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hyrax" / "numba"


def library_environment() -> dict[str, str]:
    """The environment variables Hyrax sets for the libraries it uses, with the values it gives them."""
    return {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "ANONYMIZED_TELEMETRY": "False",
        "NUMBA_CACHE_DIR": str(numba_cache_dir()),
    }


def set_library_environment() -> list[str]:
    """Set each variable of :func:`library_environment` the user has not set; return the names set.

    Call it before the libraries are imported: they read these variables once, on import.
    """
    environment = library_environment()
    added = [name for name in environment if name not in os.environ]
    os.environ.update({name: environment[name] for name in added})
    return added


@contextlib.contextmanager
def verb_scope(general: Mapping[str, Any]) -> Iterator[None]:
    """Run a verb with the library environment set and its logging going where ``general`` says.

    Parameters
    ----------
    general : mapping
        The ``[general]`` table (``log_level`` and ``log_destination``).
    """
    from hyrax.log import logging_scope

    set_library_environment()
    with logging_scope(general["log_level"], general["log_destination"]):
        yield
