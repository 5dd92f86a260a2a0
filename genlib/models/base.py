"""What every genlib model shares: its config, its optimisers, and one training step.

The training loop (``genlib.train``) only ever calls ``configure_optimizers`` and ``training_step``,
so a model with several optimisers (the adversarial autoencoder) trains in the same loop as a VAE.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch
from torch import nn

from genlib.nn import adam


class NonFiniteLoss(FloatingPointError):
    """Raised before an optimiser step whose loss is NaN or infinite; the step is not taken."""


def optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One gradient step on ``loss``, refused (NonFiniteLoss) if the loss is not finite."""
    value = loss.item()
    if not math.isfinite(value):
        raise NonFiniteLoss(f"the loss became {value}")
    for group in optimizer.param_groups:  # zero_grad(set_to_none=True) without its profiler hook (~60 us a step)
        for p in group["params"]:
            p.grad = None
    loss.backward()
    optimizer.step()


def detach(terms: dict) -> dict:
    """A step's terms with every tensor cut from the autograd graph: what ``training_step`` returns."""
    return {key: value.detach() if isinstance(value, torch.Tensor) else value for key, value in terms.items()}


def summarize(steps: list[dict]) -> list[dict]:
    """Turn the terms of consecutive steps into step records of plain numbers: batch means, and
    per-dimension terms (B, ..., D) as lists of their means over all but the last axis.

    A chunk's steps are summarised together: a term with the same shape in every step is stacked,
    reduced once and read out with one ``tolist``. The numbers are those of reducing each step on its
    own (the tests compare them); it costs one set of calls a chunk rather than one a step.
    """
    records = [dict.fromkeys(terms) for terms in steps]  # keeps each step's key order
    for key in dict.fromkeys(key for terms in steps for key in terms):
        having = [i for i, terms in enumerate(steps) if key in terms]
        values = [steps[i][key] for i in having]
        if all(isinstance(v, torch.Tensor) for v in values) and len({v.shape for v in values}) == 1:
            values = _batch_mean(torch.stack(values), lead=1).tolist()
        else:
            values = [_batch_mean(v).tolist() if isinstance(v, torch.Tensor) else v for v in values]
        for i, value in zip(having, values, strict=True):
            records[i][key] = value
    return records


def summarize_runs(steps: list[dict]) -> list[list[dict]]:
    """``summarize`` for R runs stepped as one (``genlib.batched``): each step's terms carry a run axis
    first, (R, B, ...); returns records[k][i], run i's record of step k, the numbers of ``summarize``."""
    if not steps:
        return []
    columns = {key: _batch_mean(torch.stack([terms[key] for terms in steps]), lead=2).tolist() for key in steps[0]}
    n_runs = len(next(iter(steps[0].values())))
    return [[{key: values[k][i] for key, values in columns.items()} for i in range(n_runs)] for k in range(len(steps))]


def _batch_mean(value: torch.Tensor, lead: int = 0) -> torch.Tensor:
    """A term's mean over its batch axis (after ``lead`` leading axes): a scalar stays as it is, (B,)
    gives a scalar, (B, ..., D) gives (D,)."""
    if value.dim() - lead >= 2:
        return value.flatten(lead, -2).mean(lead)
    if value.dim() - lead == 1:
        return (value if value.is_floating_point() else value.double()).mean(lead)
    return value


class GenerativeModel(nn.Module):
    """Base class: stores ``data_shape`` and ``config``; subclasses define ``loss(x, step)``."""

    name = "model"  # the registry name; set by genlib.models.build
    Config: type
    EXAMPLE_DATA = "digits"  # a dataset this model trains on: what registry-wide tests use
    EXAMPLE_CONFIG: dict = {}  # a tiny config for those tests (fast on a CPU)

    def __init__(self, data_shape: tuple[int, ...], config):
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.config = config

    def loss(self, x: torch.Tensor, step: int = 0) -> dict:
        """A dict with the scalar ``loss`` to minimise and its per-example terms (nats per example)."""
        raise NotImplementedError

    def loss_parts(self, x: torch.Tensor, step: int = 0) -> tuple[dict, dict]:
        """``loss(x, step)`` and the weighted parts it sums: name -> scalar, adding up to ``loss``.

        What a step's dissection takes the gradient of, part by part (``genlib.dissect``). A model whose
        loss is one term has one part, the loss itself; the VAE family splits it into reconstruction and
        each weighted regulariser.
        """
        terms = self.loss(x, step)
        return terms, {"loss": terms["loss"]}

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        return [adam(self.parameters(), lr)]

    def training_step(self, x: torch.Tensor, step: int, optimizers: list[torch.optim.Optimizer]) -> dict:
        """One step on the batch ``x``; returns its terms, detached (``summarize`` makes them a record)."""
        terms = self.loss(x, step)
        optimize(optimizers[0], terms["loss"])
        return detach(terms)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def config_dict(self) -> dict:
        return asdict(self.config)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
