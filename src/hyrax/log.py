"""Logging set-up from ``general.log_level`` and ``general.log_destination``."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

_LEVELS = {name: getattr(logging, name.upper()) for name in ("debug", "info", "warning", "error", "critical")}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _HyraxHandlerMixin:
    """Marks the handlers Hyrax installed, so set-up can replace them instead of stacking them."""


def setup_logging(level: str = "info", destination: str = "stderr") -> logging.Handler:
    """Send Hyrax's log messages at ``level`` and above to ``destination``, for the rest of the process.

    Other libraries' loggers stay at warning, so their chatter does not drown Hyrax's messages.
    Calling it again replaces the previous set-up. Credentials in URLs are masked in every line.
    Verbs use :func:`logging_scope` instead, which undoes its set-up when the verb ends.

    Parameters
    ----------
    level : str
        "debug", "info", "warning", "error" or "critical".
    destination : str
        "stderr", "stdout", or the path of a file to append to.

    Returns
    -------
    logging.Handler
        The handler installed on the root logger.
    """
    handler, replaced = _install(level, destination)
    for old in replaced:
        old.close()
    return handler


@contextlib.contextmanager
def logging_scope(level: str = "info", destination: str = "stderr") -> Iterator[logging.Handler]:
    """Like :func:`setup_logging` (same parameters) inside the block; after it, the logging set-up is as
    it was before.

    Yields
    ------
    logging.Handler
        The handler installed for the block.
    """
    root, hyrax_logger = logging.getLogger(), logging.getLogger("hyrax")
    before, root_level, hyrax_level = list(root.handlers), root.level, hyrax_logger.level
    handler, previous = _install(level, destination)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        handler.close()
        # The handlers of before the block in their order, then any added during it.
        during = [h for h in root.handlers if h not in before]
        root.handlers[:] = [h for h in before if h in previous or h in root.handlers] + during
        root.setLevel(root_level)
        hyrax_logger.setLevel(hyrax_level)


def _make_handler(level: str, destination: str) -> logging.Handler:
    """A handler for ``destination``, checking ``level`` and the destination first."""
    from hyrax.config.redact import RedactingFormatter
    from hyrax.errors import ConfigError, did_you_mean

    if str(level).lower() not in _LEVELS:
        raise ConfigError(
            f"general.log_level must be one of {', '.join(_LEVELS)}; got {level!r}."
            f"{did_you_mean(str(level), _LEVELS)}",
            key="general.log_level",
        )
    if destination in ("stderr", "stdout"):
        handler_class = type("HyraxStreamHandler", (logging.StreamHandler, _HyraxHandlerMixin), {})
        handler: logging.Handler = handler_class(getattr(sys, destination))
    else:
        handler_class = type("HyraxFileHandler", (logging.FileHandler, _HyraxHandlerMixin), {})
        try:
            handler = handler_class(destination, encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"general.log_destination: cannot open log file {destination!r} ({error.strerror}). "
                "Use 'stderr', 'stdout' or a writable file path.",
                key="general.log_destination",
            ) from None
    handler.setFormatter(RedactingFormatter(_FORMAT, datefmt="%H:%M:%S"))
    return handler


def _install(level: str, destination: str) -> tuple[logging.Handler, list[logging.Handler]]:
    """Put a new handler in place of Hyrax's; return it and the handlers it replaced."""
    handler = _make_handler(level, destination)
    root = logging.getLogger()
    replaced = [old for old in root.handlers if isinstance(old, _HyraxHandlerMixin)]
    for old in replaced:
        root.removeHandler(old)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    numeric = _LEVELS[str(level).lower()]
    logging.getLogger("hyrax").setLevel(numeric)
    handler.setLevel(min(numeric, logging.WARNING))
    return handler, replaced
