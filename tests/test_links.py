"""Shareable links, lecture mode, figure export, theme and device: AppTest on the shell and the ELBO page.

A link's bad values (garbage, out of range, numbers too big for any type) never crash a page: Streamlit's
``bind="query-params"`` drops invalid values for bound widgets, and ``ui.state.sanitize_url`` drops the
ones Streamlit's own parser would crash on (a seed of 400 nines raised OverflowError). The share link
built from the widgets reopens the same settings in a new session.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import plotly.graph_objects as go
import pytest
import torch
from streamlit.testing.v1 import AppTest

from genlib.uploads import example_npz
from ui import export

ROOT = Path(__file__).resolve().parent.parent
HUGE = "9" * 400

# The ELBO page run as app.py would run it (AppTest cannot switch app.py to a page whose url path is its
# file name, like "elbo"), with the share link and the link notes drawn after it.
HARNESS = f"""
import runpy
import streamlit as st
from ui.state import asked_settings, sanitize_url, share_url, url_notes
dropped = sanitize_url()
asked = asked_settings()
runpy.run_path({str(ROOT / "pages" / "10_elbo.py")!r}, run_name="__main__")
st.code(share_url("elbo"), language=None)
for note in dropped + url_notes(asked):
    st.warning(note)
"""


def elbo(**params) -> AppTest:
    at = AppTest.from_string(HARNESS, default_timeout=60)
    at.query_params.update(params)
    return at


@pytest.fixture
def navigation_only(monkeypatch):
    """AppTest re-detects the pages/ folder before every run (Streamlit's v1 multipage mode) and then runs
    pages/00_home.py itself on a rerun, without app.py (its file name matches its url path). The server
    drops v1 mode once app.py has called st.navigation; do the same here."""
    import streamlit.testing.v1.app_test as app_test

    base = app_test.PagesManager

    class NavigationOnly(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            base.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationOnly)


def app(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    return at


def query(link: str) -> dict:
    return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(urlsplit(link).query).items()}


# ------------------------------------------------------------------------------------ bad links


def test_elbo_page_refuses_garbage_out_of_range_and_huge_values_with_a_message():
    at = elbo(latent="9999", beta="-5", steps="7", data="nonsense", seed=HUGE, lr="1e999", free_bits="abc",
              depth="2.5", lik="categorical").run()
    assert not at.exception
    assert at.slider(key="latent").value == 8 and at.slider(key="beta").value == 1.0
    assert at.select_slider(key="steps").value == 2000 and at.selectbox(key="data").value == "digits"
    assert at.number_input(key="seed").value == 0 and at.slider(key="free_bits").value == 0.0
    assert at.radio(key="lik").value == "categorical", "valid values are kept"
    notes = " ".join(w.value for w in at.warning)
    for key in ("latent", "beta", "steps", "data", "seed", "free_bits"):
        assert f"{key} = " in notes, f"{key}: a refused link value gets a message"
    assert "lik = " not in notes
    assert "seed=" not in at.code[0].value and "latent=" not in at.code[0].value


def test_elbo_page_run_alone_survives_a_seed_too_big_for_any_integer():
    at = AppTest.from_file(str(ROOT / "pages" / "10_elbo.py"), default_timeout=60)
    at.query_params["seed"] = HUGE
    at.run()
    assert not at.exception and at.number_input(key="seed").value == 0


def test_home_page_refuses_bad_values_with_a_toast_and_opens():
    at = app(lecture="maybe", seed=HUGE, latent="abc").run()
    assert not at.exception
    assert at.toggle(key="lecture").value is False
    notes = " ".join(t.value for t in at.toast)
    assert "lecture = maybe" in notes and "seed = 999" in notes
    assert at.code[0].value == "/", "nothing of the bad link is shared on"


# ------------------------------------------------------------------------------------ round trip


def test_settings_to_link_to_a_new_session_show_the_same_settings():
    at = elbo().run()
    at.slider(key="latent").set_value(4)
    at.radio(key="schedule").set_value("cyclical")
    at.select_slider(key="width").set_value(64)
    at.select_slider(key="lr").set_value(3e-3)
    at.number_input(key="seed").set_value(7)
    at.run()
    at.slider(key="cycles").set_value(3).run()
    link = at.code[0].value
    assert link.startswith("/elbo?") and not at.warning
    shared = query(link)
    assert shared == {"latent": "4", "schedule": "cyclical", "width": "64", "lr": "0.003", "seed": "7", "cycles": "3"}

    fresh = elbo(**shared).run()
    assert not fresh.exception and not fresh.warning, "a shared link is taken whole, without notes"
    assert fresh.slider(key="latent").value == 4 and fresh.radio(key="schedule").value == "cyclical"
    assert fresh.select_slider(key="width").value == 64 and fresh.select_slider(key="lr").value == 3e-3
    assert fresh.number_input(key="seed").value == 7 and fresh.slider(key="cycles").value == 3
    assert query(fresh.code[0].value) == shared


def test_lecture_mode_round_trips_through_the_link_and_changes_the_page(navigation_only):
    at = app().run()
    assert not any("font-size" in h.proto.body for h in at.html), "no lecture CSS by default"
    at.toggle(key="lecture").set_value(True).run()
    assert at.code[0].value == "/?lecture=true"
    fresh = app(**query(at.code[0].value)).run()
    assert fresh.toggle(key="lecture").value is True and not fresh.toast
    assert any("font-size" in h.proto.body for h in fresh.html), "lecture mode enlarges the type"


# ------------------------------------------------------------------------------------ lecture mode


def test_lecture_mode_folds_advanced_controls_and_enlarges_figures():
    normal, lecture = elbo(), elbo()
    lecture.session_state["lecture"] = True
    normal.run(), lecture.run()
    assert normal.expander[0].proto.expanded and not lecture.expander[0].proto.expanded
    size = [json.loads(at.get("plotly_chart")[0].proto.spec)["layout"] for at in (normal, lecture)]
    assert size[1]["height"] > size[0]["height"] and size[1]["font"]["size"] >= 18
    assert size[0]["margin"]["autoexpand"] is False, "live curves keep fixed margins (one layout pass per redraw)"
    assert size[1]["margin"]["autoexpand"] is True, "lecture mode's larger type gets margins that grow to fit"
    axis = size[1]["xaxis"]
    assert axis["tickfont"]["size"] >= 18 and axis["title"]["font"]["size"] >= 18, "tick labels too, not only titles"


def test_words_says_less_in_lecture_mode():
    script = "import streamlit as st\nfrom ui.state import words\nst.write(words('a long explanation', 'short'))"
    at = AppTest.from_string(script).run()
    assert at.markdown[0].value == "a long explanation"
    at.session_state["lecture"] = True
    assert at.run().markdown[0].value == "short"


# ------------------------------------------------------------------------------ figures: export, format, theme


def test_page_html_holds_every_figure_and_plotly_js_once():
    figs = {"a": go.Figure(go.Scatter(y=[1, 2]), layout={"title": {"text": "First <chart>"}}),
            "b": go.Figure(go.Bar(y=[3]))}
    page = export.page_html(figs, "ELBO & β")
    assert page.startswith("<!DOCTYPE html>") and page.count("Plotly.newPlot(") == 2
    assert page.count("plotly.js v") == 1, "plotly.js is embedded once"
    assert "First &lt;chart&gt;" in page and "<h2>b</h2>" in page and "ELBO &amp; β" in page


def test_your_data_page_offers_its_figures_as_html_and_svg_downloads(navigation_only):
    at = app().run()
    at.switch_page("pages/90_your_data.py").run()
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Download this page's figures (1") for label in labels), labels
    config = json.loads(at.get("plotly_chart")[0].proto.config)["toImageButtonOptions"]
    assert config == {"format": "png", "scale": 2, "filename": "genlab-preview"}
    at.segmented_control(key="figure_format").set_value("SVG").run()
    assert json.loads(at.get("plotly_chart")[0].proto.config)["toImageButtonOptions"]["format"] == "svg"


def test_charts_follow_the_streamlit_theme_and_builders_hard_code_no_background():
    at = elbo().run()
    assert all(c.proto.theme == "streamlit" for c in at.get("plotly_chart"))
    for path in ROOT.glob("ui/figures*.py"):
        text = path.read_text()
        fixed = re.search(r"paper_bgcolor|plot_bgcolor|\btemplate\s*=", text)
        assert not fixed, f"{path.name} fixes a background or template: {fixed.group()}"


# ------------------------------------------------------------------------------------ device and data


def test_device_is_the_cpu_and_the_choice_is_hidden_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without CUDA, even on a GPU box
    script = "import streamlit as st\nfrom ui.state import device, device_select\ndevice_select()\nst.write(device())"
    at = AppTest.from_string(script).run()
    assert not at.radio and at.markdown[0].value == "cpu"


def test_device_choice_appears_where_cuda_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    script = "import streamlit as st\nfrom ui.state import device, device_select\ndevice_select()\nst.write(device())"
    at = AppTest.from_string(script).run()
    assert at.radio[0].options == ["cpu", "cuda"] and at.markdown[0].value == "cpu", "CPU stays the default"
    at.radio[0].set_value("cuda").run()
    assert at.markdown[0].value == "cuda"


def test_uploads_are_offered_beside_built_in_sets_and_a_stale_upload_link_is_refused():
    at = AppTest.from_file(str(ROOT / "pages" / "90_your_data.py"), default_timeout=30).run()
    at.file_uploader(key="upload").upload("mine.npz", example_npz()).run()
    assert at.selectbox(key="data").options == ["digits", "sprites", "upload: mine"]
    at.selectbox(key="data").set_value("upload: mine").run()
    assert not at.exception and at.metric[0].value == "160"
    fresh = AppTest.from_file(str(ROOT / "pages" / "90_your_data.py"), default_timeout=30)
    fresh.query_params["data"] = "upload: mine"  # another session does not have it
    fresh.run()
    assert not fresh.exception and fresh.selectbox(key="data").value == "digits"


@pytest.mark.parametrize("name", ["upload: gone"])
def test_get_dataset_explains_a_missing_upload(name):
    script = (f"import streamlit as st\nfrom ui.state import get_dataset, show_error\ntry:\n"
              f"    get_dataset({name!r})\nexcept ValueError as e:\n    show_error(e)\n")
    at = AppTest.from_string(script).run()
    assert "upload it again" in at.error[0].value


def test_a_page_with_a_syntax_error_does_not_break_the_catalogue(tmp_path):
    from ui.pages import catalogue

    (tmp_path / "00_home.py").write_text('"""Home — start here."""\n')
    (tmp_path / "50_broken.py").write_text('"""Broken — half edited."""\nx = (\n')
    pages = catalogue(tmp_path)
    assert [p.title for p in pages] == ["Home", "50_broken"]


def test_a_run_in_streamlits_v1_multipage_mode_restarts_through_app_py(tmp_path, monkeypatch):
    """Every page calls ui.coldstart.through_app() first; a run that v1 mode gives a page alone restarts
    through app.py, even where another session's app.py has cleared v1 mode on the way (six tabs at once)."""
    from streamlit.runtime.pages_manager import PagesManager

    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text(
        "import streamlit as st\n"
        "st.session_state.app_runs = st.session_state.get('app_runs', 0) + 1\n"
        "st.navigation([st.Page('pages/one.py', default=True)]).run()\n")
    (tmp_path / "pages" / "one.py").write_text(
        "from streamlit.runtime.pages_manager import PagesManager\n"
        "PagesManager.uses_pages_directory = False  # another session's st.navigation, meanwhile\n"
        "from ui.coldstart import through_app\n"
        "through_app()\n"
        "import streamlit as st\n"
        "st.write(f\"app runs {st.session_state.get('app_runs', 0)}\")\n")
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)  # a fresh server: a pages/ folder
    at = AppTest.from_file(str(tmp_path / "app.py"))
    at.switch_page("pages/one.py").run()
    assert not at.exception and at.markdown[0].value == "app runs 1"


