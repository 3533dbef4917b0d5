"""``Verb``: the base class of every Hyrax verb, and the ``@hyrax_verb`` decorator.

A plug-in author reads only this file to add a verb.

Writing a verb
--------------
Subclass :class:`Verb`, decorate it with ``@hyrax_verb("name")`` and implement :meth:`Verb.run`. The
keyword parameters of ``run`` become the verb's command-line options (``--param-name``; a bool
default gives a ``--flag``/``--no-flag`` pair), and the numpydoc ``Parameters`` section of its docstring
becomes their help text, so most verbs write no argument parsing at all. The first line of the class
docstring is the one-line help of ``hyrax --help``. Keep the module light: import torch and other
heavy libraries inside ``run``, so ``hyrax --help`` and ``import hyrax`` stay fast.

Inside ``run``, ``self.config`` is the checked configuration. Write results with::

    with self.results_directory() as results_dir:
        ...  # write files into results_dir

which creates ``<results_dir>/YYYYMMDD-HHMMSS-<verb>-<uid>/``, writes ``runtime_config.toml`` there,
and marks the directory complete only if the block finishes without an exception. A run that stops on
bad input (a :class:`~hyrax.errors.HyraxError`) before writing anything leaves no directory. After a
run that finished, one closing line names the directory and the class attribute ``next_step``: what a
user usually runs next.

A plain function can be a verb too: ``@hyrax_verb("name")`` on ``def name(config, **options)``.

Examples
--------
>>> from hyrax.verbs.base import Verb, hyrax_verb
>>> @hyrax_verb("count_keys", force=True)
... class CountKeys(Verb):
...     '''Count the keys of one configuration table.'''
...     def run(self, table: str = "general") -> int:
...         '''Count keys.
...
...         Parameters
...         ----------
...         table : str
...             Name of the table to count.
...         '''
...         return len(self.config[table])
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import logging
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from hyrax.registry import VERB_REGISTRY

logger = logging.getLogger(__name__)


def parameter_docs(func: Callable) -> dict[str, str]:
    """Map each parameter documented in ``func``'s numpydoc ``Parameters`` section to its text."""
    doc = inspect.getdoc(func) or ""
    section = re.search(r"Parameters\n-+\n(.*?)(?:\n\s*\n[A-Z][a-z]+\n-+\n|\Z)", doc, re.S)
    if not section:
        return {}
    docs: dict[str, str] = {}
    current = None
    for line in section.group(1).splitlines():
        header = re.match(r"^(\w+)\s*(?::.*)?$", line)
        if header and not line.startswith(" "):
            current = header.group(1)
            docs[current] = ""
        elif current and line.strip():
            docs[current] = (docs[current] + " " + line.strip()).strip()
    return docs


def add_options_from_signature(parser: argparse.ArgumentParser, func: Callable) -> None:
    """Add one ``--option`` per keyword parameter of ``func``, typed by its default."""
    docs = parameter_docs(func)
    for name, parameter in inspect.signature(func).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        flag = "--" + name.replace("_", "-")
        help_text = docs.get(name, "").replace("``", "")
        default = parameter.default
        if isinstance(default, bool):
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
            continue
        kind = type(default) if isinstance(default, (int, float)) else str
        suffix = f" (default: {default})" if default not in (None, inspect.Parameter.empty) else ""
        parser.add_argument(flag, dest=name, type=kind, default=None, help=help_text + suffix)


