"""The training loop: an iterator of step records. It knows no model and does no I/O.

A model brings ``configure_optimizers(lr)`` and ``training_step(x, step, optimizers)``; this loop
cuts shuffled batches from the data tensor (no DataLoader: the sets are small and live in memory),
calls the step, and makes what it returns (the step's loss terms) records, with the step number and
the seconds spent training: a chunk's steps at once, at the chunk's end (``summarize``).

A plain MLP VAE (``genlib.batched.stacks``: the ELBO page's, the annealing lab's, the objectives page's VAE
and β-VAE, the your-data page's) trains through ``genlib.batched``'s hand-written step, a stack of one run:
the same objective, batches and noise, its gradients those of autograd to rounding, and 1.35-1.7x the steps
per second of the model's own ``training_step`` under autograd (bench/NOTES.md). ``stack=False`` keeps a run
on that step.

``TrainingRun`` trains in chunks (``advance(n)``) for the live pages. Each chunk runs with the run's
own random state, saved and restored around it, so a run gives bit-for-bit the same weights and
records however it is chunked and whatever else the process draws from torch's RNG in between.
``fit`` is a ``TrainingRun`` advanced to the end.

Training runs with denormal floats (|x| < 1.2e-38) flushed to zero (``flush_denormals``). A VAE's decoder
drives the logits of pixels that are always off (the digits' border) far negative, and their gradients,
e^-80 and below, then fill the backward pass and Adam's moments with denormals, which the CPU handles
slowly: on the digits VAE of bench/fit_vs_plain a step took ~1.5x as long with them. Flushing them changes
no number a reader sees; the runs, records and tests that compare runs all train under the same rule.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterator

import torch

from genlib.dissect import dissect_step
from genlib.models.base import NonFiniteLoss, summarize

FIT_CHUNK = 50  # steps per chunk inside fit(): records are handed out after each chunk
BLOCK_BYTES = 16 * 2**20  # batches are cut from shuffled blocks of the data of about this size


@contextlib.contextmanager
def flush_denormals():
    """Flush denormal floats to zero on the CPU inside the block (``torch.set_flush_denormal``), then put
    the setting back as it was. It is the calling thread's floating-point mode: the thread that trains."""
    was = float(torch.tensor(1e-39) * 1.0) == 0.0  # already flushing: a denormal reads as 0
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was)


