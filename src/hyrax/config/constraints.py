"""Ranges, choices and list lengths a configuration key allows, declared in the tag of its comment.

``# [float|int|false, >= 0, float <= 1] Fraction or count`` bounds every number by ``>= 0`` and floats
by ``<= 1``; ``["a"|"b"]`` lists choices (``<int>`` in one matches any whole number) and ``length 2``
the number of items of a list. docs/configuration.md describes the forms. A value of a type a
constraint does not speak of (``false`` for "not set", a string for a bound) passes it.
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
# In this order: a bool is an int too.
_TYPE_NAMES = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "table"))


def type_name(value: Any) -> str:
    """The type word of ``value`` (``"int"``, ``"table"``, ...), else the name of its type."""
    return next((name for kind, name in _TYPE_NAMES if isinstance(value, kind)), type(value).__name__)


@dataclass(frozen=True)
class Bound:
    """A comparison every number (or every number of one type) must pass, such as ``>= 1``."""

    symbol: str
    limit: float
    only: str | None = None

    def applies_to(self, value: Any) -> bool:
        """True for ints and floats (not bools), or only those of the bound's type."""
        kind = type_name(value)
        return kind in ("int", "float") and self.only in (None, kind)

    def allows(self, value: Any) -> bool:
        """True when ``value`` passes the comparison (NaN never does)."""
        return bool(_COMPARISONS[self.symbol](value, self.limit))

    def describe(self) -> str:
        """The bound in words, e.g. ``">= 1"`` or ``"a float <= 1"``."""
        limit = str(int(self.limit)) if float(self.limit).is_integer() else repr(self.limit)
        text = f"{self.symbol} {limit}"
        if self.only is None:
            return text
        return f"{'an' if self.only == 'int' else 'a'} {self.only} {text}"


@dataclass(frozen=True)
class Choices:
    """The strings a key allows; ``<int>`` in a choice matches any whole number."""

    options: tuple[str, ...]

    def applies_to(self, value: Any) -> bool:
        """True for strings."""
        return isinstance(value, str)

    def allows(self, value: Any) -> bool:
        """True when ``value`` is one of the choices."""
        patterns = [re.escape(option).replace("<int>", r"\d+") for option in self.options]
        return any(re.match(pattern + "$", value) for pattern in patterns)

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


def describe_bounds(bounds: tuple[Bound, ...]) -> str:
    """Bounds in words: ``">= 0 and <= 1"``, with type-only bounds in brackets (``">= 0 (a float <= 1)"``)."""
    general = " and ".join(b.describe() for b in bounds if b.only is None)
    typed = ", ".join(b.describe() for b in bounds if b.only is not None)
    return f"{general} ({typed})" if general and typed else general or typed
