"""``ConfigDict``: a dict that only holds keys a default configuration defines."""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Mapping
from typing import Any

from hyrax.config.constraints import Choices
from hyrax.config.schema import TableSpec
from hyrax.errors import ConfigError, ConfigKeyError, ConfigTypeError, ConfigValueError, did_you_mean

logger = logging.getLogger(__name__)


class ConfigDict(dict):
    """One table of the Hyrax configuration, checked against its defaults.

    Reading or assigning a key that no default configuration defines raises
    :class:`~hyrax.errors.ConfigKeyError` naming the table and the closest valid key; assigning a
    value of a type the key does not accept raises :class:`~hyrax.errors.ConfigTypeError`, and one
    outside the key's declared range or choices :class:`~hyrax.errors.ConfigValueError`. When
    ``general.dev_mode`` is true these become warnings. Tables marked ``[open]`` in the defaults take
    any key.

    Parameters
    ----------
    values : mapping
        The table's values; nested mappings become nested ``ConfigDict`` tables.
    spec : TableSpec
        What the table accepts.
    table_name : str
        Dotted name of the table (``"train"``, ``"optimizer.kwargs"``); empty for the root.
    lenient : callable returning bool, optional
        Tells whether errors should only warn (``general.dev_mode``).

    Examples
    --------
    >>> from hyrax.config import load_config
    >>> config = load_config()
    >>> config["train"]["epochs"] = 3
    >>> config["train"]["epoch"]
    Traceback (most recent call last):
    ...
    hyrax.errors.ConfigKeyError: Config table [train] has no key 'epoch'. Did you mean `epochs`? ...
    """

    def __init__(
        self,
        values: Mapping,
        spec: TableSpec,
        table_name: str = "",
        lenient: Callable[[], bool] | None = None,
    ):
        super().__init__()
        self.spec = spec
        self.table_name = table_name
        self._lenient = lenient or (lambda: False)
        for key, value in values.items():
            self[key] = value

    def _child_name(self, key: str) -> str:
        return f"{self.table_name}.{key}" if self.table_name else key

    def _error(self, error_class: type[ConfigError], key: str, message: str, origin: str) -> ConfigError:
        prefix = f"{origin}: " if origin else ""
        return error_class(prefix + message, file=origin or None, key=self._child_name(key))

    def unknown_key_error(self, key: str, origin: str = "") -> ConfigError:
        """The error for ``key`` not being defined in this table (``origin`` names the file)."""
        valid = ", ".join(self.spec.names()) or "none"
        where = f"Config table [{self.table_name}]" if self.table_name else "The configuration"
        message = (
            f"{where} has no key '{key}'.{did_you_mean(key, self.spec.names())} "
            f"Valid keys: {valid}. A plug-in's keys are known once its package's default_config.toml "
            f'is found: name the plug-in by its import path (name = "package.module.Class"); one '
            f"defined in a notebook or script declares its keys with Hyrax.add_defaults."
        )
        return self._error(ConfigKeyError, key, message, origin)

    def check(self, key: str, value: Any, origin: str = "") -> bool:
        """Check that ``key`` may hold ``value`` here.

        Returns
        -------
        bool
            False when it may not and ``general.dev_mode`` turned the error into a warning.
        """
        name = self._child_name(key)
        spec = self.spec.keys.get(key)
        if key in self.spec.tables:
            if isinstance(value, Mapping):
                return True
            error = self._error(ConfigTypeError, key, f"'{name}' is a table; got {value!r} instead.", origin)
        elif spec is None:
            if self.spec.open:
                return True
            error = self.unknown_key_error(key, origin)
        elif spec.allows(value):
            return True
        else:
            error_class = ConfigTypeError if not spec.accepts(value) else ConfigValueError
            got = f"{value!r} ({type(value).__name__})" if error_class is ConfigTypeError else repr(value)
            choices = [option for c in spec.constraints if isinstance(c, Choices) for option in c.options]
            hint = did_you_mean(value, choices) if isinstance(value, str) else ""
            message = (
                f"The '{name}' key must be {spec.describe_allowed()}. "
                f"Got {got} instead.{hint} Default: {spec.default!r}."
            )
            error = self._error(error_class, key, message, origin)
        if not self._lenient():
            raise error
        logger.warning("%s (general.dev_mode is true, so this is only a warning)", error)
        return False

    def __setitem__(self, key: str, value: Any) -> None:
        self.check(key, value)
        self._assign(key, value)

    def _assign(self, key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            table_spec = self.spec.tables.get(key) or TableSpec(open=True)
            value = ConfigDict(value, table_spec, self._child_name(key), self._lenient)
        super().__setitem__(key, value)

    def __getitem__(self, key: str) -> Any:
        try:
            return super().__getitem__(key)
        except KeyError:
            raise self.unknown_key_error(key) from None

    def update(self, other: Mapping = (), **kwargs: Any) -> None:  # type: ignore[override]
        """Assign each key of ``other`` with the same checks as ``config[key] = value``."""
        for key, value in dict(other, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """Return ``self[key]``, assigning ``default`` first (with checks) when it is absent."""
        if key not in self:
            self[key] = default
        return super().__getitem__(key)

    def add_defaults(self, values: Mapping, spec: TableSpec) -> None:
        """Learn a plug-in's keys: extend the spec and fill in defaults for keys not already set."""
        self.spec.merge(spec)
        for key, value in values.items():
            if isinstance(value, Mapping):
                self.setdefault(key, {}).add_defaults(value, spec.tables.get(key, TableSpec()))
            elif key not in self:
                self[key] = value

    def set_dotted(self, dotted_key: str, value: Any, origin: str = "") -> None:
        """Assign ``value`` to a dotted key such as ``"train.epochs"``.

        Parameters
        ----------
        dotted_key : str
            The key, its tables separated by dots.
        value : object
            The new value, checked like ``config[table][key] = value``.
        origin : str
            Where the value comes from (e.g. ``"--set train.epochs=3"``), named in errors.
        """
        *tables, key = dotted_key.split(".")
        table = functools.reduce(operator.getitem, tables, self)
        if not isinstance(table, ConfigDict):
            raise ConfigTypeError(
                f"{origin + ': ' if origin else ''}'{dotted_key}' does not name a key: "
                f"'{'.'.join(tables)}' is {table!r}, not a table.",
                key=dotted_key,
            )
        table.check(key, value, origin)
        table._assign(key, value)

    def get_dotted(self, dotted_key: str) -> Any:
        """Read a dotted key such as ``"train.epochs"``."""
        return functools.reduce(operator.getitem, dotted_key.split("."), self)

    def to_dict(self) -> dict:
        """A plain nested ``dict`` copy of the table."""
        return {k: v.to_dict() if isinstance(v, ConfigDict) else v for k, v in self.items()}

    def copy(self) -> ConfigDict:  # type: ignore[override]
        """A deep copy, with the same spec."""
        return ConfigDict(self.to_dict(), self.spec, self.table_name, self._lenient)

    def __deepcopy__(self, memo: dict) -> ConfigDict:
        return self.copy()

    def __reduce__(self):
        # The leniency travels as a plain value: the callable that reads general.dev_mode belongs to a
        # ConfigManager, which is not sent to data-loader workers or training processes.
        lenient = functools.partial(bool, self._lenient())
        return (ConfigDict, ({}, self.spec, self.table_name, lenient), dict(self))

    def __setstate__(self, state: dict) -> None:
        # What was checked when it was set is not checked again.
        dict.update(self, state)
