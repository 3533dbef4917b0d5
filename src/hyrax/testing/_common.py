"""What the contract checks share: the error they raise and the means to raise it. Imports nothing heavy."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
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


def shown(values: Any, limit: int = 5) -> str:
    """The first ``limit`` values, comma separated, with how many more there are."""
    values = list(values)
    text = ", ".join(repr(value) for value in values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


@contextmanager
def generators_restored() -> Iterator[None]:
    """Restore the global random generators on exit, so a check does not disturb the tests around it."""
    from hyrax.training.seeding import RNGState

    saved = RNGState().state_dict()
    try:
        yield
    finally:
        RNGState().load_state_dict(saved)


class PluginChecks:
    """The checks of one plug-in class, raising :class:`ContractError` under the class's name."""

    def __init__(self, cls: Any):
        self.cls = cls
        self.name = getattr(cls, "__name__", repr(cls))

    def fail(self, check: str, found: str, fix: str) -> ContractError:
        return ContractError(self.name, check, found, fix)

    def check_subclass(self, base: type, fix: str) -> None:
        if not (inspect.isclass(self.cls) and issubclass(self.cls, base)):
            raise self.fail(
                f"subclasses {base.__name__}",
                f"{self.cls!r} is not a subclass of {base.__module__}.{base.__qualname__}",
                fix,
            )

    @contextmanager
    def errors_fail(self, check: str, call: str, fix: str = "") -> Iterator[None]:
        """Turn an error raised inside into a failure of ``check``, saying ``call`` raised it."""
        try:
            yield
        except ContractError:
            raise
        except Exception as error:
            raise self.fail(check, f"{call} raised {describe_error(error)}", fix) from error