def test_a_page_run_as_the_main_script_is_left_alone():
    """A test (or anyone) running a page file on its own: the page is the main script, nothing restarts."""
    at = AppTest.from_string("from ui.coldstart import through_app\nthrough_app()\nimport streamlit as st\n"
                             "st.session_state.runs = st.session_state.get('runs', 0) + 1\n"
                             "st.write(f\"runs {st.session_state.runs}\")\n").run()
    assert not at.exception and at.markdown[0].value == "runs 1"


def test_page_urls_are_the_names_streamlits_pages_folder_mode_gives_them():
    """A fresh server answers its first request in v1 multipage mode (there is a pages/ folder): a deep
    link works only if our url path is the name v1 derives from the file name."""
    from streamlit.source_util import page_icon_and_name

    from ui.pages import catalogue

    for info in catalogue():
        assert info.url_path == page_icon_and_name(info.path)[1]


def test_the_elbo_page_trains_on_an_uploaded_set_like_a_built_in_one():
    from genlib.uploads import read_upload

    at = AppTest.from_file(str(ROOT / "pages" / "10_elbo.py"), default_timeout=60)
    at.session_state["uploads"] = {"upload: mine": read_upload("mine.npz", example_npz())}
    at.run()
    at.selectbox(key="data").set_value("upload: mine").run()
    assert not at.exception and at.radio(key="lik").options == ["bernoulli", "categorical"]
    at.button(key="elbo-train").click().run()
    assert not at.exception and not at.error and at.get("progress")


