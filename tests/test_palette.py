"""The palette: one module, and its series colours stay apart for viewers with a colour-vision deficiency
(simulated with the matrices of Machado, Oliveira & Fernandes 2009, severity 1), measured as CIELAB ΔE."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from ui import palette

ROOT = Path(__file__).resolve().parent.parent
SIMULATIONS = {  # linear-RGB matrices, severity 1.0 (Machado et al. 2009, Table 1)
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SERIES = 6  # the first six series colours must stay apart (pages draw at most five runs side by side)
MIN_DELTA_E = 12.0


def _linear(colour: str) -> np.ndarray:
    srgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _lab(linear: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest_pair(colours, matrix) -> float:
    labs = [_lab(np.clip(np.array(matrix) @ _linear(c), 0, 1)) for c in colours]
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(labs, 2))


@pytest.mark.parametrize("kind", SIMULATIONS)
def test_series_colours_stay_apart_under_colour_blindness(kind):
    assert _closest_pair(palette.CATEGORICAL[:SERIES], SIMULATIONS[kind]) >= MIN_DELTA_E


def test_the_check_would_catch_a_red_green_palette():
    old = ("#6c4ee3", "#e3564e", "#2a9d8f", "#e9a23b", "#3b82c4", "#4caf50")  # the palette before this one
    assert min(_closest_pair(old, m) for m in SIMULATIONS.values()) < MIN_DELTA_E


def test_figures_take_their_colours_from_the_palette_module():
    hex_colour = re.compile(r"#[0-9a-fA-F]{6}\b")
    allowed = {"palette.py", "drawing.py"}  # drawing.py: the canvas's white ink on black, not a figure
    offenders = [f"{p.name}: {m}" for p in (ROOT / "ui").glob("*.py") if p.name not in allowed
                 for m in hex_colour.findall(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders
