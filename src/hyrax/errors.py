"""The exceptions Hyrax raises.

Every Hyrax error derives from :class:`HyraxError` and also from the builtin exception that matches
it, so ``except ValueError`` or ``except KeyError`` in existing code keeps working. Each error builds
its message from structured fields (the file, table, key, object id ...) so that callers can inspect
them, and the message always says how to fix the problem when a fix is known.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest_match(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice closest to ``name``, or None when nothing is reasonably close.

    Parameters
    ----------
    name : str
        The misspelled name.
    choices : iterable of str
        The valid names.

    Returns
    -------
    str or None
        The best match, compared case-insensitively.
    """
    lowered = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[matches[0]] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean `x`?"`` for the closest choice, or an empty string."""
    match = closest_match(name, choices)
    return f" Did you mean `{match}`?" if match else ""


class HyraxError(Exception):
    """Root of every error Hyrax raises on purpose."""

    def __str__(self) -> str:
        # KeyError quotes its message; every Hyrax error prints its message as written.
        return str(self.args[0]) if self.args else ""


class ConfigError(HyraxError, ValueError):
    """A configuration file or value is not valid.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    file : str, optional
        The configuration file involved, if any.
    key : str, optional
        The dotted key involved (``"train.epochs"``), if any.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        super().__init__(message)
        self.file = file
        self.key = key


class ConfigKeyError(ConfigError, KeyError):
    """A configuration key is not defined by any default configuration."""


class ConfigTypeError(ConfigError, TypeError):
    """A configuration value has a type its key does not accept."""


class ConfigValueError(ConfigError):
    """A configuration value is of the right type but outside the key's range or choices."""


class ConfigParseError(ConfigError):
    """A configuration file is not valid TOML.

    Parameters
    ----------
    file : str
        The file that failed to parse.
    line, col : int
        Where the parser stopped.
    reason : str
        What the parser expected.
    """

    def __init__(self, file: str, line: int, col: int, reason: str):
        super().__init__(
            f"{file}: line {line}, column {col}: not valid TOML ({reason}). "
            "Fix the syntax at that position; https://toml.io describes the format.",
            file=file,
        )
        self.line = line
        self.col = col


class RegistryError(HyraxError):
    """Base of the errors raised by the plug-in registries."""


class UnknownNameError(RegistryError, KeyError):
    """A name is neither registered nor an importable dotted path."""


class DuplicateNameError(RegistryError, ValueError):
    """Two different objects were registered under one name."""


class PluginImportError(RegistryError, ImportError):
    """A dotted import path names a module or attribute that cannot be imported."""


class ResultsNotFoundError(HyraxError, FileNotFoundError):
    """No complete results directory of the requested kind exists."""


class DataError(HyraxError, ValueError):
    """A dataset cannot be read: a file, a column or an object is missing or invalid."""
