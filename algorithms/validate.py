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


def integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (numpy ints too; not a bool) within [minimum, maximum]."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            allowed = f"an int in {minimum}..{maximum}"
        elif minimum is not None:
            allowed = f"an int >= {minimum}"
        elif maximum is not None:
            allowed = f"an int <= {maximum}"
        else:
            allowed = "an int"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
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
        if low is not None and high is not None:
            allowed = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        elif low is not None:
            allowed = f"{'>' if low_open else '>='} {low:g}"
        elif high is not None:
            allowed = f"<= {high:g}"
        else:
            allowed = ""
        raise ValueError(f"{name} must be a finite number{' ' + allowed if allowed else ''}, got {value!r}")
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
