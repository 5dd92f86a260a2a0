"""KL annealing strategies and the annealing lab's line-ups: each strategy is only a model config.

A :class:`Strategy` names how the KL term of the VAE objective is weighted over training; ``config(steps)``
turns it into the two VAE settings that carry it, ``beta_schedule`` and ``free_bits``, so a strategy
never needs code of its own (a β-VAE or an annealed VAE is ``vae`` with a schedule):

- ``constant``: β at every step. β = 1 is the plain VAE; β = 4 the β-VAE of Higgins et al. (2017, Eq. 4).
- ``monotonic``: β ramps from 0 to ``beta`` over the first ``ratio`` of training, then stays
  (Bowman et al. 2016). Fu et al. (NAACL 2019) compare it as "one cycle with R = 0.25".
- ``cyclical``: Fu et al.'s cyclical schedule (their Eq. 6): ``n_cycles`` ramps with ratio R.
- ``free-bits``: β = ``beta`` throughout, with Kingma et al.'s (2016, Eq. 15) free bits: a latent dimension
  whose KL is under λ nats is not pushed further down.

Strategies are written as short specs, which is how pages keep them in the URL: ``constant:beta=4``,
``monotonic:ratio=0.25``, ``cyclical:n_cycles=4,ratio=0.5,shape=cosine``, ``free-bits:lambda=0.5``;
a line-up is specs joined by ``;``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genlib import schedules

KINDS = ("constant", "monotonic", "cyclical", "free-bits")
MAX_RUNS = 4  # the lab compares at most this many strategies side by side


@dataclass(frozen=True)
class Strategy:
    kind: str = "constant"  # constant, monotonic, cyclical or free-bits
    beta: float = 1.0  # constant / free-bits: β at every step; monotonic / cyclical: the β each ramp reaches
    n_cycles: int = 4  # cyclical only: M, the number of ramps
    ratio: float = 0.5  # monotonic / cyclical: R, the share of each cycle spent ramping
    shape: str = "linear"  # monotonic / cyclical ramp: linear, sigmoid or cosine
    lam: float = 0.5  # free-bits only: λ, nats per latent dimension left unpenalised

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown strategy {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not math.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta}")
        if not math.isfinite(self.lam) or self.lam <= 0:
            raise ValueError(f"the free-bits λ must be a finite number > 0 nats, got {self.lam}")
        self.schedule(1000)  # checks n_cycles, ratio and shape with the schedule's own messages

    def schedule(self, total_steps: int) -> schedules.Schedule:
        """β(step) for a run of ``total_steps`` steps."""
        if self.kind == "monotonic":
            return schedules.monotonic(total_steps, self.ratio, stop=self.beta, shape=self.shape)
        if self.kind == "cyclical":
            return schedules.cyclical(total_steps, self.n_cycles, self.ratio, stop=self.beta, shape=self.shape)
        return schedules.constant(self.beta)

    def config(self, total_steps: int) -> dict:
        """The VAE settings that carry this strategy: merge them into a ``vae`` config."""
        return {"beta_schedule": self.schedule(total_steps).to_dict(),
                "free_bits": self.lam if self.kind == "free-bits" else 0.0}

    @property
    def spec(self) -> str:
        """The short text form that :func:`parse` reads back."""
        if self.kind == "constant":
            return f"constant:beta={self.beta:g}"
        if self.kind == "free-bits":
            return f"free-bits:lambda={self.lam:g}" + (f",beta={self.beta:g}" if self.beta != 1 else "")
        text = f"{self.kind}:ratio={self.ratio:g}"
        if self.kind == "cyclical":
            text = f"cyclical:n_cycles={self.n_cycles},ratio={self.ratio:g}"
        if self.shape != "linear":
            text += f",shape={self.shape}"
        return text + (f",beta={self.beta:g}" if self.beta != 1 else "")

    @property
    def label(self) -> str:
        """A short legend label."""
        if self.kind == "constant":
            return "β = 1 (plain VAE)" if self.beta == 1 else f"β-VAE, β = {self.beta:g}"
        if self.kind == "free-bits":
            return f"free bits, λ = {self.lam:g}" + (f", β = {self.beta:g}" if self.beta != 1 else "")
        shape = "" if self.shape == "linear" else f", {self.shape}"
        if self.kind == "monotonic":
            return f"monotonic, R = {self.ratio:g}{shape}"
        return f"cyclical, M = {self.n_cycles}, R = {self.ratio:g}{shape}"


_KEYS = {"beta": float, "n_cycles": int, "ratio": float, "shape": str, "lambda": float, "lam": float}


def parse(spec: str) -> Strategy:
    """Read one strategy spec: ``kind[:key=value,...]`` (keys: beta, n_cycles, ratio, shape, lambda)."""
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower().replace("_", "-").replace("free bits", "free-bits")
    params: dict = {}
    for item in filter(None, (i.strip() for i in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in _KEYS:
            raise ValueError(f"in {spec.strip()!r}: expected key=value with a key from "
                             f"{', '.join(k for k in _KEYS if k != 'lam')}, got {item!r}")
        try:
            params["lam" if key == "lambda" else key] = _KEYS[key](value.strip())
        except ValueError:
            raise ValueError(f"in {spec.strip()!r}: {key} must be a number, got {value.strip()!r}") from None
    return Strategy(kind, **params)


def parse_lineup(text: str) -> list[Strategy]:
    """Read up to :data:`MAX_RUNS` specs separated by ``;`` (or new lines); each must differ."""
    specs = [s for s in text.replace("\n", ";").split(";") if s.strip()]
    if not specs:
        raise ValueError("give at least one strategy, e.g. constant:beta=1; cyclical:n_cycles=4,ratio=0.5")
    if len(specs) > MAX_RUNS:
        raise ValueError(f"the lab compares at most {MAX_RUNS} strategies; got {len(specs)}")
    lineup = [parse(s) for s in specs]
    labels = [s.label for s in lineup]
    if len(set(labels)) != len(labels):
        raise ValueError("each strategy in a line-up must differ; these repeat: "
                         + ", ".join(sorted({x for x in labels if labels.count(x) > 1})))
    return lineup


def format_lineup(lineup: list[Strategy]) -> str:
    return "; ".join(s.spec for s in lineup)


# ----------------------------------------------------------------------------------------- presets

PRESETS: dict[str, Strategy] = {
    "vae": Strategy("constant", beta=1.0),
    "beta-4": Strategy("constant", beta=4.0),
    "monotonic": Strategy("monotonic", ratio=0.25),  # Fu et al.'s monotonic: one cycle, R = 0.25
    "cyclical": Strategy("cyclical", n_cycles=4, ratio=0.5),  # Fu et al.'s cyclical: M = 4, R = 0.5
    "cyclical-sigmoid": Strategy("cyclical", n_cycles=4, ratio=0.5, shape="sigmoid"),
    "cyclical-cosine": Strategy("cyclical", n_cycles=4, ratio=0.5, shape="cosine"),
    "free-bits": Strategy("free-bits", lam=0.5),
}

LINEUPS: dict[str, tuple[str, ...]] = {
    "Four strategies": ("vae", "monotonic", "cyclical", "free-bits"),
    "Fu et al.'s pair": ("monotonic", "cyclical"),
    "VAE vs β-VAE (β = 4)": ("vae", "beta-4"),
    "Cyclical ramp shapes": ("cyclical", "cyclical-sigmoid", "cyclical-cosine"),
}
DEFAULT_LINEUP = "Four strategies"


def lineup(name: str) -> list[Strategy]:
    if name not in LINEUPS:
        raise ValueError(f"unknown line-up {name!r}; choose one of {', '.join(LINEUPS)}")
    return [PRESETS[p] for p in LINEUPS[name]]


# The lab's model: the same for every run of a line-up; only the strategy differs.
LAB_DATA = "digits"
LAB_MODEL = {"latent_dim": 8, "hidden": (128, 128), "likelihood": "bernoulli"}  # MLP VAE, Bernoulli pixels
LAB_STEPS = 2000  # steps per run
LAB_TRAINING = {"batch_size": 128, "lr": 1e-3, "seed": 0}


def lab_config(strategy: Strategy, total_steps: int = LAB_STEPS, **model) -> dict:
    """The full ``vae`` config of one lab run: the lab's model with ``model`` overrides and the strategy."""
    return {**LAB_MODEL, **model, **strategy.config(total_steps)}


