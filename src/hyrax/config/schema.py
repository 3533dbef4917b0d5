"""What each configuration key accepts, read from the comments of a default configuration file.

A key accepts the type of its default unless its comment starts with a tag that lists the types and
constraints, e.g. ``# [path|false] Weights to load``; docs/configuration.md describes the tag words
(``str``, ``int``, ``float``, ``bool``, ``list``, ``table``, ``any``, ``path``, ``false``; the flags
``secret`` and ``open``) and the constraints of :mod:`hyrax.config.constraints`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tomlkit.container import Container
from tomlkit.items import Comment, Table, Whitespace

from hyrax.config.constraints import (
    Bound,
    Choices,
    Constraint,
    Length,
    describe_bounds,
    parse_constraint,
    type_name,
)
from hyrax.config.redact import is_secret_name

# A str is a path too, and an int a float.
_WIDER = {"str": "path", "int": "float"}
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "table": "a table",
    "any": "any value",
    "path": "a path",
    "false": "false",
}
VALUE_TYPES = set(_TYPE_WORDS)
FLAGS = {"secret", "open"}
_TAG = re.compile(r"^\s*\[([^\[\]]+)\]\s*")


def _join_or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


@dataclass
class KeySpec:
    """What one key accepts: its default, its type words (see the module docstring), its comment without
    the tag (``description``), whether it is ``secret`` (never written to a runtime configuration file)
    and the ranges, choices and lengths it must meet (``constraints``).
    """

    default: Any
    types: frozenset
    description: str = ""
    secret: bool = False
    constraints: tuple[Constraint, ...] = ()

    @property
    def is_path(self) -> bool:
        """True when the key holds a path."""
        return "path" in self.types

    def accepts(self, value: Any) -> bool:
        """Return True when ``value`` is of a type this key accepts."""
        if "any" in self.types or (value is False and "false" in self.types):
            return True
        kind = type_name(value)
        return kind in self.types or _WIDER.get(kind) in self.types

    def allows(self, value: Any) -> bool:
        """Return True when ``value`` is of an accepted type and within the key's constraints."""
        return self.accepts(value) and not any(
            c.applies_to(value) and not c.allows(value) for c in self.constraints
        )

    def describe_types(self) -> str:
        """Human-readable list of accepted types, e.g. ``"a path or false"``."""
        return _join_or([_TYPE_WORDS[t] for t in sorted(self.types, key=list(_TYPE_WORDS).index)])

    def describe_allowed(self) -> str:
        """The values the key allows in words, e.g. ``"an integer >= 1"`` or ``'one of "a" or "b"'``."""
        if not self.constraints:
            return self.describe_types()
        bounds = tuple(c for c in self.constraints if isinstance(c, Bound))
        choices = [name for c in self.constraints if isinstance(c, Choices) for name in c.quoted()]
        lengths = [c.describe() for c in self.constraints if isinstance(c, Length)]
        names: list[str] = []
        for word in sorted(self.types, key=list(_TYPE_WORDS).index):
            if word in ("str", "path") and choices:
                names += [name for name in choices if name not in names]
            elif word == "list" and lengths:
                names += lengths
            elif word == "float" and bounds:
                names.append(f"a number {describe_bounds(bounds)}")
            elif word == "int" and "float" in self.types:
                continue
            elif word == "int" and bounds:
                names.append(f"an integer {describe_bounds(bounds)}")
            else:
                names.append(_TYPE_WORDS[word])
        text = _join_or(names)
        return f"one of {text}" if choices and len(names) > 1 else text


@dataclass
class TableSpec:
    """What one table accepts: its keys, its sub-tables, and whether it is open to any key."""

    keys: dict[str, KeySpec] = field(default_factory=dict)
    tables: dict[str, TableSpec] = field(default_factory=dict)
    open: bool = False
    description: str = ""

    def names(self) -> list[str]:
        """Every key and sub-table name."""
        return sorted({*self.keys, *self.tables})

    def merge(self, other: TableSpec) -> None:
        """Add (or replace) the keys and tables of ``other``, recursively."""
        self.keys.update(other.keys)
        self.open = self.open or other.open
        self.description = self.description or other.description
        for name, table in other.tables.items():
            self.tables.setdefault(name, TableSpec()).merge(table)