class Verb(ABC):
    """Base class of Hyrax verbs; see the module docstring for how to write one.

    Parameters
    ----------
    config_manager : ConfigManager
        Holds the configuration (``self.config``) and writes ``runtime_config.toml``.

    Attributes
    ----------
    cli_name : str
        The verb's name, set by ``@hyrax_verb``.
    add_parser_kwargs : dict
        Extra keyword arguments for the verb's ``argparse`` sub-parser (e.g. ``epilog``).
    next_step : str
        What a user usually runs next, e.g. ``"`hyrax infer` (a latent vector per object)"``; the
        closing line of a run that wrote a results directory names it.
    """

    cli_name: ClassVar[str] = ""
    add_parser_kwargs: ClassVar[dict] = {}
    next_step: ClassVar[str] = ""

    def __init__(self, config_manager: Any):
        self.config_manager = config_manager
        self.config = config_manager.config

    @classmethod
    def description(cls) -> str:
        """One line of help: the first line of the class docstring."""
        return (inspect.getdoc(cls) or "").split("\n", 1)[0]

    @classmethod
    def run_function(cls) -> Callable:
        """The function whose signature and docstring describe the verb's options."""
        return cls.run

    @classmethod
    def run_signature(cls) -> inspect.Signature:
        """Signature of ``run`` without ``self``, as shown by ``help(h.<verb>)``."""
        signature = inspect.signature(cls.run_function())
        return signature.replace(parameters=[p for n, p in signature.parameters.items() if n != "self"])

    @classmethod
    def setup_parser(cls, parser: argparse.ArgumentParser) -> None:
        """Add the verb's command-line options; by default one per keyword parameter of ``run``."""
        add_options_from_signature(parser, cls.run_function())

    def run_cli(self, args: argparse.Namespace) -> Any:
        """Run from parsed command-line arguments: options that were given become ``run`` keywords."""
        names = self.run_signature().parameters
        options = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
        return self.run(**options)

    @abstractmethod
    def run(self, **options: Any) -> Any:
        """Do the verb's work and return a useful Python object."""

    @contextlib.contextmanager
    def results_directory(self) -> Iterator[Path]:
        """Create this run's results directory; mark it complete only if the block succeeds.

        Yields
        ------
        Path
            The new directory, already holding ``runtime_config.toml``.
        """
        from hyrax.results import create_results_dir, mark_complete

        directory = create_results_dir(self.config["general"]["results_dir"], self.cli_name)
        self.config_manager.write_runtime_config(
            directory,
            header=f"Configuration of `hyrax {self.cli_name}` run {directory.name}; repeat it with "
            f"`hyrax {self.cli_name} -c runtime_config.toml`.",
        )
        logger.info("Writing results to %s", directory)
        try:
            yield directory
        except BaseException as error:
            if not self.config["results"]["keep_failed"] or _failed_on_input(directory, error):
                shutil.rmtree(directory, ignore_errors=True)
            else:
                logger.warning("The %s run did not finish; %s is left incomplete.", self.cli_name, directory)
            raise
        mark_complete(directory)
        then = f" Next, usually: {self.next_step}." if self.next_step else ""
        logger.info("hyrax %s finished; results in %s.%s", self.cli_name, directory, then)


def _failed_on_input(directory: Path, error: BaseException) -> bool:
    """True when a run stopped on bad input (a Hyrax error) before writing any result worth keeping."""
    from hyrax.config import RUNTIME_CONFIG_NAME
    from hyrax.errors import HyraxError
    from hyrax.results import RUN_INFO_NAME

    written = {path.name for path in directory.iterdir()}
    return isinstance(error, HyraxError) and written <= {RUN_INFO_NAME, RUNTIME_CONFIG_NAME}


class FunctionVerb(Verb):
    """A verb made from a plain function ``f(config, **options)`` by ``@hyrax_verb``."""

    function: ClassVar[Callable[..., Any]]

    @classmethod
    def run_function(cls) -> Callable:
        """The wrapped function, without its ``config`` parameter."""
        proxy = functools.partial(cls.function, None)
        proxy.__doc__ = cls.function.__doc__
        return proxy

    def run(self, **options: Any) -> Any:
        """Call the function with the configuration and ``options``."""
        return type(self).function(self.config, **options)


def hyrax_verb(name: str, *, force: bool = False) -> Callable:
    """Register a :class:`Verb` subclass, or a function ``f(config, **options)``, as verb ``name``.

    Parameters
    ----------
    name : str
        The verb's name on the command line and as a ``Hyrax`` method.
    force : bool
        Replace a different verb already registered under ``name``.

    Returns
    -------
    callable
        A decorator that returns its argument unchanged.
    """

    def decorate(obj: Any) -> Any:
        if inspect.isclass(obj):
            if not issubclass(obj, Verb):
                raise TypeError(
                    f"@hyrax_verb({name!r}) decorates {obj.__qualname__}, which must subclass Verb."
                )
            if inspect.isabstract(obj):
                raise TypeError(f"Verb class {obj.__qualname__} must implement run().")
            obj.cli_name = name
            verb_class = obj
        elif callable(obj):
            verb_class = type(
                obj.__name__, (FunctionVerb,), {"function": staticmethod(obj), "cli_name": name}
            )
            verb_class.__doc__ = inspect.getdoc(obj) or ""
            verb_class.__module__ = obj.__module__
        else:
            raise TypeError(
                f"@hyrax_verb({name!r}) decorates {obj!r}, which is neither a class nor a function."
            )
        VERB_REGISTRY.register(name, verb_class, force=force)
        return obj

    return decorate