def recipe_name(preset: str) -> str:
    return f"lab-{preset}-digits"


def recipes() -> dict[str, dict]:
    """Pretrained recipes for the default line-up (see genlib.pretrained.RECIPES)."""
    out = {}
    for preset in LINEUPS[DEFAULT_LINEUP]:
        strategy = PRESETS[preset]
        config = lab_config(strategy)
        config["hidden"] = list(config["hidden"])
        out[recipe_name(preset)] = {
            "description": f"annealing lab: VAE, {strategy.label}, latent 8, MLP 128-128, Bernoulli digits",
            "model": "vae", "data": LAB_DATA, "config": config, "steps": LAB_STEPS, **LAB_TRAINING,
        }
    return out


# ----------------------------------------------------------------------------------- comparison

# column -> (label, True when higher is better)
COLUMNS = {
    "elbo": ("ELBO", True),
    "recon": ("reconstruction", False),
    "kl": ("KL", None),
    "active_units": ("active units", True),
    "mutual_information": ("MI", True),
}


def compare(results: dict[str, dict]) -> tuple[list[dict], dict[str, tuple[str, ...]]]:
    """A comparison table: one row per run (its final metrics, nats per image), and per column the runs
    that win it: highest ELBO, lowest reconstruction, most active units, highest MI (ties share the win;
    a column where every run ties has no winner). KL has no winner: more is not better or worse in
    itself, it is the rate a run pays for its code."""
    rows = [{"run": name, **{c: r[c] for c in COLUMNS if c in r}} for name, r in results.items()]
    winners = {}
    for column, (_, higher) in COLUMNS.items():
        values = [(row[column], row["run"]) for row in rows if row.get(column) is not None]
        if higher is None or not values:
            continue
        best = max(v for v, _ in values) if higher else min(v for v, _ in values)
        won = tuple(name for v, name in values if v == best)
        if len(won) < len(rows) or len(rows) == 1:
            winners[column] = won
    return rows, winners
