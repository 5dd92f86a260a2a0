"""One training step taken apart: each weighted term of the loss, and the gradient each one sends to every weight.

``dissect_step(model, x, step, seed)`` evaluates the model's loss on the batch ``x`` as its training step
would (``model.loss_parts``: the loss and the weighted parts it sums, e.g. reconstruction and β·KL) and
takes the gradient of the loss and of each part with respect to every parameter, by name. A part that does
not reach a parameter gives zeros there (the KL term never reaches the decoder). The parts' gradients sum
to the loss's, up to rounding. Nothing is changed: no weight, no optimiser state, no ``.grad``, and the
global random stream is restored, so a run that is dissected at every step trains exactly as ``fit`` does.

For the VAE family it also lays out the chain the step computed: the prepared batch x, the encoder's μ and
σ, the noise ε, the code z = μ + σ·ε and the reconstruction's mean (the same ε as the loss used).

``TrainingRun.dissect_next()`` (genlib.train) dissects the run's next step with that step's own batch and
noise, takes the step, and adds the size of each parameter's update.
"""

from __future__ import annotations

import torch

from genlib.models.base import _batch_mean
from genlib.models.vae import VAE


def _noise_devices(model) -> list:
    device = model.device
    return [device] if device.type == "cuda" else []


def dissect_step(model, x: torch.Tensor, step: int = 0, seed: int = 0, *,
                 rng_state: torch.Tensor | None = None) -> dict:
    """The loss terms of one step on ``x`` and the gradient of each weighted part, for every parameter.

    Returns ``{"terms", "per_dim", "parts", "grads", "chain"}``: ``terms`` name -> float (batch means,
    ``loss`` included), ``per_dim`` name -> list (terms with a last axis, e.g. ``kl_per_dim``), ``parts``
    name -> float (the weighted parts whose sum is ``loss``), ``grads`` part name (and ``"loss"``) ->
    {parameter name -> gradient tensor}, ``chain`` the step's intermediate tensors (VAE family) or None.
    The model's noise is drawn from ``torch.manual_seed(seed)``, or from ``rng_state`` when given (a run's
    own stream, to dissect the very step it takes next).
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    x = x.to(model.device)
    was_training = model.training
    model.train()
    try:
        with torch.random.fork_rng(devices=_noise_devices(model)):
            _seed(model, seed, rng_state)
            terms, parts = model.loss_parts(x, step)
            grads = {name: _grads(value, named, params) for name, value in {"loss": terms["loss"], **parts}.items()}
            chain = _chain(model, x, seed, rng_state)
    finally:
        model.train(was_training)
    scalars, per_dim = {}, {}
    for key, value in terms.items():
        if isinstance(value, torch.Tensor):
            mean = _batch_mean(value.detach())
            (scalars if mean.dim() == 0 else per_dim)[key] = mean.tolist()
        elif isinstance(value, int | float):
            scalars[key] = float(value)
    return {"terms": scalars, "per_dim": per_dim, "parts": {k: float(v.detach()) for k, v in parts.items()},
            "grads": grads, "chain": chain}


def _seed(model, seed: int, rng_state) -> None:
    if rng_state is not None:
        torch.set_rng_state(rng_state)
    else:
        torch.manual_seed(int(seed))


def _grads(value: torch.Tensor, named, params) -> dict[str, torch.Tensor]:
    """d value / d parameter for every parameter (zeros where ``value`` does not depend on it)."""
    if not value.requires_grad:  # a part made of constants only (a free-bits floor): it reaches nothing
        return {name: torch.zeros_like(p) for name, p in named}
    found = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
    return {name: torch.zeros_like(p) if g is None else g.detach() for (name, p), g in zip(named, found, strict=True)}


@torch.no_grad()
def _chain(model, x: torch.Tensor, seed: int, rng_state) -> dict | None:
    """x, μ, σ, ε, z and the reconstruction of the step, for a model with ``encode`` and a likelihood.

    The noise is drawn again from the same state as the loss's: a VAE's first draw is its ε.
    """
    if not isinstance(model, VAE) or type(model).forward is not VAE.forward:  # one Gaussian code z per x
        return None
    prepared = model.likelihood.prepare(x)
    mu, logvar = model.encode(prepared)
    _seed(model, seed, rng_state)
    eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype)  # as distributions.reparameterize draws it
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * eps
    return {"x": prepared, "mu": mu, "sigma": sigma, "eps": eps, "z": z,
            "recon": model.likelihood.mean(model.decode(z))}


def grad_norms(dissection: dict, groups: dict[str, str]) -> dict[str, dict[str, float]]:
    """part -> group -> the L2 norm of that part's gradient over the parameters whose name starts with a
    group's prefix (``{"encoder": "encoder.", "decoder": "decoder."}``)."""
    def norm(grads, prefix):
        return sum(float((g.double() ** 2).sum()) for name, g in grads.items() if name.startswith(prefix)) ** 0.5

    return {part: {group: norm(grads, prefix) for group, prefix in groups.items()}
            for part, grads in dissection["grads"].items()}


def update_sizes(update: dict[str, torch.Tensor]) -> dict[str, float]:
    """layer -> the L2 norm of its parameters' update (a parameter ``a.b.weight`` belongs to layer ``a.b``)."""
    layers: dict[str, float] = {}
    for name, delta in update.items():
        layer = name.rsplit(".", 1)[0]
        layers[layer] = layers.get(layer, 0.0) + float((delta.double() ** 2).sum())
    return {layer: value ** 0.5 for layer, value in layers.items()}


def summary(dissection: dict, examples: int = 8) -> dict:
    """A dissection as plain numbers for a page: the terms, the parts, each part's gradient norm in each of
    the model's top-level modules (``encoder``, ``decoder``, ...), the update per layer (when the step was
    taken) and the chain's first ``examples`` rows as numpy arrays. No tensors are kept."""
    names = next(iter(dissection["grads"].values()))
    modules = list(dict.fromkeys(name.split(".", 1)[0] for name in names))
    chain = dissection.get("chain")
    return {"terms": dict(dissection["terms"]), "per_dim": dict(dissection["per_dim"]),
            "parts": dict(dissection["parts"]),
            "grad_norms": grad_norms(dissection, {m: f"{m}." for m in modules}),
            "update": update_sizes(dissection["update"]) if "update" in dissection else {},
            "step": dissection.get("record", {}).get("step"),
            "chain": None if chain is None else {k: v[:examples].detach().cpu().numpy() for k, v in chain.items()}}
