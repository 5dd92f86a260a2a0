"""AppTest: the app shell, the home page and the ELBO & β page, including a few live-training ticks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apptest import open_page as page
from tests.apptest import progress_step as _step
from ui import live
from ui.pages import catalogue

ROOT = Path(__file__).resolve().parent.parent


def test_every_page_file_is_catalogued_with_a_title_and_what_it_teaches():
    pages = catalogue()
    assert pages[0].is_home
    files = sorted(p.name for p in (ROOT / "pages").glob("[0-9][0-9]_*.py"))
    assert [p.path.name for p in pages] == files
    for info in pages:
        assert info.title and info.teaches, f"{info.path.name}: first docstring line must read 'Title — teaches'"


def test_app_opens_on_the_home_page_listing_every_page():
    at = page("app.py").run()
    assert not at.exception
    assert any("genlab" in t.value for t in at.title)
    text = " ".join(c.value for c in at.caption)
    for info in catalogue()[1:]:
        assert info.teaches in text


def test_elbo_page_opens_on_the_pretrained_model_without_training():
    at = page("pages/10_elbo.py").run()
    assert not at.exception and not at.error
    assert any("pretrained model" in i.value for i in at.info)
    assert at.button(key="elbo-train").disabled is False
    assert at.button(key="elbo-pause").disabled is True
    labels = [m.label for m in at.metric]
    assert any(label.startswith("ELBO") for label in labels) and "Active units" in labels
    assert len(at.get("plotly_chart")) >= 4  # β, reconstructions, samples, KL per dimension


def test_elbo_page_shows_the_objective_it_computes():
    at = page("pages/10_elbo.py", free_bits="0.5").run()
    latex = " ".join(x.value for x in at.latex)
    assert r"\beta(t)" in latex and r"\max\big(\lambda" in latex and "recon" in latex


def test_live_training_ticks_grow_the_run_and_pause_stops_it():
    at = page("pages/10_elbo.py", steps="500").run()
    at.button(key="elbo-train").click().run()
    assert not at.exception
    assert _step(at) == 0, "a tick draws, then trains: the first draw comes before the first chunk"
    elbo = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("elbo_curve"))
    assert not json.loads(elbo.proto.spec)["data"][0].get("x"), "the curves are there from the start, empty"
    assert live.training_count() == 1, "this session holds one training slot"
    at.run()
    first = _step(at)
    at.run()
    second = _step(at)
    assert second > first > 0, "a rerun of a training page advances the run"
    assert len(at.get("plotly_chart")) >= 5  # β, ELBO, terms, reconstructions, samples
    at.button(key="elbo-pause").click().run()
    assert live.training_count() == 0, "pause frees the session's training slot"
    paused = _step(at)
    at.run()
    assert _step(at) == paused, "paused runs do not advance"
    assert any(m.label == "Active units" for m in at.metric), "paused: the metrics are evaluated"
    at.button(key="elbo-reset").click().run()
    assert not at.get("progress")


def test_changing_a_setting_resets_the_run():
    at = page("pages/10_elbo.py", steps="500").run()
    at.button(key="elbo-train").click().run()
    assert at.get("progress")
    at.run()  # a tick trains
    trained = at.session_state["live::elbo"].runs["vae"].step  # the run is a chunk ahead of what is drawn
    assert trained > 0
    at.slider(key="latent").set_value(4).run()
    assert not at.get("progress") and not at.exception
    notes = [t.value for t in at.toast]
    assert len(notes) == 1 and f"reset at step {trained:,} of 500" in notes[0], notes
    at.run()
    assert not at.toast, "the note comes once, with the change"


def test_a_setting_changed_before_training_resets_nothing_and_says_nothing():
    at = page("pages/10_elbo.py", steps="500").run()
    at.slider(key="latent").set_value(4).run()
    assert not at.toast and not at.exception


@pytest.mark.parametrize("params, message", [
    ({"steps": "500", "lr": "0.01", "beta": "0.0"}, None),
])
def test_unusual_but_valid_settings_train_without_error(params, message):
    at = page("pages/10_elbo.py", **params).run()
    at.button(key="elbo-train").click().run()
    assert not at.exception and not at.error


def test_garbage_in_the_url_is_ignored_not_a_traceback():
    at = page("pages/10_elbo.py", latent="9999", data="nonsense", beta="-5", steps="abc").run()
    assert not at.exception
    assert at.slider(key="latent").value <= 32
    assert at.selectbox(key="data").value == "digits"


def test_the_home_page_path_does_not_import_torch():
    """app.py's own imports stay light (torch takes about a second): torch is imported by pages that use
    it, or in the background by ``ui.state.preload``."""
    code = ("import sys\nimport streamlit\nfrom ui import board, coldstart, export, pages, state, tour_panel\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "assert 'sqlalchemy' not in sys.modules, 'the board storage was imported'\n"
            "assert state.device_choices() == ['cpu']\n"
            "state.preload(); state._preloader.join(90)\n"
            "assert 'torch' in sys.modules and state._torch_if_loaded() is sys.modules['torch']\n"
            "assert set(state.LATER_IMPORTS) <= set(sys.modules), 'the later imports'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
