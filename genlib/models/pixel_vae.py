"""The PixelVAE: a VAE whose decoder is autoregressive over pixels, strong enough to ignore z.

Gulrajani et al. (2017), "PixelVAE: A Latent Variable Model for Natural Images", at toy scale: the VAE
decodes z into conditioning for a small PixelCNN (van den Oord et al. 2016), so
p(x | z) = prod_i p(x_i | x_<i, z). The PixelCNN alone is a good model of binarised digits, so with
β = 1 from the start the ELBO is best served by ignoring z: posterior collapse (see genlib.collapse).

It is the VAE with two hooks overridden, ``make_networks`` and ``decode``, and its likelihood wrapped in
:class:`AutoregressiveLikelihood`; the objective, the KL, free bits and β schedules are the VAE's.

By default z enters as one bias per channel, the same at every pixel ("global" conditioning). With a bias
map per pixel ("spatial") z is so easy to use that on 8 x 8 digits our runs did not collapse at β = 1 (400 steps);
measured on the test split after 800 steps (recipes collapse-*-digits), the collapsed run's ELBO (-17.9
nats) beats the free-bits run's (-18.4): ignoring z really is the better bound here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genlib.models.vae import VAE, VAEConfig
from genlib.nn import MLP, ConvDecoder, MaskedConv2d
from genlib.objectives import Likelihood


class AutoregressiveLikelihood(nn.Module):
    """p(x | z) = prod_i p(x_i | x_<i, h(z)): a small PixelCNN over the pixels in raster order whose every
    layer is biased by the conditioning ``h`` (B x F x H x W) the VAE decodes from z (van den Oord et al.
    2016, "Conditional Image Generation with PixelCNN Decoders": Eq. 4 when h is the same at every pixel,
    Eq. 5 when it is a map). Each pixel's distribution is the wrapped ``base`` likelihood's (Bernoulli or
    categorical), so log p(x | z) is still in nats per image."""

    def __init__(self, base: Likelihood, data_shape: tuple[int, int, int], *, channels: int, layers: int,
                 first_kernel: int):
        super().__init__()
        if base.name == "gaussian" or data_shape[0] != 1:
            raise ValueError("the autoregressive decoder models one-channel images with a bernoulli or "
                             f"categorical likelihood; got {base.name} on data of shape {data_shape}")
        self.base, self.data_shape = base, tuple(data_shape)
        self.first = MaskedConv2d(1, channels, first_kernel, "A")  # pixel i sees only pixels before it
        self.hidden = nn.ModuleList(MaskedConv2d(channels, channels, 3, "B") for _ in range(layers))
        self.out = nn.Conv2d(channels, base.n_params, 1)

    # the wrapped likelihood's description
    name = property(lambda self: self.base.name)
    n_params = property(lambda self: self.base.n_params)
    levels = property(lambda self: self.base.levels)
    discrete = property(lambda self: self.base.discrete)

    def prepare(self, x):
        return self.base.prepare(x)

    def unit(self, data_shape) -> str:
        return self.base.unit(data_shape)

    def describe(self) -> str:
        return f"autoregressive (PixelCNN) over pixels, each a {self.base.describe()}"

    def logits(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x (N, 1, H, W) prepared, h (N, F, H, W) -> x_logits laid out as the base likelihood expects."""
        a = self.first(x) + h
        for layer in self.hidden:
            a = layer(torch.relu(a)) + h
        out = self.out(torch.relu(a))  # (N, n_params, H, W)
        return out if self.base.n_params == 1 else out.unsqueeze(2)  # categorical: (N, K, 1, H, W)

    def log_prob(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | z) in nats per image: h (..., B, F, H, W) from ``decode``, x (B, 1, H, W) prepared."""
        lead = h.shape[:-3]
        x = x.expand(*lead, *x.shape[1:]).reshape(-1, *self.data_shape)  # (N, 1, H, W), a copy per sample
        x_logits = self.logits(x, h.reshape(-1, *h.shape[-3:]))
        return self.base.log_prob(x_logits, x).reshape(lead)

    @torch.no_grad()
    def _draw(self, h: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling, one pixel at a time: (draws, each pixel's mean given the pixels drawn before it)."""
        lead = h.shape[:-3]
        h = h.reshape(-1, *h.shape[-3:])
        x = h.new_zeros(h.shape[0], *self.data_shape)
        means = torch.zeros_like(x)
        for i in range(self.data_shape[1]):
            for j in range(self.data_shape[2]):
                x_logits = self.logits(x, h)
                means[..., i, j] = self.base.mean(x_logits)[..., i, j]
                x[..., i, j] = self.base.sample(x_logits, generator)[..., i, j]
        return x.reshape(*lead, *self.data_shape), means.reshape(*lead, *self.data_shape)

    def mean(self, h: torch.Tensor) -> torch.Tensor:
        """What a picture of p(x | z) shows: E[x | z] has no closed form for an autoregressive model, so
        this draws the pixels in order (seed 0) and shows each pixel's mean given those before it."""
        return self._draw(h, torch.Generator(device=h.device).manual_seed(0))[1]

    def sample(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self._draw(h, generator)[0]


@dataclass
class PixelVAEConfig(VAEConfig):
    pixel_channels: int = 32  # F: width of the PixelCNN and number of conditioning maps decoded from z
    pixel_layers: int = 2  # masked 3x3 "B" layers after the first "A" layer
    first_kernel: int = 15  # the "A" layer's kernel: 15 sees 7 rows above and 7 pixels to the left
    conditioning: str = "global"  # "global": z biases each channel alike at every pixel; "spatial": per pixel

    def __post_init__(self):
        super().__post_init__()
        if self.conditioning not in ("global", "spatial"):
            raise ValueError(f"conditioning must be 'global' or 'spatial', got {self.conditioning!r}")
        if self.pixel_channels < 1 or self.pixel_layers < 0 or self.first_kernel < 1 or self.first_kernel % 2 == 0:
            raise ValueError("pixel_channels must be >= 1, pixel_layers >= 0 and first_kernel a positive odd "
                             f"number; got {self.pixel_channels}, {self.pixel_layers}, {self.first_kernel}")


class PixelVAE(VAE):
    """A VAE with an autoregressive decoder (see the module docstring): strong enough to ignore z."""

    Config = PixelVAEConfig
    EXAMPLE_CONFIG = {"latent_dim": 4, "hidden": (64,), "pixel_channels": 8, "pixel_layers": 1}

    def __init__(self, data_shape: tuple[int, ...], config: PixelVAEConfig):
        super().__init__(data_shape, config)
        self.likelihood = AutoregressiveLikelihood(self.likelihood, self.data_shape, channels=config.pixel_channels,
                                                   layers=config.pixel_layers, first_kernel=config.first_kernel)

    def make_networks(self):
        """The VAE's encoder; a decoder from z to F conditioning maps (B, F, H, W)."""
        c, f = self.config, self.config.pixel_channels
        if len(self.data_shape) != 3:
            raise ValueError(f"PixelVAE is for images (C, H, W), got data of shape {self.data_shape}")
        encoder, _ = super().make_networks()
        if c.conditioning == "global":
            return encoder, MLP(c.latent_dim, tuple(reversed(c.hidden)), f)
        if c.network == "conv":
            return encoder, ConvDecoder(c.latent_dim, c.hidden, self.data_shape, f)
        return encoder, MLP(c.latent_dim, tuple(reversed(c.hidden)), f * math.prod(self.data_shape[1:]))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., D) -> conditioning maps (..., F, H, W); the likelihood turns them into pixels."""
        lead, (_, height, width), f = z.shape[:-1], self.data_shape, self.config.pixel_channels
        h = self.decoder(z.reshape(-1, z.shape[-1]))
        if self.config.conditioning == "global":  # one bias per channel, the same at every pixel
            return h.reshape(*lead, f, 1, 1).expand(*lead, f, height, width)
        return h.reshape(*lead, f, height, width)
