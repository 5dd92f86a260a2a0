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


def summarize(terms: dict) -> dict:
    """Turn a loss dict into a step record of plain numbers: batch means; per-dimension terms as lists.

    The float32 scalars are read out together (one stack, one ``tolist``) rather than one ``item()`` each;
    the numbers are the same.
    """
    record, scalars = {}, {}
    for key, value in terms.items():
        if isinstance(value, torch.Tensor):
            value = value.detach()
            if value.dim() <= 1:
                value = value if value.dim() == 0 else value.mean()
                if value.dtype == torch.float32:
                    scalars[key] = value
                    record[key] = None  # filled below, keeping the key order
                else:
                    record[key] = value.item()
            else:
                record[key] = value.flatten(0, -2).mean(0).tolist()
        else:
            record[key] = value
    if scalars:
        record.update(zip(scalars, torch.stack(list(scalars.values())).tolist(), strict=True))
    return record


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

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        return [adam(self.parameters(), lr)]

    def training_step(self, x: torch.Tensor, step: int, optimizers: list[torch.optim.Optimizer]) -> dict:
        """One step on the batch ``x``; returns the step's record (plain floats)."""
        terms = self.loss(x, step)
        optimize(optimizers[0], terms["loss"])
        return summarize(terms)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def config_dict(self) -> dict:
        return asdict(self.config)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
