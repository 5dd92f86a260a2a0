"""AppTest: the PixelCNN page draws masks, receptive fields with the blind spot, samples, and trains live."""

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from genlib import pretrained
from ui.figures_pixelcnn import CANVAS_SCALE, UNDRAWN, sampling_animation

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "60_pixelcnn.py")


def page(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def traces(at: AppTest, key: str) -> list[dict]:
    chart = next(c for c in at.get("plotly_chart") if json.loads(c.proto.spec) and c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)["data"]


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def test_opens_with_masks_fields_and_the_objective():
    at = page().run()
    assert not at.exception and not at.error
    latex = " ".join(x.value for x in at.latex)
    assert r"\log p_\theta\big(x_{b,i}\mid x_{b,<i}\big)" in latex and r"D\,\ln 2" in latex
    m = metrics(at)
    # pixel (5, 3), 3 layers of 3x3: the gated model sees 24 past pixels, the plain one misses 3 above-right
    assert m == {"Pixels seen: PixelCNN": "21", "Pixels seen: gated": "24", "Blind spot (PixelCNN)": "3"}
    assert "the same maps" in " ".join(c.value for c in at.caption)
    assert len(traces(at, "pc_masks")) == 6  # A, B and the two stacks of each
    if {"pixelcnn-digits", "gated-pixelcnn-digits"} <= set(pretrained.names()):
        anim = next(c for c in at.get("plotly_chart") if "pc_anim" in c.proto.id)
        assert len(json.loads(anim.proto.spec)["frames"]) == 65  # the empty canvas + one frame per pixel
        assert "bits/dim on the test digits" in " ".join(c.value for c in at.caption)


def test_colour_masks_deep_gated_and_settings_from_the_url():
    at = page(pc_colours="3", pc_kernel="5", pc_depth="8", pc_row="7", pc_col="7", pc_model="Gated PixelCNN",
              pc_half="left", pc_n="4").run()
    assert not at.exception and not at.error
    m = metrics(at)
    assert m["Pixels seen: gated"] == "63"  # the whole past of the last pixel
    assert m["Blind spot (PixelCNN)"] == "0"  # at the last pixel, 8 layers of 5x5 reach everything
    assert at.radio(key="pc_colours").value == 3


def test_live_training_draws_bits_per_dim_for_both_models():
    at = page(pc_steps="200", pc_channels="8", pc_layers="2").run()
    at.button(key="pixelcnn-train").click().run()
    assert not at.exception and not at.error
    at.run()
    assert not at.exception
    names = [t.get("name") for t in traces(at, "pc_curve")]
    assert names == ["PixelCNN (batch)", "Gated PixelCNN (batch)"]
    assert all(len(t["y"]) > 0 for t in traces(at, "pc_curve"))


def test_sampling_animation_follows_the_theme_and_leaves_room_for_its_controls():
    frames = np.full((3, 2, 1, 2, 2), np.nan)  # T=3 canvases of 2 samples of 2 x 2: one pixel drawn per frame
    frames[1:, :, 0, 0, 0] = 1.0
    frames[2:, :, 0, 0, 1] = 0.0
    fig = sampling_animation(frames, ncols=2, title="samples")
    # nothing paints a background of its own: the gaps between samples show the page's (light or dark) theme,
    # and a pixel not drawn yet has a see-through colour of its own, apart from drawn black (0) and white (1)
    assert fig.layout.plot_bgcolor is None and fig.layout.paper_bgcolor is None
    first = np.array(fig.frames[0].data[0].z, dtype=float)
    assert np.isnan(first[:, 2]).all() and (first[:, [0, 1, 3, 4]] == UNDRAWN).all()
    last = np.array(fig.frames[-1].data[0].z, dtype=float)
    assert last[0, 0] == 1.0 and last[0, 1] == 0.0 and last[1, 0] == UNDRAWN
    np.testing.assert_array_equal(np.array(fig.data[0].z, dtype=float), last)  # opens on the finished samples
    # a frame is merged into the trace by plotly.js: its z alone, the colours and hover text stay the trace's
    assert all(set(f.data[0].to_plotly_json()) == {"type", "z"} for f in fig.frames)
    undrawn = CANVAS_SCALE[0][1]
    assert fig.data[0].zmin == UNDRAWN and undrawn.startswith("rgba(") and float(undrawn[:-1].split(",")[-1]) < 1
    # the buttons sit above the slider, both inside the bottom margin (not clipped), no button lit up
    buttons, slider = fig.layout.updatemenus[0], fig.layout.sliders[0]
    assert buttons.active == -1 and buttons.y == slider.y == 0 and buttons.yanchor == slider.yanchor == "top"
    assert buttons.pad.t + 40 <= slider.pad.t  # a row of buttons is about 35 px high
    assert slider.pad.t + 80 <= fig.layout.margin.b  # label, track, ticks and their numbers: about 75 px
    assert fig.layout.height - fig.layout.margin.t - fig.layout.margin.b >= 120  # the samples keep their size
