"""Builds the configuration from its layers (defaults, plug-in defaults, the user's file, runtime changes;
see docs/configuration.md) and writes it back out.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import pickle
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table

from hyrax.config.config_dict import ConfigDict
from hyrax.config.redact import is_secret_key, redact_value
from hyrax.config.schema import TableSpec, spec_from_document, unwrap
from hyrax.errors import ConfigError, ConfigParseError
from hyrax.files import write_text_atomically

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "hyrax_default_config.toml"
PLUGIN_DEFAULT_CONFIG_NAME = "default_config.toml"
RUNTIME_CONFIG_NAME = "runtime_config.toml"


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A configuration file named by the user does not exist."""


def read_toml(path: str | os.PathLike) -> tomlkit.TOMLDocument:
    """Parse a TOML file, turning failures into errors that name the file, line and column.

    Raises
    ------
    ConfigFileNotFoundError
        When the file does not exist.
    ConfigParseError
        When the file is not valid TOML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigFileNotFoundError(
            f"Config file not found: {path}. Check the path (it is read relative to {Path.cwd()}).",
            file=str(path),
        )
    return _parse_toml(path.read_text(encoding="utf-8"), str(path))


def _parse_toml(text: str, origin: str) -> tomlkit.TOMLDocument:
    """``text`` parsed with tomlkit; a syntax error is a ConfigParseError naming ``origin`` and the line."""
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as error:
        reason = re.sub(r"\s+at line \d+ col \d+$", "", str(error))
        raise ConfigParseError(origin, error.line, error.col, reason) from None


# Keys that choose a plug-in: a dotted value there names an external package whose defaults load.
PLUGIN_KEYS = ("name", "method", "service")


def iter_dotted_names(values: Mapping) -> Iterator[str]:
    """Yield every dotted plug-in choice (``name = "a.b.C"``, or ``method``/``service``) in a mapping."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            yield from iter_dotted_names(value)
        elif key in PLUGIN_KEYS and isinstance(value, str) and "." in value:
            yield value


def plugin_default_config_path(dotted_name: str) -> Path | None:
    """The ``default_config.toml`` of the top-level package of ``dotted_name``, if it has one.

    The package is located without importing it.
    """
    package = dotted_name.split(".", 1)[0]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = spec.submodule_search_locations if spec else None
    candidates = (Path(location) / PLUGIN_DEFAULT_CONFIG_NAME for location in locations or [])
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _dev_mode_in(values: Mapping) -> bool:
    """True when ``values`` sets ``general.dev_mode`` to true; a malformed table is left to the checks."""
    general = values.get("general")
    return isinstance(general, Mapping) and general.get("dev_mode") is True


def _merge_documents(target: tomlkit.TOMLDocument | Table, source: Mapping) -> None:
    """Copy ``source``'s tables and keys into ``target``, keeping ``source``'s comments."""
    for key, value in source.items():
        if isinstance(value, Mapping) and key in target and isinstance(target[key], Mapping):
            _merge_documents(target[key], value)
        else:
            target[key] = value


