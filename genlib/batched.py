"""Training runs of one architecture as one computation: their weights stacked along a run axis.

The annealing lab trains up to four MLP VAEs that differ only in their β schedule and free bits. At this
size a step is mostly fixed cost (dispatch, autograd, the optimiser), so four runs stepped one after another
cost four times one run. Stacked, they share it: each linear layer of the R runs is one batched matrix
product (``torch.bmm``, (R, B, in) x (R, in, out)), the loss is the sum of the runs' losses, so the weights
of each run get exactly their own gradient, and one fused Adam step over the stacked tensors is, element by
element, R separate Adam steps (the same moments, the same step count).

The runs of a lock step share their seed, data and batch size, so they draw the same batches and the same
noise ε: one batch and one ε of shape (B, D) serve every run, drawn from the runs' common random stream, as
each run would have drawn them alone. On this CPU build the losses and weights come out bit for bit those
of the runs trained one at a time (tests/test_lockstep_batched.py asserts 1e-3 relative, the issue's bound,
and the annealing tests equality). ``torch.func.stack_module_state`` + ``vmap`` + ``functional_call`` over
the model's own loss was measured against this: 1.3-1.5x the four runs one after another, against 2.1-2.3x
here, and not bit for bit (bench/NOTES.md), so the stacked products are kept.

What stacks (``signature``): plain ``vae`` models with the MLP networks, whose configs agree but for
``beta_schedule`` and ``free_bits`` and whose loss is not replaced on the instance; anything else trains on
its own (``TrainingRun.advance``). Between two ``advance`` calls every run's model and optimiser hold that
run's own weights and Adam state, so a run is inspected, replayed (``genlib.timeline``), extended or
dissected as if it had trained alone; the stack lives only inside ``advance``.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from genlib.distributions import gaussian_kl
from genlib.models.base import summarize
from genlib.models.vae import VAE
from genlib.nn import MLP, adam
from genlib.train import flush_denormals

PER_RUN = ("beta_schedule", "free_bits")  # config keys that may differ between stacked runs
HOOKS = ("loss", "loss_parts", "training_step", "regularizer", "forward", "encode", "decode", "beta")


def signature(model) -> tuple | None:
    """What must agree for models to train as one stack; None where a model does not stack."""
    if type(model) is not VAE or model.config.network != "mlp" or any(hook in vars(model) for hook in HOOKS):
        return None  # a variant, a conv network, or a loss replaced on the instance (as tests do)
    if not all(_plain_mlp(net) for net in (model.encoder, model.decoder)):
        return None
    config = {k: v for k, v in model.config_dict().items() if k not in PER_RUN}
    shapes = tuple((name, tuple(p.shape), p.dtype) for name, p in model.named_parameters())
    return model.data_shape, repr(sorted(config.items())), shapes, model.device


def _plain_mlp(net) -> bool:
    return isinstance(net, MLP) and all(type(m) in (nn.Linear, nn.ReLU) for m in net)


def _stream(run) -> tuple:
    """What decides a run's batches and noise from here on."""
    return (id(run.dataset), run.seed, run.batch_size, run.lr, run.step, run.steps, run._cursor, run._block_start,
            run._block_batches)


def groups(runs: dict) -> list[list[str]]:
    """The names of ``runs`` (name -> TrainingRun) in groups that train as one stack (two or more runs of
    one architecture at one step of one batch and noise stream), and the rest, one name per group."""
    by_key: dict = {}
    for name, run in runs.items():
        sig = None if run.done or len(run.optimizers) != 1 else signature(run.model)
        key = (sig, _stream(run)) if sig is not None else ("alone", name)
        by_key.setdefault(key, []).append(name)
    out = []
    for names in by_key.values():
        lead = runs[names[0]]
        same = [n for n in names if _same_randomness(lead, runs[n])]
        out += [same] + [[n] for n in names if n not in same]
    return out


def _same_randomness(a, b) -> bool:
    def equal(x, y):
        return (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))
    return (equal(a._order_rng.get_state(), b._order_rng.get_state()) and equal(a._noise_state, b._noise_state)
            and equal(a._order, b._order) and equal(a._cuda_noise_state, b._cuda_noise_state))


def free_bits(kl_per_dim: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``genlib.models.vae.free_bits`` for R runs at once: kl_per_dim (R, B, D), lam (R, 1, 1) -> (R, B).

    A run whose λ is 0 keeps every dimension, as ``free_bits`` does with free bits off."""
    above = (kl_per_dim.mean(1, keepdim=True).detach() > lam) | (lam <= 0)  # (R, 1, D)
    return torch.where(above, kl_per_dim, lam).sum(-1)


class StackedLinear:
    """The ``nn.Linear`` layers of R runs as one: weight (R, in, out) and bias (R, 1, out), leaf tensors."""

    def __init__(self, layers: list[nn.Linear]):
        self.layers = layers
        with torch.no_grad():
            self.weight = torch.stack([l.weight.t() for l in layers]).requires_grad_()  # (R, in, out)
            self.bias = torch.stack([l.bias for l in layers]).unsqueeze(1).requires_grad_()  # (R, 1, out)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        if h.dim() == 2:  # the shared input batch (B, in)
            h = h.expand(len(self.layers), *h.shape)
        return torch.bmm(h, self.weight).add_(self.bias)  # (R, B, out)

    def params(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.weight, self.bias


class StackedMLP:
    """The ``genlib.nn.MLP`` of R runs: stacked linear layers, ReLU in place between them."""

    def __init__(self, mlps: list[MLP]):
        self.steps = [StackedLinear([m[i] for m in mlps]) if isinstance(mlps[0][i], nn.Linear) else mlps[0][i]
                      for i in range(len(mlps[0]))]

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            h = step(h)
        return h

    @property
    def linears(self) -> list[StackedLinear]:
        return [s for s in self.steps if isinstance(s, StackedLinear)]


class StackedVAE:
    """R MLP VAEs of one architecture (``signature``) as one: the VAE objective of each run, at once.

    ``loss_terms(x, beta)`` mirrors ``VAE.loss_parts`` line by line for R runs (the tests hold it to the
    VAE's own numbers): reconstruction and KL per example, β(step) · KL with each run's free bits."""

    def __init__(self, models: list[VAE]):
        first = models[0]
        self.models = models
        self.likelihood, self.data_shape = first.likelihood, first.data_shape
        self.encoder = StackedMLP([m.encoder for m in models])
        self.decoder = StackedMLP([m.decoder for m in models])
        self.out_shape = first._out_shape()  # x_logits of one example
        self.lam = torch.tensor([m.config.free_bits for m in models], device=first.device).view(-1, 1, 1)

    def linears(self) -> list[StackedLinear]:
        return self.encoder.linears + self.decoder.linears

    def parameters(self) -> list[torch.Tensor]:
        return [t for layer in self.linears() for t in layer.params()]

    def loss_terms(self, x: torch.Tensor, beta: torch.Tensor) -> dict:
        """x (B, ...) the shared batch, beta (R, 1) each run's β at this step -> terms with a run axis first."""
        x = self.likelihood.prepare(x)
        h = self.encoder(x.flatten(1))  # (R, B, 2D)
        mu, logvar = h.chunk(2, dim=-1)  # (R, B, D) each
        eps = torch.randn(mu.shape[1:], device=mu.device, dtype=mu.dtype)  # (B, D): the draw every run makes
        z = mu + torch.exp(0.5 * logvar) * eps  # genlib.distributions.reparameterize, ε shared by the runs
        r, b = mu.shape[:2]
        out = self.decoder(z).reshape(r * b, -1)  # (R B, n_out)
        x_logits = self.likelihood.unflatten(out, self.data_shape).reshape(r, b, *self.out_shape)
        recon = -self.likelihood.log_prob(x_logits, x)  # (R, B) nats per example
        kl_per_dim = gaussian_kl(mu, logvar)  # (R, B, D)
        kl = kl_per_dim.sum(-1)
        reg = beta * free_bits(kl_per_dim, self.lam)  # (R, B)
        return {"loss": (recon + reg).mean(1), "recon": recon, "kl": kl, "elbo": -(recon + kl),
                "kl_per_dim": kl_per_dim}


def _zero_grad(optimizer) -> None:
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None


class StackedRuns:
    """``TrainingRun``s of one group (``groups``) advanced as one stack. Their models and optimisers are
    read at the start of ``advance`` and written back at its end, so between calls each run is its own."""

    def __init__(self, runs: list):
        self.runs = runs

    def advance(self, n_steps: int) -> list[list[dict]]:
        """Train every run up to ``n_steps`` more steps as one computation; return each run's records. A run
        whose loss turns non-finite stops there as it would alone (``TrainingRun.advance``); the others go on."""
        lead = self.runs[0]
        if lead.done or n_steps <= 0:
            return [[] for _ in self.runs]
        n_steps = min(int(n_steps), lead.steps - lead.step)
        first = lead.step
        stack = StackedVAE([run.model for run in self.runs])
        optimizer = self._optimizer(stack)
        betas = [[run.model.beta(first + k) for run in self.runs] for k in range(n_steps)]  # (T, R) floats
        beta_t = torch.tensor(betas, device=lead.device).unsqueeze(-1)  # (T, R, 1)
        alive = list(range(len(self.runs)))  # runs still training
        keep = torch.ones(len(self.runs), dtype=torch.bool, device=lead.device)
        terms: list[list[dict]] = [[] for _ in self.runs]  # each run's terms of each step, records at the end
        ends: list[list[float]] = [[] for _ in self.runs]
        for run in self.runs:
            run.model.train()
        cuda = lead.device.type == "cuda"
        with torch.random.fork_rng(devices=[lead.device] if cuda else []), flush_denormals():  # as TrainingRun
            lead._use_noise_stream()
            start = time.perf_counter()
            for k in range(n_steps):
                t = stack.loss_terms(lead._next_batch(), beta_t[k])
                total = t["loss"].sum() if len(alive) == len(self.runs) else torch.where(keep, t["loss"], 0).sum()
                if not math.isfinite(total.item()):  # a run whose loss is not finite stops before this step
                    values = t["loss"].tolist()
                    for i in [i for i in alive if not math.isfinite(values[i])]:
                        self._stop(i, stack, optimizer, first + k + 1, values[i], terms, ends)
                        keep[i] = False
                    alive = [i for i in alive if keep[i]]
                    if not alive:
                        break
                    total = torch.where(keep, t["loss"], 0).sum()  # a stopped run's slice gets no gradient
                _zero_grad(optimizer)
                total.backward()
                optimizer.step()
                end = time.perf_counter() - start
                step_terms = {key: value.detach() for key, value in t.items()}
                for i in alive:
                    terms[i].append({**{key: value[i] for key, value in step_terms.items()}, "beta": betas[k][i]})
                    ends[i].append(end)
            noise = torch.get_rng_state()
            cuda_noise = torch.cuda.get_rng_state(lead.device) if cuda else None
        seconds = time.perf_counter() - start
        for i in alive:
            self._write_back(i, stack, optimizer)
        out = []
        for i, run in enumerate(self.runs):  # the batch and noise streams are the lead's: every run drew them
            run._noise_state = noise.clone()
            run._cuda_noise_state = None if cuda_noise is None else cuda_noise.clone()
            if run is not lead:
                _copy_batches(lead, run)
            records = summarize(terms[i])
            for record, end in zip(records, ends[i], strict=True):
                run.step += 1
                record["step"] = run.step
                record["seconds"] = run.seconds + end
            run.seconds += seconds
            run.history.extend(records)
            out.append(records)
        return out

    # ------------------------------------------------------------------ between the runs and the stack

    def _pairs(self, stack: StackedVAE, i: int):
        """(stacked tensor, run i's parameter, how to lay run i's slice out like the parameter)."""
        for layer in stack.linears():
            yield layer.weight, layer.layers[i].weight, lambda s: s.t()  # (in, out) -> (out, in)
            yield layer.bias, layer.layers[i].bias, lambda s: s[0]  # (1, out) -> (out,)

    def _optimizer(self, stack: StackedVAE):
        """One Adam over the stacked tensors, its state the runs' states stacked (none before a first step)."""
        optimizer = adam(stack.parameters(), self.runs[0].lr)
        own = [run.optimizers[0] for run in self.runs]
        for slots in zip(*(self._pairs(stack, i) for i in range(len(self.runs))), strict=True):
            states = [opt.state.get(p) for opt, (_, p, _) in zip(own, slots, strict=True)]
            if all(states):
                optimizer.state[slots[0][0]] = {
                    "step": states[0]["step"].clone(),
                    **{key: torch.stack([_like_stacked(s[key]) for s in states]) for key in MOMENTS}}
        return optimizer

    @torch.no_grad()
    def _write_back(self, i: int, stack: StackedVAE, optimizer) -> None:
        """Run i's weights and Adam state, from its slice of the stack (in place: a run's optimiser keeps
        its tensors, and FusedAdam its lists of them)."""
        own = self.runs[i].optimizers[0]
        for stacked, p, lay in self._pairs(stack, i):
            p.copy_(lay(stacked[i]))
            state = optimizer.state.get(stacked)
            if not state:
                continue
            mine = own.state.get(p)
            if not mine:
                own.state[p] = mine = {"step": state["step"].clone(),
                                       **{key: torch.zeros_like(p, memory_format=torch.preserve_format)
                                          for key in MOMENTS}}
            mine["step"].copy_(state["step"])
            for key in MOMENTS:
                mine[key].copy_(lay(state[key][i]))

    def _stop(self, i: int, stack: StackedVAE, optimizer, failed_at: int, value: float, terms, ends) -> None:
        """Run i's loss at step ``failed_at`` is ``value``, not finite: it stops, as ``TrainingRun`` stops."""
        run = self.runs[i]
        if all(torch.isfinite(stacked[i]).all() for stacked in stack.parameters()):
            self._write_back(i, stack, optimizer)
            kept = f"The weights are those of step {failed_at - 1}, the last finite ones. "
        else:  # an earlier step broke the weights: the run's own are those of this chunk's start
            terms[i], ends[i] = [], []
            kept = f"The weights were restored to step {run.step}, from before this chunk of training. "
        run.stopped = f"stopped at step {failed_at}: the loss became {value}. {kept}Try a smaller learning rate."


MOMENTS = ("exp_avg", "exp_avg_sq")  # Adam's per-element state, beside its step count


def _like_stacked(moment: torch.Tensor) -> torch.Tensor:
    """A run's Adam moment laid out like its slice of ``stacked`` (weights are stacked transposed)."""
    return moment.t() if moment.dim() == 2 else moment.unsqueeze(0)


def _copy_batches(lead, run) -> None:
    """Put ``run``'s batch order where ``lead``'s is (they were the same before the stack's steps)."""
    run._order_rng.set_state(lead._order_rng.get_state())
    run._order, run._cursor = lead._order, lead._cursor
    run._block, run._block_start = lead._block, lead._block_start
