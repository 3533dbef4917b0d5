"""One registry class for every kind of Hyrax plug-in: verbs, models and datasets.

A :class:`Registry` maps short names to classes. Built-in plug-ins live in one package per kind
(``hyrax.verbs``, ``hyrax.models``, ``hyrax.datasets``) and register themselves when their module is
imported; the registry imports those modules the first time it is asked for a name, so nothing heavy
is imported before it is needed. External packages announce themselves through the ``hyrax.plugins``
entry-point group, and any class can also be named by its dotted import path
(``"mypackage.models.MyModel"``), which is what notebooks usually do.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from hyrax.errors import DuplicateNameError, PluginImportError, UnknownNameError, did_you_mean

logger = logging.getLogger(__name__)

PLUGIN_ENTRY_POINT_GROUP = "hyrax.plugins"

_plugins_loaded = False


def qualified_name(obj: Any) -> str:
    """Return ``module.QualName`` for a class or function."""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def load_plugins() -> None:
    """Import every module announced in the ``hyrax.plugins`` entry-point group, once.

    A plug-in that fails to import is reported with a logged warning and skipped, so a broken third-party
    package never breaks Hyrax itself.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=PLUGIN_ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception as error:
            logger.warning(
                "Hyrax plug-in '%s' (%s) failed to load and is skipped: %s: %s. Fix or uninstall the "
                "package that provides it.",
                entry_point.name,
                entry_point.value,
                type(error).__name__,
                error,
            )


def import_object(dotted_path: str) -> Any:
    """Import and return the object named by ``"package.module.Name"``.

    Parameters
    ----------
    dotted_path : str
        A module path followed by an attribute name.

    Returns
    -------
    object
        The attribute.

    Raises
    ------
    PluginImportError
        Saying whether the module was not found, failed while importing, or lacks the attribute; in the
        last case the classes the module does define are listed.
    """
    module_name, _, attribute = dotted_path.rpartition(".")
    if not module_name or not attribute:
        raise PluginImportError(
            f"'{dotted_path}' is not a dotted import path; write it as 'package.module.ClassName'."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            raise PluginImportError(
                f"Cannot load '{dotted_path}': module '{module_name}' was not found. Check the spelling, "
                f"and that the package providing it is installed in this environment."
            ) from error
        raise PluginImportError(
            f"Cannot load '{dotted_path}': importing module '{module_name}' failed because it needs "
            f"'{error.name}', which is not installed."
        ) from error
    except Exception as error:
        raise PluginImportError(
            f"Cannot load '{dotted_path}': importing module '{module_name}' raised "
            f"{type(error).__name__}: {error}"
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        classes = sorted(
            name
            for name, value in vars(module).items()
            if inspect.isclass(value) and not name.startswith("_")
        )
        listing = ", ".join(classes) if classes else "none"
        raise PluginImportError(
            f"Cannot load '{dotted_path}': module '{module_name}' has no attribute '{attribute}'."
            f"{did_you_mean(attribute, classes)} Classes in that module: {listing}."
        ) from None


def _import_builtin(module_name: str, kind: str) -> Any:
    """Import a module of built-in plug-ins, or raise PluginImportError naming it and its error."""
    try:
        return importlib.import_module(module_name)
    except Exception as error:
        missing = error.name if isinstance(error, ModuleNotFoundError) else None
        if missing and missing.partition(".")[0] != module_name.partition(".")[0]:
            fix = f"Install the package that provides '{missing}' in this environment"
        else:
            fix = "Reinstall Hyrax, or fix the module if you are editing Hyrax"
        raise PluginImportError(
            f"The built-in {kind} module '{module_name}' failed to import ({type(error).__name__}: "
            f"{error}), so no {kind} can be looked up. {fix}."
        ) from error


class Registry(Mapping):
    """Names → plug-in classes for one kind of plug-in.

    Parameters
    ----------
    kind : str
        What is registered, singular (``"model"``); used in messages.
    builtin_package : str, optional
        Package whose modules hold the built-in plug-ins. They are imported on first lookup.

    Examples
    --------
    >>> from hyrax.registry import Registry
    >>> shapes = Registry("shape")
    >>> class Circle:
    ...     pass
    >>> shapes.register("Circle", Circle)
    >>> shapes.get("Circle") is Circle
    True
    >>> sorted(shapes)
    ['Circle']
    """

    def __init__(self, kind: str, builtin_package: str | None = None):
        self.kind = kind
        self.builtin_package = builtin_package
        self._entries: dict[str, Any] = {}
        self._builtins_loaded = builtin_package is None
        self._loading = False
        self._load_lock = threading.RLock()

    def register(self, name: str, obj: Any, *, force: bool = False) -> None:
        """Register ``obj`` under ``name``.

        Re-registering the same class (for example when a notebook re-runs a cell or a module is
        reloaded) replaces the old entry quietly; a different class under a taken name is an error.

        Parameters
        ----------
        name : str
            The short name users write in configuration files.
        obj : object
            The class (or callable) to register.
        force : bool
            Replace an existing, different entry instead of raising.

        Raises
        ------
        DuplicateNameError
            When ``name`` already belongs to a different class and ``force`` is false.
        """
        existing = self._entries.get(name)
        if existing is not None and not force and qualified_name(existing) != qualified_name(obj):
            raise DuplicateNameError(
                f"Cannot register {self.kind} '{name}' as {qualified_name(obj)}: that name already belongs "
                f"to {qualified_name(existing)}. Give one of them a different name."
            )
        self._entries[name] = obj

    def unregister(self, name: str) -> None:
        """Remove ``name``; raises UnknownNameError if it is not registered."""
        if name not in self._entries:
            raise UnknownNameError(f"No {self.kind} named '{name}' is registered.")
        del self._entries[name]

    def load_builtins(self) -> None:
        """Import the built-in plug-in modules and the external plug-ins, once.

        The registry counts as loaded only after every built-in module imported, so a module that
        fails raises its error again on each later lookup instead of leaving a registry that silently
        lacks that module's names.

        Raises
        ------
        PluginImportError
            Naming the built-in module that failed to import, with the original error as its cause.
        """
        if self._builtins_loaded:
            return
        # Other threads wait for the import to finish; the importing thread itself re-enters when a
        # built-in module looks a name up while it is imported, and then sees the names registered so far.
        with self._load_lock:
            if self._builtins_loaded or self._loading:
                return
            self._loading = True
            try:
                package = _import_builtin(str(self.builtin_package), self.kind)
                for module_info in pkgutil.iter_modules(package.__path__):
                    if not module_info.name.startswith("_"):
                        _import_builtin(f"{self.builtin_package}.{module_info.name}", self.kind)
                load_plugins()
                self._builtins_loaded = True
            finally:
                self._loading = False

    def get(self, name: str) -> Any:  # type: ignore[override]
        """Return the plug-in registered as ``name``, or import it when ``name`` is a dotted path.

        Raises
        ------
        UnknownNameError
            Listing the registered names and the closest one.
        PluginImportError
            When a dotted path cannot be imported, or a built-in module fails to import.
        """
        if name not in self._entries:
            self.load_builtins()
        if name in self._entries:
            return self._entries[name]
        if "." in name:
            return import_object(name)
        names = ", ".join(sorted(self._entries)) or "none"
        raise UnknownNameError(
            f"No {self.kind} named '{name}'.{did_you_mean(name, self._entries)} Registered {self.kind}s: "
            f"{names}. A class outside Hyrax can be named by its import path, "
            f"e.g. 'mypackage.module.ClassName'."
        )

    def names(self) -> list[str]:
        """Sorted registered names, built-ins and plug-ins included."""
        self.load_builtins()
        return sorted(self._entries)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self.load_builtins()
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} registered)"


