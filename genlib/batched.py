"""Training runs of one architecture as one computation: their weights stacked along a run axis.

The annealing lab trains up to four MLP VAEs that differ only in their β schedule and free bits. At this
size a step is mostly fixed cost (dispatch, autograd, the optimiser), so four runs stepped one after another
cost four times one run. Stacked, they share it: each linear layer of the R runs is one batched matrix
product (``torch.bmm``, (R, B, in) x (R, out, in)ᵀ), the loss is the sum of the runs' losses, so the weights
of each run get exactly their own gradient, and one fused Adam step over the stacked tensors is, element by
element, R separate Adam steps (the same moments, the same step count).

The runs of a lock step share their seed, data and batch size, so they draw the same batches and the same
noise ε: one batch and one ε of shape (B, D) serve every run, drawn from the runs' common random stream, as
each run would have drawn them alone. The backward pass is written out (``StackedVAE.step``): at this size
autograd's bookkeeping is a good part of a step. Its gradients are autograd's of each run's own loss to
rounding (tests/test_lockstep_batched.py holds them to it, and the runs' losses after 200 steps to 1e-3
relative). ``torch.func.stack_module_state`` + ``vmap`` + ``functional_call`` over the model's own loss was
measured against the stack: 1.3x the four runs one after another, against 2.3x here (bench/NOTES.md).

What stacks (``signature``): plain ``vae`` models with the MLP networks, whose configs agree but for
``beta_schedule`` and ``free_bits`` and whose loss is not replaced on the instance, each run with one Adam of
the stack's settings (``stacks``); anything else trains on the model's own step. A run of such a model trains
through this step even alone, as a stack of one (``TrainingRun.advance``; ``stack=False`` keeps it out).
Between two ``advance`` calls every run's model and optimiser hold that run's own weights and Adam state, so a
run is inspected, replayed (``genlib.timeline``), extended or dissected as if it had trained alone; the stack
lives only inside ``advance``.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from genlib import native
from genlib.models.base import summarize_runs
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


def stacks(run) -> bool:
    """Whether ``run`` (a ``TrainingRun``) trains through the stack: a model that stacks (``signature``) with
    one optimiser, an Adam whose settings are the stack's own (the run's learning rate, torch's default betas
    and ε, nothing else) over the model's parameters in their order. The stack steps its own Adam, so
    another optimiser set on the run (``run.optimizers = ...``) keeps the run on the model's own step."""
    if run.done or signature(run.model) is None or len(run.optimizers) != 1:
        return False
    opt = run.optimizers[0]
    if not isinstance(opt, torch.optim.Adam) or len(opt.param_groups) != 1:
        return False
    group = opt.param_groups[0]
    plain = {"lr": run.lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
             "maximize": False}
    return (all(group.get(key) == value for key, value in plain.items())
            and not group.get("decoupled_weight_decay") and not torch.is_tensor(group["lr"])
            and len(group["params"]) == len(params := list(run.model.parameters()))
            and all(a is b for a, b in zip(group["params"], params, strict=True)))


def groups(runs: dict) -> list[list[str]]:
    """The names of ``runs`` (name -> TrainingRun) in groups that train as one stack (two or more runs of
    one architecture at one step of one batch and noise stream), and the rest, one name per group."""
    by_key: dict = {}
    for name, run in runs.items():
        sig = signature(run.model) if stacks(run) else None
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


