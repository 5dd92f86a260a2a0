"""The one palette of every figure: colour-blind safe (Okabe & Ito 2008), with roles named. No streamlit here.

``CATEGORICAL`` is the order series take (its pairs stay apart under the three common colour-vision
deficiencies: ``tests/test_palette.py`` simulates them). The continuous scales are perceptually uniform
(viridis, cividis) or a red-blue diverging one; the gray scale draws the digits.
"""

from __future__ import annotations

BLUE, VERMILLION, GREEN, ORANGE, SKY, PURPLE, GREY, YELLOW = (
    "#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#7A7A7A", "#F0E442")
CATEGORICAL = (BLUE, VERMILLION, GREEN, ORANGE, SKY, PURPLE, GREY, YELLOW)
BLACK, WINE = "#1B1B1B", "#882255"
LABELS = (BLUE, VERMILLION, GREEN, ORANGE, SKY, PURPLE, GREY, YELLOW, BLACK, WINE)  # ten classes (digits)

CURSOR = VERMILLION  # the replay cursor on step curves
HIGHLIGHT = ORANGE  # a tour stop's outlined element
PRODUCT = BLACK  # a product of experts
PRIOR = GREY
MUTED = "#BBBBBB"  # guide lines (equal-ELBO lines)
PAPER = "#F2F2F2"  # empty cells of a grid
PRIOR_EDGE = "#1F3B73"  # the edge of prior draws over a red-blue surface


def rgba(colour: str, alpha: float) -> str:
    """``#RRGGBB`` as ``rgba(r, g, b, alpha)``."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
