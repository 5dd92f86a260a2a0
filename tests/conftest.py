"""Shared fixtures: small data and tiny models, so every test module stays well under 30 s on 2 cores."""

from __future__ import annotations

import pytest
import torch

from genlib.data import load_dataset
from genlib.models import build


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    """One torch thread: the test machines are shared, and tiny models gain nothing from more."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """The digits train split (seed 0): 1437 images of 1 x 8 x 8 in [0, 1]."""
    return load_dataset("digits", "train", seed=0)


@pytest.fixture(scope="session")
def digits_test():
    return load_dataset("digits", "test", seed=0)


@pytest.fixture
def tiny_vae(digits):
    """A small MLP VAE for digits (latent 4, one hidden layer of 64), freshly built for each test."""
    return build("vae", digits.shape, seed=0, latent_dim=4, hidden=(64,))
