"""Reading the settings of the built-in datasets."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

from hyrax.errors import ConfigError, did_you_mean


def check_number(
    value: Any, key: str, low: float, high: float | None = None, *, integer=False, above=False, example=None
):
    """Return ``value`` if it is a number (an integer if ``integer``; numpy's count) >= ``low`` (> when
    ``above``) and <= ``high``; otherwise raise ConfigError naming ``key`` (and ``example``, if given)."""
    kind = numbers.Integral if integer else numbers.Real
    number = not isinstance(value, bool) and isinstance(value, kind)
    if not (number and (value > low if above else value >= low) and (high is None or value <= high)):
        bound = f"{'>' if above else '>='} {low}" if high is None else f"from {low} to {high}"
        noun = "an integer" if integer else "a number"
        suggestion = f", e.g. {example}" if example is not None else ""
        raise ConfigError(f"{key} must be {noun} {bound}{suggestion}; got {value!r}.", key=key)
    return value


def config_or_defaults(config: Any) -> Any:
    """Return ``config``, or the default configuration when it is None."""
    if config is None:
        from hyrax.config import load_config

        config = load_config()
    return config


def positive_ints(value: Any, length: int | None = None) -> bool:
    """True for a non-empty list of positive integers, of ``length`` items when that is given."""
    sized = isinstance(value, Sequence) and len(value) > 0 and length in (None, len(value))
    return sized and all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in value)


def check_choice(value: Any, key: str, choices: Iterable[str]) -> Any:
    """Return ``value`` if it is one of ``choices``; otherwise raise ConfigError naming ``key``."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(
            f"{key} must be one of {', '.join(map(repr, choices))}; got {value!r}."
            f"{did_you_mean(str(value), choices)}",
            key=key,
        )
    return value
