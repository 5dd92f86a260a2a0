"""Several models side by side in pictures: each one's reconstructions of the same inputs and its samples from
the same prior noise, one row per model (the Annealing lab's strategies, at the step shown)."""

from __future__ import annotations

import streamlit as st

from genlib import pictures
from ui import figures
from ui.state import plot

STRIP = 8  # inputs and prior samples per model


def model_strip(models: dict, x, seed: int, step: int | None, key: str = "strip") -> None:
    """Reconstructions of ``x[:STRIP]`` and ``STRIP`` prior samples drawn from ``seed``, a row per model of
    ``models`` (name -> model), titled with ``step`` where one is given."""
    where = f" at step {step:,}" if step is not None else ""
    likelihood = next(iter(models.values())).likelihood
    x = x[:STRIP]
    left, right = st.columns(2)
    with left:
        grid = [*pictures.as_images(x, likelihood)]
        for model in models.values():
            grid += [*pictures.reconstructions(model, x)]
        plot(figures.image_grid(grid, STRIP, f"Test images and each run's reconstructions{where}",
                                row_labels=["data", *models]), key=f"{key}_recons")
    with right:
        grid = []
        for model in models.values():
            grid += [*pictures.prior_samples(model, STRIP, seed)]
        plot(figures.image_grid(grid, STRIP, f"Samples from the same prior noise{where}", row_labels=[*models]),
             key=f"{key}_samples")