def register_subclass(cls: type, registry: Registry) -> bool:
    """Register ``cls`` from a base class's ``__init_subclass__``, following its ``registry_name``.

    ``registry_name`` is a class attribute: ``""`` (the default, also when a subclass does not set it)
    registers the class under its own name, another string under that name, and ``None`` (or a class
    name starting with ``_``) keeps the class out of the registry.

    Returns
    -------
    bool
        Whether the class was registered.
    """
    if "registry_name" not in cls.__dict__:
        cls.registry_name = ""
    if cls.registry_name is None or cls.__name__.startswith("_"):
        return False
    registry.register(cls.registry_name or cls.__name__, cls)
    return True


def get_or_load_class(config_table: Mapping, registry: Registry) -> Any:
    """Return the class named by ``config_table["name"]``: a registered name or a dotted path.

    Parameters
    ----------
    config_table : mapping
        A configuration table with a ``name`` key, such as ``config["model"]``.
    registry : Registry
        Where short names are looked up.

    Returns
    -------
    type
        The class.
    """
    name = config_table.get("name")
    if not name:
        table = getattr(config_table, "table_name", "") or registry.kind
        raise UnknownNameError(
            f"No {registry.kind} is chosen: set `name` in the [{table}] table to one of "
            f"{', '.join(registry.names())}, or to a dotted import path."
        )
    return registry.get(str(name))


VERB_REGISTRY = Registry("verb", "hyrax.verbs")
MODEL_REGISTRY = Registry("model", "hyrax.models")
DATA_SET_REGISTRY = Registry("dataset", "hyrax.datasets")
VECTOR_DB_REGISTRY = Registry("vector database", "hyrax.vector_dbs")
OUTLIER_REGISTRY = Registry("outlier method", "hyrax.outliers")
DOWNLOAD_SERVICE_REGISTRY = Registry("download service", "hyrax.download.services")
