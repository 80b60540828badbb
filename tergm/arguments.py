"""Checks of the public API's arguments, with one message form for all of them:
"R must be a positive integer, got 'abc'", "seed must be a non-negative integer, got -1".

The entry points (tergm.btergm, ergm, fit_design, simulation.simulate, gof, mcmle.mcmle) call these
before any work starts, so a bad argument is reported in the API's own terms instead of numpy's
("expected non-negative integer") or Python's ("'<' not supported between instances of 'str' and 'int'").
"""

from __future__ import annotations

import numpy as np

_KINDS = {0: "a non-negative integer", 1: "a positive integer"}


def check_integer(name: str, value, *, minimum: int = 0, error: type[Exception] = ValueError) -> int:
    """`value` as an int, or `error` naming the argument: an integer (a bool or a float such as 100.0
    is not one) that is at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = _KINDS.get(minimum, f"an integer >= {minimum}")
        raise error(f"{name} must be {kind}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices, *, error: type[Exception] = ValueError):
    """`value` if it is one of `choices`, else `error` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise error(f"{name} must be {' or '.join(repr(c) for c in choices)}, got {value!r}")
    return value