class TrainingRun:
    """A resumable training run: ``advance(n)`` trains up to n more steps and returns their records."""

    def __init__(self, model, dataset, *, steps: int, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                 device: str | torch.device | None = None, stack: bool = True):
        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"the learning rate must be a finite number > 0, got {lr}")
        self.model = model
        self.dataset = dataset
        self.steps, self.batch_size, self.lr, self.seed = int(steps), int(batch_size), float(lr), int(seed)
        self.stack = bool(stack)  # train a model that stacks through genlib.batched's step (the module's docstring)
        self.device = torch.device(device) if device is not None else model.device
        model.to(self.device)
        self.x = dataset.x.to(self.device)
        self.batch_size = min(self.batch_size, len(self.x))
        self._optimizers: list | None = None  # built on first use: ``optimizers``
        self.step = 0  # steps taken so far
        self.seconds = 0.0  # time spent inside advance(), training only
        self.history: list[dict] = []
        self.stopped: str | None = None  # why the run stopped early (non-finite loss), else None
        self._order_rng = torch.Generator().manual_seed(self.seed)  # batch order
        self._noise_state = torch.Generator().manual_seed(self.seed + 1).get_state()  # the model's draws
        self._cuda_noise_state = None
        self._order: torch.Tensor | None = None  # this epoch's permutation of the examples
        self._cursor = 0  # position in _order of the next batch
        self._block: torch.Tensor | None = None  # x[_order[_block_start : ...]], gathered once
        self._block_start = 0
        example_bytes = self.x[0].numel() * self.x.element_size()
        self._block_batches = max(1, BLOCK_BYTES // (self.batch_size * example_bytes))

    @property
    def optimizers(self) -> list:
        """The model's optimisers (``configure_optimizers``), built on first use: building a torch optimiser
        imports torch._dynamo, about 1.5 s on 2 cores, which a run that is only looked at never needs (the
        runs under a shipped lab's replay are built and never trained)."""
        if self._optimizers is None:
            self._optimizers = self.model.configure_optimizers(self.lr)
        return self._optimizers

    @optimizers.setter
    def optimizers(self, optimizers: list) -> None:
        self._optimizers = optimizers

    @property
    def done(self) -> bool:
        return self.step >= self.steps or self.stopped is not None

    def _next_batch(self) -> torch.Tensor:
        """The next batch of a shuffled epoch (an incomplete last batch is dropped).

        Instead of one gather per step, a block of many batches is gathered at once and each batch is
        a contiguous slice of it: the same batches in the same order, with less work per step.
        """
        b = self.batch_size
        if self._order is None or self._cursor + b > len(self._order):
            self._order = torch.randperm(len(self.x), generator=self._order_rng).to(self.device)
            self._cursor = 0
            self._block = None
        if self._block is None or self._cursor + b > self._block_start + len(self._block):
            size = min((len(self._order) - self._cursor) // b, self._block_batches) * b
            self._block_start = self._cursor
            self._block = self.x[self._order[self._cursor : self._cursor + size]]
        i = self._cursor - self._block_start
        self._cursor += b
        return self._block[i : i + b]

    def _use_noise_stream(self) -> None:
        """Make torch's generators draw this run's noise where they left off (call inside ``fork_rng``)."""
        torch.set_rng_state(self._noise_state)
        if self.device.type != "cuda":
            return
        if self._cuda_noise_state is not None:
            torch.cuda.set_rng_state(self._cuda_noise_state, self.device)
        else:
            torch.cuda.manual_seed(self.seed + 1)

    def _snapshot(self):
        """The weights and optimiser states at a chunk's start, to go back to if training breaks them."""
        return _copy(self.model.state_dict()), [_copy(o.state_dict()) for o in self.optimizers]

    def _restore(self, snapshot) -> None:
        weights, optimizer_states = snapshot
        self.model.load_state_dict(weights)
        for opt, state in zip(self.optimizers, optimizer_states, strict=True):
            opt.load_state_dict(state)

    def _weights_finite(self) -> bool:
        return all(torch.isfinite(p).all() for p in self.model.parameters())

    def extend(self, n_steps: int) -> None:
        """Let a finished run train ``n_steps`` more (a presenter's Step past the end); schedules go on as
        they do past their last step."""
        if self.stopped is None:
            self.steps = max(self.steps, self.step + int(n_steps))

    def dissect_next(self) -> dict | None:
        """Take the next step dissected (``genlib.dissect.dissect_step`` with this step's own batch and noise,
        so its terms are the step's record) and add ``update``: parameter name -> the change the optimiser
        made. The run trains exactly as without the dissection. None when the run is done."""
        seen: dict = {}

        def inspect(batch, step):
            seen["dissection"] = dissect_step(self.model, batch, step, rng_state=torch.get_rng_state())
            seen["before"] = {name: p.detach().clone() for name, p in self.model.named_parameters()}

        records = self.advance(1, inspect=inspect)
        if not records:
            return None
        dissection = seen["dissection"]
        dissection["update"] = {name: p.detach() - seen["before"][name] for name, p in self.model.named_parameters()}
        dissection["record"] = records[0]
        return dissection

    def view_at(self, step: int, states: dict):
        """This run as it stood at ``step``, for looking at (``genlib.timeline``): a copy of the model with
        ``states["model"]``, the weights of that step, and the records up to it. The run is untouched."""
        view = copy.copy(self)
        view.model = copy.deepcopy(self.model)
        view.model.load_state_dict(states["model"])
        view.step = int(step)
        view.history = [r for r in self.history if r["step"] <= step]
        view.seconds = view.history[-1]["seconds"] if view.history else 0.0
        view.optimizers = []  # a view is not trained
        return view

    def advance(self, n_steps: int, *, inspect=None) -> list[dict]:
        """Train up to ``n_steps`` more steps (fewer at the end of the run); return their records.

        ``inspect(batch, step)``, when given, is called before each step with the step's batch, inside the
        run's random stream (``torch.get_rng_state()`` there is the state the step will draw from)."""
        if self.done or n_steps <= 0:
            return []
        from genlib import batched  # here: genlib.batched imports this module

        if self.stack and batched.stacks(self):
            return batched.StackedRuns([self]).advance(n_steps, inspect=inspect)[0]
        n_steps = min(int(n_steps), self.steps - self.step)
        snapshot = self._snapshot()
        cuda = self.device.type == "cuda"
        self.model.train()
        terms: list[dict] = []  # each step's loss terms; they become records at the chunk's end
        ends: list[float] = []  # seconds into the chunk at which each step ended
        with torch.random.fork_rng(devices=[self.device] if cuda else []), flush_denormals():
            self._use_noise_stream()
            start = time.perf_counter()
            try:
                for _ in range(n_steps):
                    batch = self._next_batch()
                    if inspect is not None:
                        inspect(batch, self.step + len(terms))
                    terms.append(self.model.training_step(batch, self.step + len(terms), self.optimizers))
                    ends.append(time.perf_counter() - start)
            except NonFiniteLoss as e:
                failed_at = self.step + len(terms) + 1
                if self._weights_finite():
                    kept = f"The weights are those of step {failed_at - 1}, the last finite ones. "
                else:  # an earlier step with a finite loss broke the weights: go back to this chunk's start
                    self._restore(snapshot)
                    terms = []  # the history ends where the weights are
                    kept = f"The weights were restored to step {self.step}, from before this chunk of training. "
                self.stopped = f"stopped at step {failed_at}: {e}. {kept}Try a smaller learning rate."
            self._noise_state = torch.get_rng_state()
            if cuda:
                self._cuda_noise_state = torch.cuda.get_rng_state(self.device)
        records = summarize(terms)
        for record, end in zip(records, ends, strict=False):
            self.step += 1
            record["step"] = self.step
            record["seconds"] = self.seconds + end
        self.seconds += time.perf_counter() - start
        self.history.extend(records)
        return records


def _copy(state):
    """A deep copy of a (model or optimiser) state dict: ``copy.deepcopy`` but with tensors cloned
    directly (5x faster on the ELBO page's VAE: 0.17 ms rather than 0.96 ms, once per chunk)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {key: _copy(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_copy(value) for value in state)
    return copy.deepcopy(state)


def fit(model, dataset, *, steps: int, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
        device: str | torch.device | None = None, stack: bool = True) -> Iterator[dict]:
    """Train ``model`` on ``dataset`` for ``steps`` steps; yield one record per step.

    Records are plain dicts: ``step``, ``seconds``, the model's loss terms (batch means, nats per
    example) and ``beta``. If the loss turns non-finite the run stops early: the last finite weights
    are kept and ``RuntimeWarning``-free; check ``TrainingRun.stopped`` for the reason when you need it.
    ``stack``: as ``TrainingRun``'s.
    """
    run = TrainingRun(model, dataset, steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
                      stack=stack)
    while not run.done:
        yield from run.advance(FIT_CHUNK)
    if run.stopped:
        raise NonFiniteLoss(run.stopped)
