"""Tour files: the shipped tours are valid and teach in 6-12 stops; every kind of bad file gets a sentence
naming the file, the stop and the key; a tour written by clicking reads back."""

from __future__ import annotations

import pytest
from apptest import open_page

from ui import tours

GOOD_STOP = '[[stops]]\ntitle = "A"\npage = "elbo"\nnarration = "Text."\n'


def _file(tmp_path, text: str, name: str = "t"):
    path = tmp_path / f"{name}.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("name", tours.names())
def test_every_shipped_tour_is_valid_and_6_to_12_stops_long(name):
    tour = tours.load(name)
    assert 6 <= len(tour.stops) <= 12
    assert all(stop.narration and stop.title for stop in tour.stops)
    assert len({stop.title for stop in tour.stops}) == len(tour.stops), "stop titles tell the stops apart"


def test_four_tours_ship():
    assert set(tours.names()) >= {"elbo-and-beta", "collapse-and-annealing", "product-of-experts", "pixelcnn-masks"}


def test_the_pages_settings_and_elements_are_read_from_their_source():
    elbo = tours.page_facts()["elbo"]
    assert elbo.binds("beta") and elbo.binds("latent") and elbo.binds("seed") and not elbo.binds("nope")
    assert elbo.draws("kl_dims") and elbo.draws("elbo-step") and elbo.live == "elbo"
    poe = tours.page_facts()["product_of_experts"]
    assert poe.binds("m_A") and poe.binds("on_C") and poe.draws("grid_PoE")  # f-string keys
    assert tours.page_facts()["mmd_playground"].live is None


@pytest.mark.parametrize(("text", "message"), [
    ("title = \n", "is not valid TOML"),
    (GOOD_STOP, "'title': is missing"),
    ('title = "T"\n', "has no [[stops]]"),
    ('title = "T"\nstops = 3\n', "has no [[stops]]"),
    ('title = "T"\nauthor = "me"\n' + GOOD_STOP, "'author': not a field of a tour"),
    ('title = 5\n' + GOOD_STOP, "'title': must be a text"),
    ('title = "T"\n' + GOOD_STOP + 'colour = "red"\n', "stop 1, 'colour': not a field of a stop"),
    ('title = "T"\n[[stops]]\ntitle = "A"\npage = "nowhere"\nnarration = "x"\n', "stop 1, 'page': no page 'nowhere'"),
    ('title = "T"\n[[stops]]\ntitle = "A"\nnarration = "x"\n', "stop 1, 'page': is missing"),
    ('title = "T"\n[[stops]]\ntitle = "A"\npage = "elbo"\n', "stop 1, 'narration': is missing"),
    ('title = "T"\n[[stops]]\ntitle = "A"\npage = "elbo"\nnarration = "  "\n', "stop 1, 'narration': must be a text"),
    ('title = "T"\n' + GOOD_STOP + 'settings = { gamma = 2 }\n', "stop 1, 'gamma': the ELBO & β page has no setting"),
    ('title = "T"\n' + GOOD_STOP + 'settings = 4\n', "stop 1, 'settings': must be a table"),
    ('title = "T"\n' + GOOD_STOP + 'settings = { beta = { a = 1 } }\n', "stop 1, 'beta': a setting is a number"),
    ('title = "T"\n' + GOOD_STOP + 'settings = { beta = [] }\n', "stop 1, 'beta': a setting is a number"),
    ('title = "T"\n' + GOOD_STOP + 'highlight = "no_chart"\n', "stop 1, 'highlight': the ELBO & β page draws no"),
    ('title = "T"\n' + GOOD_STOP + 'question = "Why?"\n', "stop 1, 'answer': a question needs its answer"),
    ('title = "T"\n' + GOOD_STOP + 'answer = "So."\n', "stop 1, 'question': a question needs its answer"),
    ('title = "T"\n' + GOOD_STOP + 'train = "yes"\n', "stop 1, 'train': must be true or false"),
    ('title = "T"\n[[stops]]\ntitle = "A"\npage = "mmd_playground"\nnarration = "x"\ntrain = true\n',
     "stop 1, 'train': the MMD playground page does not train live"),
    ('title = "T"\n' + GOOD_STOP + GOOD_STOP.replace('page = "elbo"', 'page = "pixelcnn"')
     + 'settings = { beta = 1 }\n', "stop 2, 'beta': the PixelCNN page has no setting"),
    ('title = "T"\n' + GOOD_STOP * (tours.MAX_STOPS + 1), "a tour has at most"),
    ('title = "T"\nstops = [1]\n', "stop 1: a stop is a [[stops]] table"),
])
def test_a_bad_file_gets_a_sentence_naming_file_stop_and_key(tmp_path, text, message):
    with pytest.raises(tours.TourError) as e:
        tours.parse(_file(tmp_path, text, "mine"))
    assert str(e.value).startswith("mine.toml"), str(e.value)
    assert message in str(e.value), str(e.value)


def test_a_file_that_is_not_text_or_not_there(tmp_path):
    with pytest.raises(tours.TourError, match="is not UTF-8 text"):
        tours.parse(_file(tmp_path, b"title = \"\xff\xfe\"\n"))
    with pytest.raises(tours.TourError, match="there is no tour 'absent'; tours: "):
        tours.load("absent", tmp_path)
    for bad in ("../etc/passwd", "Upper", "", "a" * 65, "a b"):
        with pytest.raises(tours.TourError, match="is not a tour name"):
            tours.load(bad, tmp_path)


