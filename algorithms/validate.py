"""Checks of user input at the API edge, one home for every configuration and function.

Each check returns the value in its plain Python type or raises ValueError naming the value and
what is allowed, so a bad setting fails in Python before anything compiles:

    integer("num_envs", 0, minimum=1)     # ValueError: num_envs must be an int >= 1, got 0
    number("gamma", 1.5, low=0, high=1)   # ValueError: gamma must be a finite number in [0, 1], got 1.5
    choice("critic", "x", ("mappo", "ippo"))
"""

from __future__ import annotations

import difflib
import math
from typing import Sequence

import numpy as np


def _range(low, high, low_open: bool = False, fmt=str) -> str:
    """" in [low, high]", " >= low", " <= high" or "": the allowed range, for an error message."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{fmt(low)}, {fmt(high)}]"
    if low is not None:
        return f" {'>' if low_open else '>='} {fmt(low)}"
    return "" if high is None else f" <= {fmt(high)}"


def integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (numpy ints too; not a bool) in [minimum, maximum]."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        raise ValueError(f"{name} must be an int{_range(minimum, maximum)}, got {value!r}")
    return int(value)


def number(name: str, value, *, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> float:
    """A finite real number (not a bool) in [low, high], or (low, high] with `low_open`."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    ok = ok and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        allowed = _range(low, high, low_open, fmt=lambda v: f"{v:g}")
        raise ValueError(f"{name} must be a finite number{allowed}, got {value!r}")
    return float(value)


def positive(name: str, value, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (>= 0 with `allow_zero`)."""
    return number(name, value, low=0.0, low_open=not allow_zero)


def fraction(name: str, value) -> float:
    """A finite number in [0, 1]."""
    return number(name, value, low=0.0, high=1.0)


def choice(name: str, value, allowed: Sequence[str]) -> str:
    """One of `allowed`; the error lists them and the close matches."""
    if value not in allowed:
        close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}{hint}")
    return value


def index(name: str, value, size: int, what: str = "an index") -> int:
    """An int in [0, size); `what` names it in the error ("a policy index")."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise ValueError(f"{name} must be {what} in [0, {size}), got {value!r}")
    return int(value)
