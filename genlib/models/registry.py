"""Model names -> (class, preset config). A variant that is only a config is a preset, not a class."""

from __future__ import annotations

import dataclasses

import torch

from genlib.models.aae import AAE
from genlib.models.base import GenerativeModel
from genlib.models.hierarchical import HierarchicalVAE
from genlib.models.info_vae import InfoVAE
from genlib.models.mi_vae import MIVAE
from genlib.models.multimodal import MultimodalVAE
from genlib.models.pixel_vae import PixelVAE
from genlib.models.pixelcnn import GatedPixelCNN, PixelCNN
from genlib.models.vae import VAE

# name -> (class, preset). Presets fill config keys the caller does not give.
REGISTRY: dict[str, tuple[type[GenerativeModel], dict]] = {
    "vae": (VAE, {}),
    "multimodal-vae": (MultimodalVAE, {}),
    "info-vae": (InfoVAE, {}),
    "mmd-vae": (InfoVAE, {"alpha": 1.0, "lambda_": 10.0}),
    "mi-vae": (MIVAE, {}),  # genlib/models/mi_vae.py: the notes' MI loss, -γ·I(x; z) added to the VAE's
    "aae": (AAE, {}),
    "pixelcnn": (PixelCNN, {}),
    "gated-pixelcnn": (GatedPixelCNN, {}),
    "hierarchical-vae": (HierarchicalVAE, {}),
    "pixel-vae": (PixelVAE, {}),  # genlib/models/pixel_vae.py: the posterior-collapse page's strong decoder
}


def build(name: str, data_shape: tuple[int, ...], *, seed: int | None = 0, **config) -> GenerativeModel:
    """Build model ``name`` for examples of shape ``data_shape`` with ``config`` overriding its preset.

    Weights are initialised from ``seed`` (without touching the global RNG); ``seed=None`` uses it.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(REGISTRY)}")
    cls, preset = REGISTRY[name]
    known = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{name} has no setting {', '.join(map(repr, unknown))}; "
                         f"its settings are: {', '.join(sorted(known))}")
    cfg = cls.Config(**{**preset, **config})
    if seed is None:
        model = cls(tuple(data_shape), cfg)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(tuple(data_shape), cfg)
    model.name = name
    return model