def test_stop_numbers_in_a_link():
    tour = tours.load("elbo-and-beta")
    assert tours.stop_number("3", tour) == 3
    for bad, message in (("0", "stops 1 to 7, not 0"), ("99", "not 99"), ("x", "'x' is not a number"),
                         ("1.5", "is not a number")):
        with pytest.raises(tours.TourError, match=message):
            tours.stop_number(bad, tour)


def test_a_tour_written_by_clicking_reads_back(tmp_path):
    stops = [{"title": "ELBO & β", "page": "elbo", "settings": {"beta": "4.0", "latent": "2"},
              "narration": 'Say "this" \\ and $\\beta$.'},
             {"title": "Home", "page": "", "settings": {}, "narration": "Two\nlines", "question": "Q?",
              "answer": "A.", "train": False}]
    tour = tours.parse(_file(tmp_path, tours.to_toml('My "tour"', stops)))
    assert tour.title == 'My "tour"' and len(tour.stops) == 2
    assert tour.stops[0].settings == {"beta": "4.0", "latent": "2"}
    assert tour.stops[0].narration == 'Say "this" \\ and $\\beta$.'
    assert tour.stops[1].page == "" and tour.stops[1].question == "Q?" and tour.stops[1].narration == "Two\nlines"


def test_the_tours_page_lists_every_tour():
    at = open_page("app.py").run()
    at.switch_page("pages/05_tours.py").run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    for name in tours.names():
        assert tours.load(name).stops[0].title in text


def test_the_readme_example_is_a_valid_tour(tmp_path):
    readme = (tours.LECTURES_DIR.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("Ten lines make one:")[1].split("```toml")[1].split("```")[0]
    tour = tours.parse(_file(tmp_path, block, "readme"))
    assert tour.stops[0].settings == {"beta": 4.0} and tour.stops[0].question


def _keys(node, out: set) -> set:
    """Every element key in an AppTest tree (widgets' ``key``; charts and containers as their proto's id)."""
    for value in (getattr(node, "key", None), getattr(getattr(node, "proto", None), "id", None)):
        if isinstance(value, str) and value:
            out.add(value.rsplit("-", 1)[-1] if value.startswith("$$ID-") else value)
            out.add(value)
    children = getattr(node, "children", None)
    for child in (children.values() if isinstance(children, dict) else []):
        _keys(child, out)
    return out


def _text(at) -> str:
    return " ".join(e.value for kind in ("markdown", "caption", "subheader", "header", "title") for e in at.get(kind)
                    if isinstance(getattr(e, "value", None), str))


def _holds(value, setting) -> bool:
    """A widget's value is the stop's setting, as a link's text would give it (2 == "2.0", False == "false")."""
    if isinstance(setting, list):
        return isinstance(value, list) and [str(v) for v in value] == [str(s) for s in setting]
    if isinstance(value, bool):
        return str(value).lower() == str(setting).lower()
    try:
        return float(value) == float(setting)
    except (TypeError, ValueError):
        return str(value) == str(setting)


@pytest.mark.parametrize("name", tours.names())
def test_every_stop_renders_server_side(name):
    """Each shipped tour stop after stop in one AppTest session, as a lecturer's browser would: every stop's page
    runs without exception or error, its settings on its widgets, no setting refused, its title in the panel,
    its highlighted element drawn and outlined (CSS for its key), its question asked. (tests/test_e2e_tours.py
    clicks Next through one tour in Chromium: outlines computed, answers revealed, a stop that trains.)"""
    tour = tours.load(name)
    at = open_page("app.py", tour=name, stop="1").run()
    for n, stop in enumerate(tour.stops, start=1):
        where = f"{name} stop {n}"
        assert not at.exception, f"{where}: {at.exception[0].value}"
        assert not at.error, f"{where}: {at.error[0].value}"
        assert f"stop {n} of {len(tour.stops)}" in _text(at) and stop.title in _text(at), where
        refused = [w.value for w in at.warning if "Ignored from the link" in w.value]
        assert not refused, f"{where}: {refused}"
        for key, setting in stop.settings.items():
            assert key in at.session_state and _holds(at.session_state[key], setting), \
                f"{where}: {key} is {at.session_state[key] if key in at.session_state else None}, not {setting}"
        if stop.highlight:
            assert stop.highlight in _keys(at._tree, set()), f"{where}: no element {stop.highlight!r} drawn"
            css = " ".join(h.proto.body for h in at.get("html"))
            assert f"st-key-{stop.highlight}" in css and "outline" in css, f"{where}: {stop.highlight} not outlined"
        if stop.question:  # revealed by Next in the browser walk: AppTest reruns app.py from its home page, and
            # a stop on another page switches to it in that rerun, dropping the click
            assert f"**Predict:** {stop.question}" in [i.value for i in at.info], f"{where}: no question shown"
        if n < len(tour.stops):  # the next stop's link in this session (AppTest keeps its own query string)
            at.query_params["stop"] = str(n + 1)
            at.run()
    assert at.button(key="tour-next").label == "End"


def test_a_stop_opened_straight_from_its_link_refuses_nothing():
    """A link that gives a key several times (a multiselect's values) asked for all of them: a lecturer's
    link straight to such a stop is not told that its setting was ignored."""
    stops = [(name, n) for name in tours.names() for n, stop in enumerate(tours.load(name).stops, start=1)
             if any(isinstance(value, list) and len(value) > 1 for value in stop.settings.values())]
    assert stops, "no shipped stop sets several values of one key"
    for name, n in stops:
        at = open_page("app.py", tour=name, stop=str(n)).run()
        assert not at.exception, at.exception[0].value
        assert not [w.value for w in at.warning if "Ignored from the link" in w.value], (name, n)
