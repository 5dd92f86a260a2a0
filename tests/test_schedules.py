"""β schedules at their boundary steps, their serialised forms, and cyclical vs Fu et al.'s published code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genlib import schedules
from genlib.schedules import SHAPES, Constant, Cyclical, constant, cyclical, from_dict, monotonic, parse


def frange_cycle_linear(n_iter, start=0.0, stop=1.0, n_cycle=4, ratio=0.5):
    """Verbatim from the code of Fu et al., "Cyclical Annealing Schedule" (NAACL 2019):
    github.com/haofuml/cyclical_annealing."""
    L = np.ones(n_iter) * stop
    period = n_iter / n_cycle
    step = (stop - start) / (period * ratio)  # linear schedule

    for c in range(n_cycle):
        v, i = start, 0
        while v <= stop and (int(i + c * period) < n_iter):
            L[int(i + c * period)] = v
            v += step
            i += 1
    return L


def ramp(shape, f):
    """The ramp shapes written out independently: Fu et al.'s sigmoid maps [0, 1] to [-6, 6]."""
    return {"linear": f, "cosine": 0.5 - 0.5 * math.cos(math.pi * f), "sigmoid": 1 / (1 + math.exp(6 - 12 * f))}[shape]


@pytest.mark.parametrize("n_iter", [1, 7, 97, 100, 1000, 1003])
@pytest.mark.parametrize("n_cycle", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("ratio", [0.25, 0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("start, stop", [(0.0, 1.0), (0.1, 0.9), (0.0, 4.0), (0.5, 0.5)])
def test_cyclical_linear_equals_frange_cycle_linear(n_iter, n_cycle, ratio, start, stop):
    schedule = cyclical(n_iter, n_cycles=n_cycle, ratio=ratio, start=start, stop=stop)
    reference = frange_cycle_linear(n_iter, start, stop, n_cycle, ratio)
    got = np.array([schedule(step) for step in range(n_iter)])
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-9)


def test_constant_is_constant_at_every_step():
    s = constant(4.0)
    assert [s(t) for t in (-1, 0, 1, 10, 100, 101, 10**9)] == [4.0] * 7


@pytest.mark.parametrize("shape", SHAPES)
def test_monotonic_at_its_boundary_steps(shape):
    s = monotonic(100, ratio=0.25, start=0.0, stop=2.0, shape=shape)  # ramps over steps 0..25
    assert s(-1) == 0.0
    assert s(0) == pytest.approx(2.0 * ramp(shape, 0.0))
    assert s(10) == pytest.approx(2.0 * ramp(shape, 10 / 25))
    assert s(24) == pytest.approx(2.0 * ramp(shape, 24 / 25))
    assert s(25) == pytest.approx(2.0 * ramp(shape, 1.0))  # end of the ramp
    assert s(26) == 2.0  # ramp + 1: flat from here on
    assert s(99) == 2.0  # the last step
    assert s(100) == s(10**6) == 2.0  # beyond the run
    values = [s(t) for t in range(100)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))  # a warm-up never goes down


@pytest.mark.parametrize("shape", SHAPES)
def test_cyclical_at_its_boundary_steps(shape):
    s = cyclical(100, n_cycles=4, ratio=0.5, start=0.0, stop=1.0, shape=shape)  # period 25, ramp 12.5 steps
    for c in range(4):
        first = 25 * c
        assert s(first) == pytest.approx(ramp(shape, 0.0))  # each cycle starts again at the bottom
        assert s(first + 6) == pytest.approx(ramp(shape, 6 / 12.5))
        assert s(first + 12) == pytest.approx(ramp(shape, 12 / 12.5))  # the last step of the ramp
        assert s(first + 13) == 1.0  # ramp + 1: flat
        assert s(first + 24) == 1.0  # the last step of the cycle
    assert s(99) == 1.0
    assert s(100) == s(12345) == 1.0
    assert s(-5) == 0.0


def test_cyclical_with_uneven_periods_restarts_where_the_reference_does():
    s = cyclical(10, n_cycles=3, ratio=0.5)  # period 3.33: cycles start at steps 0, 3, 6
    starts = [t for t in range(10) if s(t) == 0.0]
    assert starts == [0, 3, 6]


def test_monotonic_is_a_single_cycle():
    assert monotonic(200, ratio=0.3, stop=2.0) == cyclical(200, n_cycles=1, ratio=0.3, stop=2.0)


@pytest.mark.parametrize("schedule", [
    constant(0.0), constant(4.0), monotonic(1000), monotonic(50, ratio=1.0, start=0.5, stop=3.0, shape="cosine"),
    cyclical(3000), cyclical(777, n_cycles=7, ratio=0.3, start=0.1, stop=0.9, shape="sigmoid"),
])
def test_to_dict_from_dict_round_trip(schedule):
    d = schedule.to_dict()
    assert isinstance(d, dict) and d["kind"] in ("constant", "cyclical")
    back = from_dict(d)
    assert back == schedule
    assert [back(t) for t in range(0, 1200, 7)] == [schedule(t) for t in range(0, 1200, 7)]
    assert from_dict(back) is back  # a schedule passes through


def test_from_dict_forms():
    assert from_dict(3) == constant(3.0) and from_dict(2.5) == constant(2.5)
    assert from_dict({"kind": "monotonic", "total_steps": 100, "ratio": 0.5}) == monotonic(100, ratio=0.5)


@pytest.mark.parametrize("text, expected", [
    ("4", constant(4.0)),
    (" 0.5 ", constant(0.5)),
    ("constant:4", constant(4.0)),
    ("constant:beta=2", constant(2.0)),
    ("monotonic:ratio=0.25", monotonic(500, ratio=0.25)),
    ("monotonic:ratio=0.5,shape=sigmoid,stop=2", monotonic(500, ratio=0.5, stop=2.0, shape="sigmoid")),
    ("cyclical", cyclical(500)),
    ("cyclical:n_cycles=4,ratio=0.5,shape=cosine", cyclical(500, n_cycles=4, ratio=0.5, shape="cosine")),
    ("cyclical:total_steps=80,n_cycles=2", cyclical(80, n_cycles=2)),
])
def test_parse(text, expected):
    got = parse(text, total_steps=500)
    assert got == expected
    assert parse(got.to_dict()["kind"] + ":" + ",".join(
        f"{k}={v}" for k, v in got.to_dict().items() if k != "kind"), total_steps=1) == got


@pytest.mark.parametrize("make", [
    lambda: constant(-1.0),
    lambda: constant(float("nan")),
    lambda: constant(float("inf")),
    lambda: monotonic(0),
    lambda: monotonic(100, ratio=0.0),
    lambda: monotonic(100, ratio=1.5),
    lambda: monotonic(100, shape="step"),
    lambda: monotonic(100, start=-1.0),
    lambda: cyclical(100, n_cycles=0),
    lambda: cyclical(100, ratio=-0.1),
    lambda: cyclical(100, stop=float("nan")),
    lambda: Cyclical(10.5),
    lambda: from_dict({"kind": "exponential"}),
    lambda: from_dict({"beta": 1.0}),
    lambda: from_dict("cyclical"),
    lambda: from_dict({"kind": "constant", "beta": 1.0, "gamma": 2.0}),
    lambda: from_dict({"kind": "cyclical", "total_steps": 10, "period": 3}),
    lambda: from_dict({"kind": "monotonic", "total_steps": 10, "n_cycles": 3}),
    lambda: from_dict({"kind": "cyclical"}),
    lambda: parse("cyclical:n_cycles", 100),
    lambda: parse("cyclical:ratio=abc", 100),
    lambda: parse("warmup:ratio=0.5", 100),
    lambda: parse("", 100),
])
def test_bad_parameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_schedules_are_stateless():
    s = cyclical(100)
    first = [s(t) for t in range(100)]
    assert [s(t) for t in reversed(range(100))] == first[::-1]
    assert isinstance(constant(1.0), Constant) and isinstance(s, schedules.Schedule.__args__)
