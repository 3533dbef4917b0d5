"""Ranges and choices a configuration key allows, declared in its comment tag beside its default.

A tag lists the key's types first, then its constraints, separated by commas::

    # [>= 1] Number of passes over the train split.
    # [float|int|false, >= 0, float <= 1] Fraction or count of objects.
    # ["quantile"|"zero"|"leave"] What replaces NaN pixels.
    # [list|false, length 2] [height, width] to crop to.

The constraint forms are:

``>= N``, ``> N``, ``<= N``, ``< N``
    A bound on every number the key holds (ints and floats, not bools).
``int >= N``, ``float <= N`` (any comparison)
    A bound on numbers of that type only, e.g. fractions given as floats.
``"a"|"b"|"c"``
    The strings the key allows. ``<int>`` inside a choice stands for any whole number (``"cuda:<int>"``).
``length N``
    The number of items of a list.

A value of a type the constraint does not speak of (``false`` for "not set", a string for a bound)
passes it; type checks are the job of the key's types. One error template serves every key: "The
'train.epochs' key must be an integer >= 1. Got -3 instead."
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

_COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_BOUND = re.compile(r"^(?:(int|float)\s+)?(>=|<=|>|<)\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)$")
_CHOICE = re.compile(r'^"([^"]*)"$')
_LENGTH = re.compile(r"^length\s+(\d+)$")


def _number_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return None


def _format_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


@dataclass(frozen=True)
class Bound:
    """A comparison every number (or every number of one type) must pass, such as ``>= 1``."""

    symbol: str
    limit: float
    only: str | None = None

    def applies_to(self, value: Any) -> bool:
        """True when the bound speaks of ``value``: a number of the bound's type."""
        kind = _number_kind(value)
        return kind is not None and (self.only is None or self.only == kind)

    def allows(self, value: Any) -> bool:
        """True when ``value`` passes the comparison (NaN never does)."""
        return bool(_COMPARISONS[self.symbol](value, self.limit))

    def describe(self) -> str:
        """The bound in words, e.g. ``">= 1"`` or ``"a float <= 1"``."""
        text = f"{self.symbol} {_format_number(self.limit)}"
        if self.only is None:
            return text
        return f"{'an' if self.only == 'int' else 'a'} {self.only} {text}"


@dataclass(frozen=True)
class Choices:
    """The strings a key allows; ``<int>`` in a choice matches any whole number."""

    options: tuple[str, ...]

    def _patterns(self) -> list[re.Pattern]:
        return [re.compile("^" + re.escape(option).replace("<int>", r"\d+") + "$") for option in self.options]

    def applies_to(self, value: Any) -> bool:
        """True for strings."""
        return isinstance(value, str)

    def allows(self, value: Any) -> bool:
        """True when ``value`` is one of the choices."""
        return any(pattern.match(value) for pattern in self._patterns())

    def describe(self) -> str:
        """The choices in words: ``one of "a", "b" or "c"``."""
        quoted = [f'"{option}"' for option in self.options]
        if len(quoted) == 1:
            return quoted[0]
        return "one of " + ", ".join(quoted[:-1]) + " or " + quoted[-1]

    def quoted(self) -> list[str]:
        """Each choice in double quotes."""
        return [f'"{option}"' for option in self.options]


@dataclass(frozen=True)
class Length:
    """The number of items a list must have."""

    items: int

    def applies_to(self, value: Any) -> bool:
        """True for lists."""
        return isinstance(value, list)

    def allows(self, value: Any) -> bool:
        """True when the list has exactly ``items`` items."""
        return len(value) == self.items

    def describe(self) -> str:
        """E.g. ``"a list of 2 items"``."""
        return f"a list of {self.items} items"


Constraint = Bound | Choices | Length


def parse_constraint(text: str) -> Constraint | None:
    """Read one constraint of a tag (``">= 1"``, ``'"a"|"b"'``, ``"length 2"``), or None if it is not one.

    Examples
    --------
    >>> parse_constraint(">= 1")
    Bound(symbol='>=', limit=1.0, only=None)
    >>> parse_constraint('"zero"|"leave"')
    Choices(options=('zero', 'leave'))
    >>> parse_constraint("see below") is None
    True
    """
    text = text.strip()
    bound = _BOUND.match(text)
    if bound:
        return Bound(bound.group(2), float(bound.group(3)), bound.group(1))
    length = _LENGTH.match(text)
    if length:
        return Length(int(length.group(1)))
    options = [_CHOICE.match(part.strip()) for part in text.split("|")]
    if options and all(options):
        return Choices(tuple(match.group(1) for match in options))
    return None


def violated(constraints: tuple[Constraint, ...], value: Any) -> bool:
    """True when ``value`` fails any constraint that applies to it."""
    return any(c.applies_to(value) and not c.allows(value) for c in constraints)


def describe_bounds(bounds: tuple[Bound, ...]) -> str:
    """Bounds in words: ``">= 0 and <= 1"``, with type-only bounds in brackets (``">= 0 (a float <= 1)"``)."""
    general = " and ".join(b.describe() for b in bounds if b.only is None)
    typed = ", ".join(b.describe() for b in bounds if b.only is not None)
    return f"{general} ({typed})" if general and typed else general or typed