def parse_tag(comment: str) -> tuple[set[str], str]:
    """Split ``"# [path|false] Text"`` into ``({"path", "false"}, "Text")``.

    Constraints in the tag are left out here; :func:`parse_full_tag` returns them too.
    """
    words, _, text = parse_full_tag(comment)
    return words, text


def parse_full_tag(comment: str) -> tuple[set[str], tuple[Constraint, ...], str]:
    """Split ``"# [int, >= 1] Text"`` into its type and flag words, its constraints and its text.

    A bracketed start that is not a valid tag (``"# [height, width] ..."``) is part of the text.
    """
    text = comment.lstrip("#").strip()
    match = _TAG.match(text)
    if not match:
        return set(), (), text
    words: set[str] = set()
    constraints: list[Constraint] = []
    for part in match.group(1).split(","):
        part_words = {word.strip() for word in part.split("|")}
        if part_words and part_words <= VALUE_TYPES | FLAGS:
            words |= part_words
            continue
        constraint = parse_constraint(part)
        if constraint is None:
            return set(), (), text
        constraints.append(constraint)
    return words, tuple(constraints), text[match.end() :].strip()


def key_spec(name: str, default: Any, comment: str) -> KeySpec:
    """Build the :class:`KeySpec` of key ``name`` from its default and comment."""
    words, constraints, description = parse_full_tag(comment)
    types = frozenset(words & VALUE_TYPES or {type_name(default)})
    secret = "secret" in words or (is_secret_name(name) and isinstance(default, str))
    return KeySpec(default, types, description, secret, constraints)


def spec_from_document(container: Container | Table, header_comment: str = "") -> TableSpec:
    """Read the :class:`TableSpec` of a default configuration document (or table), comments included."""
    body = container.value.body if isinstance(container, Table) else container.body
    pending: list[str] = []
    leading: list[str] = []
    seen_key = False
    spec = TableSpec()
    for key, item in body:
        if isinstance(item, Comment):
            pending.append(item.as_string().strip())
            continue
        if isinstance(item, Whitespace) or key is None:
            if not seen_key and pending:
                # Comments a blank line apart from the first key describe the table, not the key.
                leading = pending
            pending = []
            continue
        seen_key = True
        name = key.key
        if isinstance(item, Table):
            spec.tables[name] = spec_from_document(item, item.trivia.comment)
        else:
            comment = item.trivia.comment or _joined(pending)
            spec.keys[name] = key_spec(name, item.unwrap(), comment)
        pending = []
    # Tables tomlkit stores out of order (or as dotted keys) carry no comments we can read.
    spec.merge(_spec_from_plain({k: v for k, v in container.items() if k not in spec.names()}))
    header_words, header_text = parse_tag(header_comment)
    if leading:
        # Without a comment on the header line, the leading comments carry the table's tag too.
        leading_words, leading_text = parse_tag(_joined(leading))
        if header_comment:
            header_text = f"{header_text} {leading_text}".strip()
        else:
            header_words, header_text = leading_words, leading_text
    spec.open = "open" in header_words
    spec.description = header_text
    return spec


def _joined(comments: list[str]) -> str:
    """Comment lines above a key as one comment: ``# first line second line``."""
    return "# " + " ".join(line.lstrip("#").strip() for line in comments) if comments else ""


def unwrap(value: Any) -> Any:
    """A tomlkit item as the plain Python value it holds; other values unchanged."""
    return value.unwrap() if hasattr(value, "unwrap") else value


def _spec_from_plain(values: dict) -> TableSpec:
    spec = TableSpec()
    for name, value in values.items():
        if isinstance(value, dict):
            spec.tables[name] = _spec_from_plain(value)
        else:
            spec.keys[name] = key_spec(name, unwrap(value), "")
    return spec