def test_every_page_goes_through_app_py_before_its_imports():
    """The call comes before any other import: those are what a page run alone would race on."""
    import ast

    from ui.pages import catalogue

    for info in catalogue():
        body = ast.parse(info.path.read_text(encoding="utf-8")).body[1:]  # after the docstring
        first, call = body[0], body[1]
        assert isinstance(first, ast.ImportFrom) and first.module == "ui.coldstart", info.path.name
        assert isinstance(call, ast.Expr) and ast.unparse(call) == "through_app()", info.path.name


def test_a_background_import_lets_a_waiting_visitor_go_first():
    import threading
    import time

    from ui import coldstart

    order = []

    def visitor():
        with coldstart.serial():
            order.append("visitor")

    def background():
        with coldstart.serial(background=True):
            order.append("background")

    with coldstart.serial():  # a first run holds the turn; a visitor and a background import queue behind it
        v = threading.Thread(target=visitor)
        v.start()
        while not coldstart._waiting[0]:
            time.sleep(0.001)
        b = threading.Thread(target=background)
        b.start()
        time.sleep(0.1)
    v.join(5)
    b.join(5)
    assert order == ["visitor", "background"]


def test_a_first_run_with_nothing_to_import_does_not_wait_for_a_background_import(tmp_path):
    import threading

    from ui import coldstart

    light, heavy, relative = tmp_path / "light.py", tmp_path / "heavy.py", tmp_path / "relative.py"
    light.write_text("import os\nfrom os import path, sep\n\ndef f():\n    import json\n")
    heavy.write_text("import os\n\ndef f():\n    import genlab_no_such_module\n")  # a lazy import counts too
    relative.write_text("from . import os\n")
    assert coldstart.imports_done(str(light))
    assert not coldstart.imports_done(str(heavy)) and not coldstart.imports_done(str(relative))

    held, release, ran = threading.Event(), threading.Event(), []

    def background():
        with coldstart.serial(background=True):
            held.set()
            release.wait(5)

    b = threading.Thread(target=background)
    b.start()
    held.wait(5)
    try:
        with coldstart.serial(first_run_of="light-page", script=str(light)):  # no turn: it runs at once
            ran.append("light")

        def heavy_page():
            with coldstart.serial(first_run_of="heavy-page", script=str(heavy)):
                ran.append("heavy")

        waiting = threading.Thread(target=heavy_page)
        waiting.start()
        waiting.join(0.2)
        assert ran == ["light"]  # a first run with imports to make waits for the turn
    finally:
        release.set()
        b.join(5)
    waiting.join(5)
    assert ran == ["light", "heavy"]
