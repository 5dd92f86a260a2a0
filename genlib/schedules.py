"""β schedules: pure functions of the training step.

Each schedule is a small frozen dataclass: call it with a step to get β, ``to_dict()`` to put it in a
URL or a checkpoint, and :func:`from_dict` to get it back. Nothing here keeps state; evaluating a
schedule never advances anything.

- ``constant(beta)``: β-VAE (Higgins et al. 2017) when beta > 1, the plain VAE when beta = 1.
- ``monotonic(total_steps, ratio=0.25, ...)``: a warm-up from ``start`` to ``stop`` over the first
  ``ratio`` of training, then flat (Bowman et al. 2016, "Generating Sentences from a Continuous Space").
  ``shape`` picks the ramp: linear, sigmoid or cosine.
- ``cyclical(total_steps, n_cycles=4, ratio=0.5, ...)``: the cyclical schedule of Fu et al. (NAACL 2019),
  "Cyclical Annealing Schedule: A Simple Approach to Mitigating KL Vanishing", Eq. 6: training is cut
  into ``n_cycles`` periods; in each, β ramps over the first ``ratio`` of the period and stays at
  ``stop`` for the rest. With ``shape="linear"`` it equals the authors' ``frange_cycle_linear`` at every
  step. A monotonic schedule is a cyclical one with a single cycle.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SHAPES = ("linear", "sigmoid", "cosine")


def _ramp(shape: str, f: float) -> float:
    """Map the ramp's progress f in [0, 1] to a fraction of (stop - start)."""
    if shape == "linear":
        return f
    if shape == "cosine":
        return 0.5 - 0.5 * math.cos(math.pi * f)
    return 1.0 / (1.0 + math.exp(-(12.0 * f - 6.0)))  # sigmoid over [-6, 6], as in Fu et al.'s code


@dataclass(frozen=True)
class Constant:
    beta: float = 1.0  # the weight on the KL term at every step

    kind = "constant"

    def __post_init__(self):
        if not math.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta}")

    def __call__(self, step: int) -> float:
        return float(self.beta)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    def describe(self) -> str:
        return f"constant β = {self.beta:g}"


@dataclass(frozen=True)
class Cyclical:
    total_steps: int  # the length of training that the cycles divide
    n_cycles: int = 4  # M in Fu et al.
    ratio: float = 0.5  # R: share of each cycle spent ramping up
    start: float = 0.0  # β at the start of each ramp
    stop: float = 1.0  # β at the end of each ramp (and after it)
    shape: str = "linear"  # ramp shape: linear, sigmoid or cosine

    kind = "cyclical"

    def __post_init__(self):
        if int(self.total_steps) != self.total_steps or self.total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer, got {self.total_steps}")
        if int(self.n_cycles) != self.n_cycles or self.n_cycles < 1:
            raise ValueError(f"n_cycles must be a positive integer, got {self.n_cycles}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"ratio R must be in (0, 1], got {self.ratio}")
        if not (math.isfinite(self.start) and math.isfinite(self.stop)) or min(self.start, self.stop) < 0:
            raise ValueError(f"start and stop must be finite and >= 0, got {self.start}, {self.stop}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {self.shape!r}")

    def __call__(self, step: int) -> float:
        if step < 0:
            return float(self.start)
        if step >= self.total_steps:
            return float(self.stop)
        period = self.total_steps / self.n_cycles
        # frange_cycle_linear writes index int(i + c * period) for i = 0, 1, ... in cycle c; a later
        # cycle overwrites an earlier one. So the step belongs to the last cycle starting at or before it.
        cycle = min(int(step / period), self.n_cycles - 1)
        while cycle + 1 < self.n_cycles and int((cycle + 1) * period) <= step:
            cycle += 1
        while cycle > 0 and int(cycle * period) > step:
            cycle -= 1
        i = math.ceil(step - cycle * period)  # the i with int(i + cycle * period) == step
        ramp_steps = period * self.ratio
        if i > ramp_steps:
            return float(self.stop)
        return float(self.start + (self.stop - self.start) * _ramp(self.shape, i / ramp_steps))

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    def describe(self) -> str:
        if self.n_cycles == 1:
            return f"monotonic {self.shape} warm-up over {self.ratio:.0%} of {self.total_steps} steps"
        return f"cyclical: {self.n_cycles} cycles, R = {self.ratio:g}, {self.shape} ramp"


Schedule = Constant | Cyclical


def constant(beta: float = 1.0) -> Constant:
    return Constant(float(beta))


def monotonic(total_steps: int, ratio: float = 0.25, start: float = 0.0, stop: float = 1.0,
              shape: str = "linear") -> Cyclical:
    """A single warm-up from ``start`` to ``stop`` over the first ``ratio`` of ``total_steps``."""
    return Cyclical(int(total_steps), 1, float(ratio), float(start), float(stop), shape)


def cyclical(total_steps: int, n_cycles: int = 4, ratio: float = 0.5, start: float = 0.0, stop: float = 1.0,
             shape: str = "linear") -> Cyclical:
    return Cyclical(int(total_steps), int(n_cycles), float(ratio), float(start), float(stop), shape)


def from_dict(d: dict | float | int | Schedule) -> Schedule:
    """Rebuild a schedule from ``to_dict()`` output (a bare number means a constant β)."""
    if isinstance(d, Constant | Cyclical):
        return d
    if isinstance(d, int | float) and not isinstance(d, bool):
        return constant(d)
    if not isinstance(d, dict) or "kind" not in d:
        raise ValueError(f"a schedule is a dict with a 'kind' key, got {d!r}")
    params = {k: v for k, v in d.items() if k != "kind"}
    kinds = {"constant": Constant, "cyclical": Cyclical, "monotonic": Cyclical}
    if d["kind"] not in kinds:
        raise ValueError(f"unknown schedule kind {d['kind']!r}; choose one of {sorted(kinds)}")
    try:
        if d["kind"] == "monotonic":
            return monotonic(**params)
        return kinds[d["kind"]](**params)
    except TypeError as e:
        raise ValueError(f"bad parameters for a {d['kind']} schedule: {e}") from None


def parse(text: str, total_steps: int) -> Schedule:
    """Parse the CLI / URL form: "4" (constant), "constant:4", "monotonic:ratio=0.25",
    "cyclical:n_cycles=4,ratio=0.5,shape=cosine"."""
    text = text.strip()
    try:
        return constant(float(text))
    except ValueError:
        pass
    kind, _, rest = text.partition(":")
    params: dict = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            if kind == "constant":
                params["beta"] = float(key)
                continue
            raise ValueError(f"expected key=value in schedule {text!r}, got {item!r}")
        key = key.strip()
        params[key] = value.strip() if key == "shape" else float(value)
    if kind in ("monotonic", "cyclical"):
        params.setdefault("total_steps", total_steps)
        for key in ("total_steps", "n_cycles"):
            if key in params:
                params[key] = int(params[key])
    return from_dict({"kind": kind, **params})
