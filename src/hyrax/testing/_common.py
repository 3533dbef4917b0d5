"""What the contract checks share: the error they raise and a few helpers. Imports nothing heavy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hyrax.errors import HyraxError


class ContractError(HyraxError, AssertionError):
    """A plug-in breaks the contract of its base class.

    It is an ``AssertionError``, so pytest reports it as a failed test. The message names the plug-in,
    the check, what was found and what to change.

    Parameters
    ----------
    plugin : str
        The plug-in's class name.
    check : str
        The check that failed, e.g. ``"train_step changes the weights"``.
    found : str
        What the check found.
    fix : str
        What to change in the plug-in.

    Attributes
    ----------
    plugin, check, found, fix : str
        The parameters, for callers that inspect the failure.
    """

    def __init__(self, plugin: str, check: str, found: str, fix: str):
        self.plugin = plugin
        self.check = check
        self.found = found
        self.fix = fix
        super().__init__(f"{plugin} fails the check '{check}': {found.rstrip('.')}. {fix}")


def describe_error(error: BaseException) -> str:
    """``"TypeError: message"``, on one line, for quoting a plug-in's error in a message."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def call(plugin: str, check: str, what: str, fix: str, function: Callable[..., Any], *args: Any) -> Any:
    """Return ``function(*args)``; if it raises, raise :class:`ContractError` quoting the error.

    Parameters
    ----------
    plugin, check : str
        As in :class:`ContractError`.
    what : str
        The call as the message shows it, e.g. ``"MyModel.train_step(batch)"``.
    fix : str
        What to change, for the message.
    function : callable
        The call to make.
    *args
        Its arguments.
    """
    try:
        return function(*args)
    except ContractError:
        raise
    except Exception as error:
        raise ContractError(plugin, check, f"{what} raised {describe_error(error)}", fix) from error


def spread_indices(length: int, count: int) -> list[int]:
    """Up to ``count`` distinct indices spread over ``range(length)``, the first and last included."""
    if length <= count:
        return list(range(length))
    step = (length - 1) / (count - 1)
    return sorted({round(position * step) for position in range(count)})


def shown(values: Any, limit: int = 5) -> str:
    """The first ``limit`` values, comma separated, with how many more there are."""
    values = list(values)
    text = ", ".join(repr(value) for value in values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


def default_config(config: Mapping | None) -> Mapping:
    """``config``, or Hyrax's default configuration (with installed plug-ins' defaults) when None."""
    if config is not None:
        return config
    from hyrax.config import load_config

    return load_config()
