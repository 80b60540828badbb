"""One way to check a TOML table against a declarative schema, shared by every spec dyadflow reads:
the dataset spec (storage/spec.py), the run spec (flows/spec.py) and the cluster table (cluster/).

A schema maps each known key to a `Key` (the types it accepts, whether it is required, its default).
`check_table` refuses unknown keys naming the table and the closest known key ("unknown key 'edn' in
[network]; did you mean 'end'?"), missing required keys, and values of the wrong type naming the key and
the expected type; it returns the table with defaults filled in. Value rules beyond the type (ranges,
choices, cross-key rules) stay with the spec that owns them.

Lives in storage/ because storage is the lowest layer: flows/ and cluster/ may import it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a table",
}


@dataclass(frozen=True)
class Key:
    """One known key of a table: the Python types its value may have (as tomllib parses TOML)."""

    types: tuple[type, ...] = (object,)
    required: bool = False
    default: Any = None
    expected: str | None = None  # how the message describes the expected value; default from `types`

    def describe(self) -> str:
        if self.expected:
            return self.expected
        names = [_TYPE_NAMES.get(t, t.__name__) for t in self.types if t is not object]
        return " or ".join(names) if names else "a value"

    def accepts(self, value: Any) -> bool:
        if object in self.types:
            return True
        if isinstance(value, bool):  # TOML true/false is not a number
            return bool in self.types
        if isinstance(value, int) and float in self.types:
            return True
        return isinstance(value, self.types)


def closest(key: str, known: Iterable[str]) -> str | None:
    """The known key a misspelt `key` most likely meant, or None."""
    matches = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    if not matches:  # case slips ("r" for "R") are not caught by the ratio on one-letter keys
        matches = [k for k in sorted(known) if k.lower() == key.lower()]
    return matches[0] if matches else None


def unknown_key_message(key: str, known: Iterable[str], where: str) -> str:
    known = sorted(known)
    guess = closest(key, known)
    hint = f"did you mean {guess!r}?" if guess else f"known keys are {known}"
    return f"unknown key {key!r} in {where}; {hint}"


def check_keys(table: Mapping, known: Iterable[str], where: str, error: type[Exception], prefix: str = "") -> None:
    """Refuse any key of `table` that is not in `known`; `where` names the table ("[network]")."""
    known = list(known)
    for key in table:
        if key not in known:
            raise error(prefix + unknown_key_message(str(key), known, where))


def check_table(
    table: Any,
    schema: Mapping[str, Key],
    where: str,
    error: type[Exception],
    prefix: str = "",
) -> dict:
    """`table` checked against `schema`: known keys only, required keys present, types right.

    Returns a new dict holding every schema key (defaults filled in). `prefix` starts every message
    (e.g. "dataset spec data/ds.toml: "); `error` is the spec's own exception type.
    """
    if not isinstance(table, Mapping):
        raise error(f"{prefix}{where} must be a table, got {type(table).__name__} {table!r}")
    check_keys(table, schema, where, error, prefix)
    out = {}
    for key, rule in schema.items():
        if key not in table:
            if rule.required:
                raise error(f"{prefix}{where} {key} is required ({rule.describe()})")
            out[key] = rule.default
            continue
        value = table[key]
        if not rule.accepts(value):
            raise error(f"{prefix}{where} {key} = {value!r}: expected {rule.describe()}, got {type(value).__name__}")
        out[key] = value
    return out


__all__ = ["Key", "check_keys", "check_table", "closest", "unknown_key_message"]
