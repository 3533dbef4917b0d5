"""Build the loss, optimizer and learning-rate scheduler that the ``[criterion]``, ``[optimizer]`` and
``[scheduler]`` tables name.

Each table has a ``name``, the dotted import path of a class, and a ``kwargs`` table of keyword
arguments for it. A name that cannot be imported, or keyword arguments the class does not take, are
reported as a :class:`~hyrax.errors.ConfigError` naming the table, the value and the fix.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from hyrax.errors import ConfigError, PluginImportError
from hyrax.registry import import_object

_EXAMPLES = {
    "criterion": "torch.nn.MSELoss",
    "optimizer": "torch.optim.Adam",
    "scheduler": "torch.optim.lr_scheduler.StepLR",
}


def _build(table: Mapping, kind: str, name: Any, *args: Any) -> Any:
    """Import the class ``name`` and instantiate it with ``args`` and the table's ``kwargs``."""
    table_name = getattr(table, "table_name", "") or kind
    key = f"{table_name}.name"
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{key} must be the dotted import path of a class, e.g. {_EXAMPLES[kind]!r}; got {name!r}.",
            key=key,
        )
    if "." not in name:
        raise ConfigError(
            f"{key} = {name!r} in the [{table_name}] table is not a dotted import path; write the module "
            f"too, e.g. {_EXAMPLES[kind]!r}.",
            key=key,
        )
    try:
        cls = import_object(name)
    except PluginImportError as error:
        raise ConfigError(f"{key} = {name!r} in the [{table_name}] table: {error}", key=key) from None
    kwargs = dict(table.get("kwargs") or {})
    try:
        return cls(*args, **kwargs)
    except TypeError as error:
        try:
            accepted = ", ".join(
                name for name in inspect.signature(cls).parameters if name not in ("self", "params")
            )
        except (TypeError, ValueError):
            accepted = "see its documentation"
        given = ", ".join(f"{key} = {value!r}" for key, value in kwargs.items()) or "nothing"
        raise ConfigError(
            f"{name} (from {table_name}.name) does not accept the keyword arguments of "
            f"[{table_name}.kwargs] ({given}): {error}. It accepts: {accepted}.",
            key=f"{table_name}.kwargs",
        ) from None


def build_criterion(table: Mapping, default: str = "torch.nn.MSELoss") -> torch.nn.Module:
    """Instantiate the loss the ``[criterion]`` table names.

    Parameters
    ----------
    table : mapping
        The ``[criterion]`` table: ``name`` (a dotted path, or false for ``default``) and ``kwargs``.
    default : str
        Dotted path used when ``name`` is false; the model's own choice of loss.

    Returns
    -------
    torch.nn.Module
        The loss, called as ``loss(output, target)``.

    Examples
    --------
    >>> from hyrax.models.builders import build_criterion
    >>> build_criterion({"name": "torch.nn.L1Loss", "kwargs": {"reduction": "sum"}})
    L1Loss()
    """
    return _build(table, "criterion", table.get("name") or default)


def build_optimizer(table: Mapping, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Instantiate the optimizer the ``[optimizer]`` table names over ``parameters``.

    Examples
    --------
    >>> import torch
    >>> from hyrax.models.builders import build_optimizer
    >>> optimizer = build_optimizer(
    ...     {"name": "torch.optim.SGD", "kwargs": {"lr": 0.1}}, torch.nn.Linear(2, 1).parameters()
    ... )
    >>> type(optimizer).__name__, optimizer.param_groups[0]["lr"]
    ('SGD', 0.1)
    """
    return _build(table, "optimizer", table.get("name"), list(parameters))


def build_scheduler(table: Mapping, optimizer: torch.optim.Optimizer) -> Any:
    """Instantiate the learning-rate scheduler the ``[scheduler]`` table names, or return None.

    A false ``name`` means a constant learning rate.
    """
    name = table.get("name")
    if name is False or name is None:
        return None
    return _build(table, "scheduler", name, optimizer)
