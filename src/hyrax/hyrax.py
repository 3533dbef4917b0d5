"""The ``Hyrax`` object: configuration plus every verb as a method, for notebooks and scripts."""

from __future__ import annotations

import functools
import os
from typing import Any

from hyrax.config import ConfigManager
from hyrax.errors import did_you_mean
from hyrax.registry import DATA_SET_REGISTRY, MODEL_REGISTRY, VERB_REGISTRY


class Hyrax:
    """Configuration and verbs in one object.

    Every registered verb is a method: ``h.train()``, ``h.infer()``, ``h.umap()``. The methods carry
    their verb's signature and docstring (``help(h.train)``) and appear in ``dir(h)`` for tab
    completion.

    Parameters
    ----------
    config_file : path, optional
        A user configuration file layered over the defaults.

    Attributes
    ----------
    config : ConfigDict
        The checked configuration; change it before running a verb, e.g.
        ``h.config["train"]["epochs"] = 3``.

    Examples
    --------
    >>> from hyrax import Hyrax
    >>> h = Hyrax()
    >>> h.set_config("train.epochs", 2)
    >>> h.config["train"]["epochs"]
    2
    >>> "train" in dir(h)
    True
    """

    def __init__(self, config_file: str | os.PathLike | None = None):
        self.config_manager = ConfigManager(config_file)
        self.config = self.config_manager.config

    def set_config(self, key: str, value: Any, origin: str = "") -> None:
        """Set a dotted configuration key, e.g. ``h.set_config("train.epochs", 3)``.

        Parameters
        ----------
        key : str
            The dotted key.
        value : object
            Its new value, checked against the key's type, range and choices.
        origin : str
            Where the value comes from, named in errors (the CLI passes ``"--set KEY=VALUE"``).
        """
        self.config.set_dotted(key, value, origin)
        self.config_manager.refresh_plugins()

    def add_defaults(self, toml_text: str) -> None:
        """Add the settings of a plug-in defined in this notebook or script, e.g. a model's table.

        A plug-in in a package ships them in its ``default_config.toml``; here they are given as text
        in the same form, with each key's comment declaring its type and range, so that they are
        checked, written to ``runtime_config.toml`` and logged like Hyrax's own.

        Parameters
        ----------
        toml_text : str
            TOML tables, e.g.::

                [model.TinyNet]
                # [>= 1] Width of the hidden layer.
                hidden = 16
        """
        self.config_manager.add_defaults(toml_text, origin="Hyrax.add_defaults")

    def run_verb(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run verb ``name`` with the current configuration and return its result.

        The verb runs in :func:`~hyrax.process.verb_scope`: its log messages go where ``[general]`` says
        while it runs, and the logging set-up is restored after it.
        """
        from hyrax.process import verb_scope

        verb_class = VERB_REGISTRY.get(name)
        self.config_manager.refresh_plugins()
        with verb_scope(self.config["general"]):
            return verb_class(self.config_manager).run(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in VERB_REGISTRY:
            verb_class = VERB_REGISTRY.get(name)

            @functools.wraps(verb_class.run_function())
            def method(*args: Any, **kwargs: Any) -> Any:
                return self.run_verb(name, *args, **kwargs)

            method.__name__ = name
            method.__doc__ = (
                f"{verb_class.description()}\n\n{verb_class.run_function().__doc__ or ''}".strip()
            )
            method.__signature__ = verb_class.run_signature()  # type: ignore[attr-defined]
            return method
        verbs = VERB_REGISTRY.names()
        raise AttributeError(
            f"'Hyrax' object has no verb or attribute '{name}'.{did_you_mean(name, verbs)} "
            f"Verbs: {', '.join(verbs)}."
        )

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *VERB_REGISTRY.names()})

    @staticmethod
    def list_verbs() -> list[str]:
        """Names of the registered verbs."""
        return VERB_REGISTRY.names()

    @staticmethod
    def list_models() -> list[str]:
        """Names of the registered models."""
        return MODEL_REGISTRY.names()

    @staticmethod
    def list_datasets() -> list[str]:
        """Names of the registered datasets."""
        return DATA_SET_REGISTRY.names()
