"""Logging set-up from ``general.log_level`` and ``general.log_destination``."""

from __future__ import annotations

import logging
import sys

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_LEVELS["critical"] = logging.CRITICAL
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _HyraxHandlerMixin:
    """Marks the handlers Hyrax installed, so set-up can replace them instead of stacking them."""


def setup_logging(level: str = "info", destination: str = "stderr") -> None:
    """Send Hyrax's log messages at ``level`` and above to ``destination``.

    Other libraries' loggers stay at warning, so their chatter does not drown Hyrax's messages.
    Calling it again replaces the previous set-up. Credentials in URLs are masked in every line.

    Parameters
    ----------
    level : str
        "debug", "info", "warning", "error" or "critical".
    destination : str
        "stderr", "stdout", or the path of a file to append to.
    """
    from hyrax.config.redact import RedactingFormatter
    from hyrax.errors import ConfigError, did_you_mean

    numeric = _LEVELS.get(str(level).lower())
    if numeric is None:
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
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _HyraxHandlerMixin)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    hyrax_logger = logging.getLogger("hyrax")
    hyrax_logger.setLevel(numeric)
    handler.setLevel(min(numeric, logging.WARNING))