def counted(kl_per_dim: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """The dimensions that count in ``genlib.models.vae.free_bits``, for R runs at once: kl_per_dim (R, B, D),
    lam (R, 1, 1) -> (R, 1, D), True where a dimension's batch-mean KL exceeds its run's λ. A run whose λ is 0
    keeps every dimension, as ``free_bits`` does with free bits off. The rest sit at λ, with no gradient."""
    return (kl_per_dim.mean(1, keepdim=True) > lam) | (lam <= 0)


class StackedLinear:
    """The ``nn.Linear`` layers of R runs as one: weight (R, out, in), each run's laid out as its layer's,
    and bias (R, 1, out), leaf tensors.

    Its output, its input's gradient and its own gradients are written into the same buffers every step:
    they stay where the cache has them, and no step allocates them anew."""

    def __init__(self, layers: list[nn.Linear]):
        self.layers = layers
        with torch.no_grad():
            self.weight = torch.stack([l.weight for l in layers]).requires_grad_()  # (R, out, in)
            self.bias = torch.stack([l.bias for l in layers]).unsqueeze(1).requires_grad_()  # (R, 1, out)
        self.weight.grad, self.bias.grad = torch.zeros_like(self.weight), torch.zeros_like(self.bias)
        with torch.no_grad():
            self.weight_t = self.weight.transpose(1, 2)  # a view (R, in, out): Adam updates the weight in place
        self._buffers: dict = {}  # (what, batch size) -> a tensor written in place each step

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        h = self._runs(h)
        out = self._buffer("out", h.shape[1], self.weight.shape[1])
        return torch.baddbmm(self.bias, h, self.weight_t, out=out)

    def backward(self, h: torch.Tensor, d: torch.Tensor, input_grad: bool = True,
                 bias_grad: bool = True) -> torch.Tensor | None:
        """Set the weight's and bias's ``grad`` from d = dL/d(output) (R, B, out) at input h; return dL/dh.
        ``bias_grad=False``: the bias's is set already.

        A product whose result is narrow (a latent's width of columns against hundreds of rows: the weight's
        gradient and the input's of a layer fed by z) is taken as its transpose, wide, and read back
        transposed: MKL's kernels for a narrow result ran at a quarter of their speed (bench/NOTES.md)."""
        h = self._runs(h)
        batch, (_, width_out, width_in) = d.shape[1], self.weight.shape
        if _narrow(width_out, width_in):  # dW = dᵀh as (hᵀd)ᵀ
            wide = torch.bmm(h.transpose(1, 2), d, out=self._buffer("dw", width_in, width_out))
            self.weight.grad.copy_(wide.transpose(1, 2))
        else:
            torch.bmm(d.transpose(1, 2), h, out=self.weight.grad)
        if bias_grad:
            torch.sum(d, 1, keepdim=True, out=self.bias.grad)
        if not input_grad:
            return None
        if _narrow(batch, width_in):  # dh = dW as (Wᵀdᵀ)ᵀ, a strided view of the wide product
            wide = self._buffer("dxT", width_in, batch)
            return torch.bmm(self.weight_t, d.transpose(1, 2), out=wide).transpose(1, 2)
        return torch.bmm(d, self.weight, out=self._buffer("dx", batch, width_in))

    def _runs(self, h: torch.Tensor) -> torch.Tensor:
        return h.expand(len(self.layers), *h.shape) if h.dim() == 2 else h  # the shared input batch (B, in)

    def _buffer(self, what: str, batch: int, width: int) -> torch.Tensor:
        key = (what, batch)
        if key not in self._buffers:
            self._buffers[key] = self.weight.new_empty(len(self.layers), batch, width)
        return self._buffers[key]

    def params(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.weight, self.bias


def _narrow(rows: int, cols: int) -> bool:
    """Whether a (rows, cols) product result is narrow enough to be taken as its transpose."""
    return 4 * cols <= rows


class StackedMLP:
    """The ``genlib.nn.MLP`` of R runs: stacked linear layers, ReLU in place between them, and the
    backward pass by hand (``backward``), which autograd would take through the same products. With
    ``compiled``, a ReLU's gradient and the bias gradient of the layer before it are one pass
    (``genlib.native``)."""

    def __init__(self, mlps: list[MLP], compiled: bool = False):
        self.steps = [StackedLinear([m[i] for m in mlps]) if isinstance(mlps[0][i], nn.Linear) else mlps[0][i]
                      for i in range(len(mlps[0]))]
        self.compiled = compiled

    def __call__(self, h: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output, and what ``backward`` needs: the input of every step and the last output."""
        seen = [h]
        for step in self.steps:
            seen.append(step(seen[-1]))  # a ReLU works in place: its input and output are one tensor
        return seen[-1], seen

    def backward(self, seen: list[torch.Tensor], d: torch.Tensor, input_grad: bool = True) -> torch.Tensor | None:
        """Every layer's gradients from d = dL/d(output), walking the steps back; return dL/d(input)."""
        bias_done = False  # the bias gradient of the next layer back is set already (with the ReLU's)
        for k in reversed(range(len(self.steps))):
            step = self.steps[k]
            if isinstance(step, StackedLinear):
                d = step.backward(seen[k], d, input_grad=input_grad or k > 0, bias_grad=not bias_done)
                bias_done = False
            elif self.compiled and k > 0 and isinstance(self.steps[k - 1], StackedLinear):
                d = native.relu_backward_bias(d, seen[k + 1], self.steps[k - 1].bias.grad)
                bias_done = True
            else:  # ReLU: the gradient passes where the output is positive (autograd's kernel, in place)
                d = torch.ops.aten.threshold_backward.grad_input(d, seen[k + 1], 0.0, grad_input=d)
        return d

    @property
    def linears(self) -> list[StackedLinear]:
        return [s for s in self.steps if isinstance(s, StackedLinear)]


class StackedVAE:
    """R MLP VAEs of one architecture (``signature``) as one: the VAE objective of each run and its gradient.

    ``step(x, beta)`` mirrors ``VAE.loss_parts`` line by line for R runs (the tests hold it to the VAE's
    own numbers and to autograd's gradients of each run's own loss): reconstruction and KL per example,
    β(step) · KL with each run's free bits. Its backward pass is written out (``StackedMLP.backward`` and
    the closed-form gradients of the reconstruction and the KL): at this size autograd's bookkeeping costs
    a good part of a step, and the hand-written pass has none. Where ``genlib.native`` has its compiled loops
    (float32 on the CPU), the element-wise parts between the products go through them: the same terms to
    rounding. ``compiled=False`` keeps to tensor operations."""

    def __init__(self, models: list[VAE], compiled: bool | None = None):
        first = models[0]
        self.likelihood, self.data_shape = first.likelihood, first.data_shape
        fits = native.fits(next(first.parameters())) and first.config.latent_dim <= native.MAX_DIM
        self.compiled = fits if compiled is None else compiled and fits
        self.encoder = StackedMLP([m.encoder for m in models], self.compiled)
        self.decoder = StackedMLP([m.decoder for m in models], self.compiled)
        self.out_shape = first._out_shape()  # x_logits of one example
        self.lam = torch.tensor([m.config.free_bits for m in models], device=first.device).view(-1, 1, 1)

    def linears(self) -> list[StackedLinear]:
        return self.encoder.linears + self.decoder.linears

    def parameters(self) -> list[torch.Tensor]:
        return [t for layer in self.linears() for t in layer.params()]

    @torch.no_grad()
    def step(self, x: torch.Tensor, beta: torch.Tensor) -> dict:
        """x (B, ...) the shared batch, beta (R, 1) each run's β at this step -> terms with a run axis first.

        Sets every stacked tensor's ``grad`` to the gradient of the runs' summed loss: each run's gradient
        is that of its own loss, the batch mean of recon + β · KL."""
        x = self.likelihood.prepare(x)
        h, seen_encoder = self.encoder(x.flatten(1))  # (R, B, 2D): (μ, logvar) of every run and example
        eps = torch.randn(h.shape[1], h.shape[2] // 2, device=h.device, dtype=h.dtype)  # (B, D): every run's draw
        z, std = native.reparameterize(h, eps) if self.compiled else _reparameterize(h, eps)
        out, seen_decoder = self.decoder(z)  # (R, B, n_out)
        recon, d_out = self._recon(out, x)  # (R, B) nats per example, d(Σ_r mean_b recon)/d out
        d_z = self.decoder.backward(seen_decoder, d_out)
        kl_step = native.gaussian_kl_step if self.compiled else self._kl_step
        terms, d_h = kl_step(h, std, eps, d_z, beta, self.lam, recon)
        self.encoder.backward(seen_encoder, d_h, input_grad=False)
        return terms

    @staticmethod
    def _kl_step(h, std, eps, d_z, beta, lam, recon) -> tuple[dict, torch.Tensor]:
        """The step's terms from recon (R, B) and the KL of each run's posterior, β(step) · KL with each run's
        free bits λ (R, 1, 1); and dL/d(μ, logvar) (R, B, 2D) from d_z = dL/dz (``native.gaussian_kl_step``
        does the same in one pass)."""
        width = h.shape[-1] // 2
        mu, logvar = h[..., :width], h[..., width:]  # (R, B, D) each
        var = std * std
        kl_per_dim = 0.5 * (mu * mu + var - 1.0 - logvar)  # (R, B, D): genlib.distributions.gaussian_kl
        kl = kl_per_dim.sum(-1)
        above = counted(kl_per_dim, lam)  # (R, 1, D)
        reg = beta * torch.where(above, kl_per_dim, lam).sum(-1)  # (R, B): free_bits for R runs
        # the KL's gradient where a dimension counts, β / B each: ∂KL/∂μ = μ, ∂KL/∂logvar = (σ² - 1) / 2
        weight = (beta.unsqueeze(-1) / h.shape[1]) * above  # (R, 1, D)
        d_h = torch.empty_like(h)  # dL/d(μ, logvar), written in its two halves
        torch.addcmul(d_z, weight, mu, out=d_h[..., :width])
        d_logvar = torch.addcmul((d_z * eps).mul_(std), weight, var - 1.0).mul_(0.5)
        d_h[..., width:] = d_logvar
        terms = {"loss": (recon + reg).mean(1), "recon": recon, "kl": kl, "elbo": -(recon + kl),
                 "kl_per_dim": kl_per_dim}
        return terms, d_h

    def _recon(self, out: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-log p(x | z) of each run and example (R, B), and its gradient (summed over runs, batch mean)
        with respect to the decoder's outputs (R, B, n_out)."""
        r, b = out.shape[:2]
        if self.likelihood.name == "bernoulli":
            return (native.bernoulli_nll if self.compiled else _bernoulli_nll)(out, x.flatten(1))
        with torch.enable_grad():  # another likelihood: autograd through its log-probability alone
            leaf = out.detach().requires_grad_()
            logits = self.likelihood.unflatten(leaf.reshape(r * b, -1), self.data_shape)
            recon = -self.likelihood.log_prob(logits.reshape(r, b, *self.out_shape), x)
            (grad,) = torch.autograd.grad(recon.sum() / b, leaf)
        return recon.detach(), grad


def _reparameterize(h: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z = μ + σ·ε and σ = exp(logvar / 2) (R, B, D) from h = (μ, logvar) (R, B, 2D) and the shared ε (B, D):
    genlib.distributions.reparameterize for R runs."""
    width = h.shape[-1] // 2
    std = torch.exp(0.5 * h[..., width:])
    return torch.addcmul(h[..., :width], std, eps), std


def _bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BCE with logits l (R, B, n) against x (B, n), summed per example (R, B), and its gradient with respect
    to l, averaged over the batch: (sigmoid(l) - x) / B.

    BCE(l, x) = max(l, 0) - x·l + log(1 + e^-|l|), as torch's kernel computes it; the last term's sum over
    the n values of an example is the log of their product (each factor in (1, 2]), one log per example
    instead of one per value, where the product cannot overflow (at most 2^n: n below the dtype's largest
    power of two)."""
    linear = torch.addcmul(logits.clamp_min(0.0), x, logits, value=-1.0).sum(-1)
    one_plus = logits.abs().neg_().exp_().add_(1.0)
    if logits.shape[-1] < math.log2(torch.finfo(logits.dtype).max):
        soft = one_plus.prod(-1).log_()
    else:
        soft = one_plus.log_().sum(-1)
    return linear + soft, torch.sigmoid(logits).sub_(x).div_(logits.shape[1])


class StackedRuns:
    """``TrainingRun``s of one group (``groups``) advanced as one stack. Their models and optimisers are
    read at the start of ``advance`` and written back at its end, so between calls each run is its own."""

    def __init__(self, runs: list):
        self.runs = runs

    def advance(self, n_steps: int, *, inspect=None) -> list[list[dict]]:
        """Train every run up to ``n_steps`` more steps as one computation; return each run's records. A run
        whose loss turns non-finite stops there as it would alone (``TrainingRun.advance``); the others go on.

        ``inspect(batch, step)``, for a stack of one run only, is ``TrainingRun.advance``'s: called before each
        step inside the run's random stream, with the run's model holding the weights of the step before."""
        lead = self.runs[0]
        if inspect is not None and len(self.runs) != 1:
            raise ValueError("inspect is for a stack of one run")
        if lead.done or n_steps <= 0:
            return [[] for _ in self.runs]
        n_steps = min(int(n_steps), lead.steps - lead.step)
        first = lead.step
        stack = StackedVAE([run.model for run in self.runs])
        optimizer = self._optimizer(stack)
        betas = [[run.model.beta(first + k) for run in self.runs] for k in range(n_steps)]  # (T, R) floats
        beta_t = torch.tensor(betas, device=lead.device).unsqueeze(-1)  # (T, R, 1)
        alive = list(range(len(self.runs)))  # runs still training
        steps: list[dict] = []  # each step's terms, a run axis first: the records are made at the end
        ran: list[tuple[list[int], float]] = []  # each step's runs that took it, and when it ended
        for run in self.runs:
            run.model.train()
        cuda = lead.device.type == "cuda"
        with torch.random.fork_rng(devices=[lead.device] if cuda else []), flush_denormals():  # as TrainingRun
            lead._use_noise_stream()
            start = time.perf_counter()
            if inspect is not None:  # the model's weights and their slices of the stack, for one copy a step
                pairs = [(p.detach(), lay(stacked[0].detach())) for stacked, p, lay in self._pairs(stack, 0)]
                own, slices = [p for p, _ in pairs], [s for _, s in pairs]
            for k in range(n_steps):
                batch = lead._next_batch()
                if inspect is not None:
                    if k:
                        torch._foreach_copy_(own, slices)  # the model's weights, as they are before this step
                    inspect(batch, first + k)
                t = stack.step(batch, beta_t[k])
                total = t["loss"].sum() if len(alive) == len(self.runs) else t["loss"][alive].sum()
                if not math.isfinite(total.item()):  # a run whose loss is not finite stops before this step
                    values = t["loss"].tolist()
                    for i in [i for i in alive if not math.isfinite(values[i])]:
                        self._stop(i, stack, optimizer, first + k + 1, values[i], ran)
                    alive = [i for i in alive if not self.runs[i].stopped]
                    if not alive:
                        break
                if len(alive) < len(self.runs):  # a stopped run's slice gets no gradient
                    gone = [i for i in range(len(self.runs)) if i not in alive]
                    for p in stack.parameters():
                        p.grad[gone] = 0.0
                optimizer.step()
                steps.append(t)
                ran.append((list(alive), time.perf_counter() - start))
            noise = torch.get_rng_state()
            cuda_noise = torch.cuda.get_rng_state(lead.device) if cuda else None
        seconds = time.perf_counter() - start
        for i in alive:
            self._write_back(i, stack, optimizer)
        records = summarize_runs(steps)  # records[k][i]: run i's record of the chunk's step k
        out = []
        for i, run in enumerate(self.runs):  # the batch and noise streams are the lead's: every run drew them
            run._noise_state = noise.clone()
            run._cuda_noise_state = None if cuda_noise is None else cuda_noise.clone()
            if run is not lead:
                _copy_batches(lead, run)
            mine = []
            for k, (took, end) in enumerate(ran):
                if i in took:
                    run.step += 1
                    mine.append({**records[k][i], "beta": betas[k][i], "step": run.step, "seconds": run.seconds + end})
            run.seconds += seconds
            run.history.extend(mine)
            out.append(mine)
        return out

    # ------------------------------------------------------------------ between the runs and the stack

    def _pairs(self, stack: StackedVAE, i: int):
        """(stacked tensor, run i's parameter, how to lay run i's slice out like the parameter)."""
        for layer in stack.linears():
            yield layer.weight, layer.layers[i].weight, lambda s: s
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

    def _stop(self, i: int, stack: StackedVAE, optimizer, failed_at: int, value: float, ran) -> None:
        """Run i's loss at step ``failed_at`` is ``value``, not finite: it stops, as ``TrainingRun`` stops."""
        run = self.runs[i]
        if all(torch.isfinite(stacked[i]).all() for stacked in stack.parameters()):
            self._write_back(i, stack, optimizer)
            kept = f"The weights are those of step {failed_at - 1}, the last finite ones. "
        else:  # an earlier step broke the weights: the run's own are those of this chunk's start
            for took, _ in ran:  # its steps of this chunk are undone: it keeps no record of them
                if i in took:
                    took.remove(i)
            kept = f"The weights were restored to step {run.step}, from before this chunk of training. "
        run.stopped = f"stopped at step {failed_at}: the loss became {value}. {kept}Try a smaller learning rate."


MOMENTS = ("exp_avg", "exp_avg_sq")  # Adam's per-element state, beside its step count


def _like_stacked(moment: torch.Tensor) -> torch.Tensor:
    """A run's Adam moment laid out like its slice of the stacked tensor (a bias's has a row axis)."""
    return moment if moment.dim() == 2 else moment.unsqueeze(0)


def _copy_batches(lead, run) -> None:
    """Put ``run``'s batch order where ``lead``'s is (they were the same before the stack's steps)."""
    run._order_rng.set_state(lead._order_rng.get_state())
    run._order, run._cursor = lead._order, lead._cursor
    run._block, run._block_start = lead._block, lead._block_start
