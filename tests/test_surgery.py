"""ui.surgery under AppTest: ELBO surgery over a run's recorded steps (its numbers those of
genlib.metrics.kl_decomposition at each step), for a page's live runs, and for models with no timeline."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest


def _over_a_timeline():
    import streamlit as st

    from genlib.data import load_dataset
    from genlib.models import build
    from genlib.timeline import Timeline
    from genlib.train import TrainingRun
    from ui.surgery import surgery_panel

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    if "tl" not in st.session_state:
        run = TrainingRun(build("vae", train.shape, latent_dim=2, hidden=(32,)), train, steps=60, seed=0)
        tl = Timeline(run)
        for _ in range(3):
            run.advance(20)
            tl.record()
        st.session_state.tl = tl
    surgery_panel("t", test, timeline=st.session_state.tl)


def test_surgery_over_a_timeline_is_kl_decomposition_at_each_step():
    from genlib.data import load_dataset
    from genlib.metrics import kl_decomposition

    at = AppTest.from_function(_over_a_timeline, default_timeout=120).run()
    assert not at.exception and not at.get("plotly_chart")  # off until asked
    at.toggle(key="t_surgery").set_value(True).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    fig = json.loads(charts[0].proto.spec)
    by_name = {t["name"]: t for t in fig["data"]}
    tl = at.session_state.tl
    steps = tl.steps()
    assert by_name["I(x; z)"]["x"] == steps
    test = load_dataset("digits", "test")
    last = kl_decomposition(tl.view(steps[-1]).model, test, max_examples=1000, samples=2)
    assert abs(by_name["I(x; z)"]["y"][-1] - last["mutual_information"]) < 1e-9
    assert abs(by_name["KL (their sum)"]["y"][-1] - last["kl"]) < 1e-9
    at.run()  # a rerun computes nothing again: the numbers are cached per (timeline, step)
    assert not at.exception and len(at.get("plotly_chart")) == 1


def _models():
    from genlib import pretrained
    from genlib.data import load_dataset
    from ui.surgery import surgery_panel

    surgery_panel("m", load_dataset("digits", "test"), models={"VAE": pretrained.load("vae-digits"),
                                                                "β-VAE": pretrained.load("beta-vae-digits"),
                                                                "PixelCNN": pretrained.load("pixelcnn-digits")})


def test_surgery_of_models_draws_bars_and_skips_models_without_a_code():
    at = AppTest.from_function(_models, default_timeout=120)
    at.query_params["m_surgery"] = "true"
    at.run()
    assert not at.exception
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert fig["data"][0]["x"] == ["VAE", "β-VAE"]


def _live_runs():
    import streamlit as st

    from genlib.data import load_dataset
    from genlib.models import build
    from genlib.timeline import Timeline
    from genlib.train import TrainingRun
    from ui import live
    from ui.surgery import surgery_panel

    train = load_dataset("digits", "train")
    s = live.state("page")
    if s.runs is None:
        run = TrainingRun(build("vae", train.shape, latent_dim=3, hidden=(32,)), train, steps=40, seed=0)
        tl = Timeline(run)
        run.advance(40)
        tl.record()
        s.runs, s.timelines = {"vae": run}, {"vae": tl}
    st.write("steps", s.timelines["vae"].steps())
    surgery_panel("page", load_dataset("digits", "test"))


def test_surgery_reads_a_pages_live_runs():
    at = AppTest.from_function(_live_runs, default_timeout=120).run()
    at.toggle(key="page_surgery").set_value(True).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
