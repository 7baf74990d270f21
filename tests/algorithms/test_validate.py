"""`algorithms.validate`: every check gives accepted values back in their plain Python type, refuses
bools where numbers are asked, and names the value and what is allowed when it refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms import validate


# ----------------------------------------------------------------------------- integer
@pytest.mark.parametrize("value", [3, np.int32(3), np.int64(3), np.uint8(3)])
def test_integer_accepts_python_and_numpy_ints_as_int(value):
    out = validate.integer("n", value, minimum=1, maximum=5)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_integer_refuses_bools(value):
    with pytest.raises(ValueError, match=rf"n must be an int, got {value!r}"):
        validate.integer("n", value)


@pytest.mark.parametrize("value", [3.0, "3", None, 2.5])
def test_integer_refuses_non_ints(value):
    with pytest.raises(ValueError, match=r"n must be an int >= 1, got "):
        validate.integer("n", value, minimum=1)


@pytest.mark.parametrize("kwargs, value, message", [
    (dict(minimum=1), 0, "num_envs must be an int >= 1, got 0"),
    (dict(maximum=4), 5, "num_envs must be an int <= 4, got 5"),
    (dict(minimum=2, maximum=4), 1, "num_envs must be an int in [2, 4], got 1"),
    (dict(minimum=2, maximum=4), 5, "num_envs must be an int in [2, 4], got 5"),
    (dict(), "x", "num_envs must be an int, got 'x'"),
])
def test_integer_message_names_the_value_and_the_range(kwargs, value, message):
    with pytest.raises(ValueError) as error:
        validate.integer("num_envs", value, **kwargs)
    assert str(error.value) == message


def test_integer_bounds_are_inclusive():
    assert validate.integer("n", 2, minimum=2, maximum=2) == 2


# ----------------------------------------------------------------------------- number, positive, fraction
@pytest.mark.parametrize("value", [1, 0.5, np.float32(0.5), np.float64(0.25), np.int64(1)])
def test_number_accepts_reals_as_float(value):
    out = validate.number("x", value, low=0.0, high=1.0)
    assert out == pytest.approx(float(value)) and type(out) is float


@pytest.mark.parametrize("value", [True, np.bool_(False)])
def test_number_refuses_bools(value):
    with pytest.raises(ValueError, match=rf"x must be a finite number, got {value!r}"):
        validate.number("x", value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan"), "0.5", None])
def test_number_refuses_non_finite_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"x must be a finite number in \[0, 1\], got "):
        validate.number("x", value, low=0.0, high=1.0)


@pytest.mark.parametrize("kwargs, value, message", [
    (dict(low=0.0, high=1.0), 1.5, "gamma must be a finite number in [0, 1], got 1.5"),
    (dict(low=0.0, high=1.0, low_open=True), 0.0, "gamma must be a finite number in (0, 1], got 0.0"),
    (dict(low=0.5), 0.25, "gamma must be a finite number >= 0.5, got 0.25"),
    (dict(low=0.5, low_open=True), 0.5, "gamma must be a finite number > 0.5, got 0.5"),
    (dict(high=2.0), 3.0, "gamma must be a finite number <= 2, got 3.0"),
])
def test_number_message_names_the_value_and_the_range(kwargs, value, message):
    with pytest.raises(ValueError) as error:
        validate.number("gamma", value, **kwargs)
    assert str(error.value) == message


def test_number_bounds():
    assert validate.number("x", 0.0, low=0.0, high=1.0) == 0.0  # closed at low
    assert validate.number("x", 1.0, low=0.0, high=1.0, low_open=True) == 1.0  # high is always closed
    assert validate.number("x", -1e300) == -1e300  # no bounds: any finite number


def test_positive_and_fraction():
    assert validate.positive("lr", 3e-4) == 3e-4
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got 0$"):
        validate.positive("lr", 0)
    assert validate.positive("lr", 0, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match=r"^lr must be a finite number >= 0, got -1$"):
        validate.positive("lr", -1, allow_zero=True)
    assert validate.fraction("p", 1) == 1.0 and type(validate.fraction("p", 1)) is float
    with pytest.raises(ValueError, match=r"^p must be a finite number in \[0, 1\], got 1.01$"):
        validate.fraction("p", 1.01)
    with pytest.raises(ValueError, match="p must be a finite number in"):
        validate.fraction("p", True)


# ----------------------------------------------------------------------------- choice, index
def test_choice_returns_the_value():
    assert validate.choice("critic", "ippo", ("mappo", "ippo")) == "ippo"


def test_choice_lists_the_allowed_values_and_close_matches():
    with pytest.raises(ValueError) as error:
        validate.choice("critic", "mapo", ("mappo", "ippo"))
    assert str(error.value) == "unknown critic 'mapo'; allowed: mappo, ippo (did you mean 'mappo'?)"


def test_choice_without_a_close_match_gives_no_hint():
    with pytest.raises(ValueError) as error:
        validate.choice("critic", "qmix", ("mappo", "ippo"))
    assert str(error.value) == "unknown critic 'qmix'; allowed: mappo, ippo"


def test_choice_of_a_non_string_value():
    with pytest.raises(ValueError, match=r"unknown encoder 3; allowed: mlp, attention"):
        validate.choice("encoder", 3, ("mlp", "attention"))


@pytest.mark.parametrize("value", [0, 2, np.int32(1)])
def test_index_accepts_in_range(value):
    out = validate.index("anchor", value, 3)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [-1, 3, True, 1.0, "1"])
def test_index_refuses_and_names_the_range(value):
    with pytest.raises(ValueError) as error:
        validate.index("anchor", value, 3, what="a policy index")
    assert str(error.value) == f"anchor must be a policy index in [0, 3), got {value!r}"
