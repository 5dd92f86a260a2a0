"""Step, Step ×10, slow motion, the replay slider and the dissection on every live page, under AppTest."""

from __future__ import annotations

import json

import pytest
from apptest import open_page, progress_step

from ui import live

URL = {"50_product_of_experts.py": {"source": "train here"}}  # where the live controls need a setting
LIVE_PAGES = {  # page -> its live key
    "10_elbo.py": "elbo", "30_annealing_lab.py": "lab", "35_posterior_collapse.py": "collapse",
    "40_objectives.py": "objectives", "48_adversarial_autoencoder.py": "aae", "50_product_of_experts.py": "poe",
    "60_pixelcnn.py": "pixelcnn", "70_hierarchical_vae.py": "hvae", "90_your_data.py": "your-data",
}


def _charts(at) -> dict:
    """chart key -> its data (the figure's traces), to tell whether a figure changed."""
    return {c.proto.id.split("-", 2)[-1]: json.dumps(json.loads(c.proto.spec)["data"], sort_keys=True)
            for c in at.get("plotly_chart")}


@pytest.mark.parametrize("page", LIVE_PAGES)
def test_step_then_replay_an_earlier_step(page):
    key = LIVE_PAGES[page]
    at = open_page(page, **URL.get(page, {})).run()
    assert not at.exception
    at.button(key=f"{key}-step").click().run()
    assert not at.exception, at.exception
    assert progress_step(at) == 1
    at.button(key=f"{key}-step10").click().run()
    assert not at.exception, at.exception
    assert progress_step(at) == 11
    assert not at.session_state[f"live::{key}"].training, "stepping leaves the run paused"
    latest = _charts(at)
    replay = at.select_slider(key=f"{key}-replay")
    assert replay.value == 11 and [int(o) for o in replay.options] == list(range(12))
    replay.set_value(1).run()
    assert not at.exception, at.exception
    earlier = _charts(at)
    changed = [chart for chart in earlier if chart in latest and earlier[chart] != latest[chart]]
    assert changed, "the figures show the model at the replayed step"
    assert progress_step(at) == 11, "replaying does not move the run"
    at.select_slider(key=f"{key}-replay").set_value(11).run()
    assert not at.exception


def test_the_dissection_panel_shows_the_step_taken():
    at = open_page("10_elbo.py").run()
    at.button(key="elbo-step").click().run()
    panel = [h for h in at.get("html") if "genlab-chain" in h.proto.body]
    assert len(panel) == 1
    body = panel[0].proto.body
    for stage in ("batch x", "μ(x)", "σ(x)", "ε", "z = μ + σ·ε", "reconstruction", "β·KL", "loss",
                  "gradient norm", "update per layer"):
        assert stage in body, stage
    assert 'class="genlab-chain genlab-animate"' not in body, "no animation at normal speed"
    d = at.session_state["live::elbo"].dissections["vae"]
    assert d["step"] == 1 and d["grad_norms"]["β·KL"]["decoder"] == 0.0


def test_slow_motion_takes_one_dissected_step_a_tick_and_animates():
    at = open_page("10_elbo.py").run()
    at.button_group(key="elbo-speed").set_value("Slow motion").run()
    at.button(key="elbo-train").click().run()
    assert not at.exception
    start = at.session_state["live::elbo"].runs["vae"].step
    assert start == 1, "the click's tick takes the first step"
    for expected in (2, 3, 4):
        at.run()
        assert at.session_state["live::elbo"].runs["vae"].step == expected
        assert at.session_state["live::elbo"].dissections["vae"]["step"] == expected
    assert any('class="genlab-chain genlab-animate"' in h.proto.body for h in at.get("html"))
    at.button(key="elbo-pause").click().run()


def test_step_extends_a_finished_run_and_reset_clears_the_timeline():
    at = open_page("10_elbo.py", steps="500").run()
    at.button(key="elbo-train").click().run()
    for _ in range(100):
        if at.session_state["live::elbo"].runs["vae"].done:
            break
        at.run()
    assert at.session_state["live::elbo"].runs["vae"].step == 500
    at.button(key="elbo-step").click().run()
    assert not at.exception and progress_step(at) == 501
    timeline = at.session_state["live::elbo"].timelines["vae"]
    assert timeline.steps()[0] == 0 and timeline.steps()[-1] == 501 and len(timeline.steps()) <= 50
    assert timeline.budget_bytes == int(live.TIMELINE_MB * 2**20), "one recording page: the session's whole cap"
    assert timeline.nbytes <= timeline.budget_bytes
    at.button(key="elbo-reset").click().run()
    assert at.session_state["live::elbo"].timelines is None and not at.get("progress")


def test_the_keys_are_installed_and_explained_on_every_live_page():
    at = open_page("10_elbo.py").run()
    scripts = [h.proto.body for h in at.get("html") if "genlabLiveKey" in h.proto.body]
    assert len(scripts) == 1 and '"elbo"' in scripts[0]
    assert any(live.KEYS_HELP in c.value for c in at.caption)


def test_the_annealing_lab_shows_each_run_in_pictures_at_the_replayed_step():
    at = open_page("30_annealing_lab.py").run()
    at.button(key="lab-step10").click().run()
    assert not at.exception
    titles = {c.key: json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")}
    assert "at step 10" in titles["strip_recons"] and "at step 10" in titles["strip_samples"]
    latest = _charts(at)["strip_samples"]
    at.select_slider(key="lab-replay").set_value(2).run()
    titles = {c.key: json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")}
    assert "at step 2" in titles["strip_recons"]
    assert _charts(at)["strip_samples"] != latest, "the samples are those of the model at step 2"
    samples = next(c for c in at.get("plotly_chart") if c.key == "strip_samples")
    labels = [a["text"] for a in json.loads(samples.proto.spec)["layout"]["annotations"]]
    assert len(labels) == len(at.session_state["live::lab"].runs["lab"].runs)  # a row per strategy


def test_the_aae_page_steps_the_discriminator_and_the_encoder_by_hand():
    at = open_page("48_adversarial_autoencoder.py").run()

    def surface():
        return json.loads(next(c for c in at.get("plotly_chart") if c.key == "surface").proto.spec)["data"]

    assert surface()[-1]["name"] == "encoder's gradient"
    at.button(key="aae-step-d").click().run()
    assert not at.exception and progress_step(at) == 0, "a step by hand is not a training step"
    after_d = surface()
    at.button(key="aae-step-enc").click().run()
    assert not at.exception
    after_enc = surface()
    assert after_enc[0]["z"] == after_d[0]["z"], "the encoder's step leaves the discriminator as it was"
    assert after_enc[-1]["x"] != after_d[-1]["x"], "the encoder's step moves the codes and their arrows"
    at.button(key="aae-step-d").click().run()
    assert surface()[0]["z"] != after_enc[0]["z"], "the discriminator's step changes its decision surface"
    assert any(c.value.startswith("Last: discriminator step") for c in at.caption)
    at.toggle(key="aae-arrows").set_value(False).run()
    assert all(t.get("name") != "encoder's gradient" for t in surface())


@pytest.mark.parametrize("page", ["10_elbo.py", "30_annealing_lab.py"])
def test_a_paused_run_offers_its_model_and_records_for_download(page):
    key = LIVE_PAGES[page]
    at = open_page(page).run()
    assert not any(b.key and "-download-" in b.key for b in at.get("download_button")), "nothing trained yet"
    at.button(key=f"{key}-step10").click().run()
    keys = [b.proto.label for b in at.get("download_button")]
    assert any("Model" in k for k in keys) and any("Records" in k or "csv" in k for k in keys), keys