class ConfigManager:
    """Merges the configuration layers into one checked :class:`ConfigDict`.

    Parameters
    ----------
    config_file : path, optional
        The user's TOML file. Relative paths inside it are resolved against its folder.
    runtime_config : mapping, optional
        Nested overrides applied last, as if set with ``config[...] = value``.

    Attributes
    ----------
    config : ConfigDict
        The merged configuration.
    """

    def __init__(self, config_file: str | os.PathLike | None = None, runtime_config: Mapping | None = None):
        self.config_file = Path(config_file).resolve() if config_file else None
        self.defaults = read_toml(DEFAULT_CONFIG_PATH)
        self.spec: TableSpec = spec_from_document(self.defaults)
        self.plugin_config_files: list[Path] = []
        self._rendered: tuple[bytes | None, str] | None = None
        user = read_toml(self.config_file).unwrap() if self.config_file else {}
        runtime = dict(runtime_config or {})

        self.config = ConfigDict({}, self.spec, lenient=self._dev_mode)
        self._dev_mode_hint = _dev_mode_in(runtime) or _dev_mode_in(user)
        self._apply(self.config, self.defaults.unwrap(), origin=str(DEFAULT_CONFIG_PATH), base_dir=Path.cwd())
        plugins = [
            point.value.split(":")[0] for point in importlib.metadata.entry_points(group="hyrax.plugins")
        ]
        named = [*iter_dotted_names(self.config), *iter_dotted_names(user), *iter_dotted_names(runtime)]
        for name in plugins + named:
            self._add_plugin_defaults(name, override=True)
        if self.config_file:
            self._apply(self.config, user, origin=str(self.config_file), base_dir=self.config_file.parent)
        self._apply(self.config, runtime, origin="runtime configuration", base_dir=Path.cwd())
        self._dev_mode_hint = False

    def _dev_mode(self) -> bool:
        return self._dev_mode_hint or _dev_mode_in(self.config)

    def _add_plugin_defaults(self, dotted_name: str, override: bool) -> None:
        path = plugin_default_config_path(dotted_name)
        if path is None or path in self.plugin_config_files:
            return
        self.plugin_config_files.append(path)
        self._merge_plugin_document(read_toml(path), str(path), path.parent, override)

    def add_defaults(self, toml_text: str, origin: str = "defaults added at run time") -> None:
        """Add a plug-in's commented defaults given as TOML text, as :meth:`hyrax.hyrax.Hyrax.add_defaults`
        does; keys already set keep their values. Invalid TOML is a ConfigParseError naming ``origin``.
        """
        self._merge_plugin_document(_parse_toml(toml_text, origin), origin, Path.cwd(), override=False)

    def _merge_plugin_document(self, document: Any, origin: str, base_dir: Path, override: bool) -> None:
        self._rendered = None  # the commented defaults change
        spec = spec_from_document(document)
        _merge_documents(self.defaults, document)
        if override:
            self.config.add_defaults({}, spec)
            self._apply(self.config, document.unwrap(), origin=origin, base_dir=base_dir)
        else:
            self.config.add_defaults(document.unwrap(), spec)

    def refresh_plugins(self) -> None:
        """Learn the keys of plug-ins named in the configuration since it was loaded.

        Their defaults fill in only keys that are not set yet, so runtime changes are kept.
        """
        for name in list(iter_dotted_names(self.config)):
            self._add_plugin_defaults(name, override=False)

    def _apply(self, table: ConfigDict, values: Mapping, origin: str, base_dir: Path) -> None:
        # "general" first, so that a user's dev_mode applies to the checks of every other table.
        for key in sorted(values, key=lambda name: name != "general"):
            value = values[key]
            key_spec = table.spec.keys.get(key)
            if not table.check(key, value, origin):
                dict.__setitem__(table, key, value)
            elif isinstance(value, Mapping) and not table.spec.open:
                self._apply(table.setdefault(key, {}), value, origin, base_dir)
            elif key_spec is not None and key_spec.is_path and isinstance(value, str) and value:
                table[key] = resolve_path(value, base_dir)
            else:
                table[key] = value

    def write_runtime_config(self, directory: str | os.PathLike, header: str = "") -> Path:
        """Write the merged configuration, with the defaults' comments, as ``runtime_config.toml``.

        Secrets are left out (see :mod:`hyrax.config.redact`): a key tagged ``[secret]`` keeps its
        default, a secret-named key of an open table is omitted, and URLs lose their user-info.

        Parameters
        ----------
        directory : path
            Folder to write into.
        header : str
            A comment line to put at the top of the file.

        Returns
        -------
        Path
            The file written.
        """
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        preamble = f"# {header} Written {stamp}.\n".replace("# # ", "# ")
        path = Path(directory) / RUNTIME_CONFIG_NAME
        return write_text_atomically(path, preamble + self._runtime_config_text())

    def _runtime_config_text(self) -> str:
        """The body of ``runtime_config.toml``, rendered again only when the configuration changed.

        tomlkit takes about 10 ms to fill in and render the commented defaults; a notebook runs many
        verbs on one configuration.
        """
        try:
            state = pickle.dumps(self.config.to_dict())
        except (pickle.PicklingError, TypeError, AttributeError):
            state = None
        if state is None or self._rendered is None or self._rendered[0] != state:
            # A pickle round trip copies the commented defaults in a tenth of the time tomlkit takes
            # to parse them again.
            document = pickle.loads(pickle.dumps(self.defaults))
            _fill_document(document, self.config)
            self._rendered = (state, tomlkit.dumps(document))
        return self._rendered[1]


def _fill_document(target: Any, table: ConfigDict) -> None:
    for key, value in table.items():
        if isinstance(value, ConfigDict):
            if key not in target:
                target[key] = tomlkit.table()
            _fill_document(target[key], value)
            continue
        if is_secret_key(table, key):
            continue
        value = redact_value(value)
        if key in target and unwrap(target[key]) == value:
            continue
        target[key] = value


def resolve_path(value: str, base_dir: Path) -> str:
    """Expand ``~`` and make ``value`` absolute relative to ``base_dir``."""
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded) or "://" in expanded:
        return expanded
    return os.path.normpath(os.path.join(base_dir, expanded))


def load_config(config_file: str | os.PathLike | None = None, **runtime_config: Any) -> ConfigDict:
    """Build and return the merged configuration.

    Parameters
    ----------
    config_file : path, optional
        A user configuration file.
    **runtime_config
        Tables of overrides, e.g. ``train={"epochs": 3}``.

    Returns
    -------
    ConfigDict
        The checked configuration.
    """
    return ConfigManager(config_file, runtime_config).config
