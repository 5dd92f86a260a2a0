"""Guided tours as files: ``lectures/<name>.toml``, read and checked against the pages. No streamlit here.

A tour has a ``title`` and an array of ``[[stops]]``. Each stop names a ``page`` (its URL path, as in the
address bar: ``elbo``, ``posterior_collapse``), the page's ``settings`` (the keys of the page's URL, values
as a shared link would carry them), and has a ``title`` and a ``narration`` (Markdown with LaTeX);
optionally ``highlight`` (the key of a chart or a control on that page, outlined), a ``question`` to
predict with its ``answer`` (shown when the lecturer presses Next), and ``train = true`` (a live page
starts training when the stop opens).

What a page accepts is read from its source (``page_facts``): the keys its URL-bound widgets use, every
element key it names, and whether it trains live. A bad file gets a ``TourError`` naming the file, the
stop and the key; values that a page's widget refuses (out of range) are reported when the stop opens,
as for any shared link.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ui.pages import catalogue

LECTURES_DIR = Path(__file__).resolve().parent.parent / "lectures"
APP_KEYS = frozenset({"lecture"})  # bound by app.py on every page
TOUR_KEYS = frozenset({"tour", "stop", "embed", "hide", "embed_options"})  # the tour's and embedding's own
LIVE_SUFFIXES = ("train", "pause", "step", "step10", "reset", "speed", "replay", "shipped")  # ui.live's keys
STOP_FIELDS = {"title", "page", "settings", "highlight", "narration", "question", "answer", "train"}
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_STOPS = 40


class TourError(ValueError):
    """A tour file that cannot be run, with a sentence naming the file, the stop and the key."""


@dataclass(frozen=True)
class PageFacts:
    url_path: str
    title: str
    bound: frozenset  # URL keys its settings use (f-string keys such as f"m_{name}" as regex patterns)
    elements: frozenset  # every key of an element it draws (charts, controls): what a stop may highlight
    live: str | None  # its live-training key, where it trains live

    def binds(self, key: str) -> bool:
        return any(re.fullmatch(pattern, key) for pattern in self.bound)

    def draws(self, key: str) -> bool:
        return any(re.fullmatch(pattern, key) for pattern in self.elements)

    def literal_bound(self) -> list[str]:
        """The bound keys that are plain names, plus f-string keys shown with ``*`` (``m_*``)."""
        return sorted(p.replace(".+", "*").replace("\\", "") for p in self.bound)


@dataclass(frozen=True)
class Stop:
    title: str
    page: str
    narration: str
    settings: dict = field(default_factory=dict)
    highlight: str | None = None
    question: str | None = None
    answer: str | None = None
    train: bool = False


@dataclass(frozen=True)
class Tour:
    name: str
    title: str
    stops: tuple[Stop, ...]
    path: Path | None = None


def _string(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _key_pattern(node) -> str | None:
    """A key as a regex: a literal (escaped), or an f-string with each ``{...}`` part as ``.+``."""
    if _string(node) is not None:
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values)
    return None


@lru_cache(maxsize=1)
def page_facts() -> dict[str, PageFacts]:
    """url path -> what the page accepts, read from its source."""
    facts = {}
    for info in catalogue():
        tree = ast.parse(info.path.read_text(encoding="utf-8"))
        bound, elements, live = set(), set(), None
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kwargs = {k.arg: k.value for k in node.keywords}
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            key = _key_pattern(kwargs["key"]) if "key" in kwargs else None
            if key is not None:
                elements.add(key)
                if _string(kwargs.get("bind")) == "query-params":
                    bound.add(key)
            if name in ("seed_input", "dataset_select"):  # ui.state's bound widgets, with their default keys
                given = key or (_key_pattern(node.args[0]) if node.args else None)
                bound.add(given or ("seed" if name == "seed_input" else "data"))
            if name == "live_controls" and node.args and _string(node.args[0]):
                live = _string(node.args[0])
        if live:
            elements |= {re.escape(f"{live}-{suffix}") for suffix in LIVE_SUFFIXES}
        path = "" if info.is_home else info.url_path
        facts[path] = PageFacts(path, info.title, frozenset(bound), frozenset(elements), live)
    return facts


def _where(path: Path | str, stop: int | None = None, key: str | None = None) -> str:
    where = f"{Path(path).name}"
    if stop is not None:
        where += f", stop {stop}"
    if key is not None:
        where += f", '{key}'"
    return where


def _text(value, where: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TourError(f"{where}: must be a text (in quotes), got {value!r}" if value is not None
                        else f"{where}: is missing")
    return value.strip()


def _setting(value, where: str):
    scalar = (str, int, float, bool)
    if isinstance(value, scalar) or (isinstance(value, list) and value and all(isinstance(v, scalar) for v in value)):
        return value
    raise TourError(f"{where}: a setting is a number, a text, true/false or a list of them, got {value!r}")


def _stop(raw, path: Path, n: int) -> Stop:
    if not isinstance(raw, dict):
        raise TourError(f"{_where(path, n)}: a stop is a [[stops]] table, got {raw!r}")
    unknown = sorted(set(raw) - STOP_FIELDS)
    if unknown:
        raise TourError(f"{_where(path, n, unknown[0])}: not a field of a stop; a stop has "
                        f"{', '.join(sorted(STOP_FIELDS))}")
    page = raw.get("page")
    if not isinstance(page, str):  # "" is the home page
        raise TourError(f"{_where(path, n, 'page')}: " + ("is missing" if page is None else
                                                          f"must be a text (in quotes), got {page!r}"))
    facts = page_facts().get(page.strip().strip("/"))
    if facts is None:
        known = ", ".join(p or '"" (home)' for p in page_facts())
        raise TourError(f"{_where(path, n, 'page')}: no page {page!r}; pages: {known}")
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise TourError(f"{_where(path, n, 'settings')}: must be a table such as {{ beta = 4 }}, got {settings!r}")
    for key, value in settings.items():
        if not (facts.binds(key) or key in APP_KEYS):
            known = ", ".join([*facts.literal_bound(), *sorted(APP_KEYS)])
            raise TourError(f"{_where(path, n, key)}: the {facts.title} page has no setting {key!r}; its settings: "
                            f"{known}")
        _setting(value, _where(path, n, key))
    highlight = _text(raw.get("highlight"), _where(path, n, "highlight"), required=False)
    if highlight is not None and not facts.draws(highlight):
        raise TourError(f"{_where(path, n, 'highlight')}: the {facts.title} page draws no element with key "
                        f"{highlight!r}")
    question = _text(raw.get("question"), _where(path, n, "question"), required=False)
    answer = _text(raw.get("answer"), _where(path, n, "answer"), required=False)
    if (question is None) != (answer is None):
        raise TourError(f"{_where(path, n, 'answer' if question else 'question')}: a question needs its answer "
                        "and an answer its question")
    train = raw.get("train", False)
    if not isinstance(train, bool):
        raise TourError(f"{_where(path, n, 'train')}: must be true or false, got {train!r}")
    if train and facts.live is None:
        raise TourError(f"{_where(path, n, 'train')}: the {facts.title} page does not train live")
    return Stop(title=_text(raw.get("title"), _where(path, n, "title")), page=facts.url_path,
                narration=_text(raw.get("narration"), _where(path, n, "narration")), settings=dict(settings),
                highlight=highlight, question=question, answer=answer, train=train)


def parse(path: Path, name: str | None = None) -> Tour:
    """Read and check the tour file at ``path``."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TourError(f"{path.name}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise TourError(f"{path.name}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise TourError(f"{path.name}: is not valid TOML ({e})") from None
    unknown = sorted(set(raw) - {"title", "stops"})
    if unknown:
        raise TourError(f"{_where(path, key=unknown[0])}: not a field of a tour; a tour has a title and [[stops]]")
    title = _text(raw.get("title"), _where(path, key="title"))
    stops = raw.get("stops")
    if not isinstance(stops, list) or not stops:
        raise TourError(f"{path.name}: has no [[stops]]")
    if len(stops) > MAX_STOPS:
        raise TourError(f"{path.name}: has {len(stops)} stops; a tour has at most {MAX_STOPS}")
    return Tour(name or path.stem, title, tuple(_stop(s, path, i) for i, s in enumerate(stops, start=1)), path)


def names(directory: Path = LECTURES_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml") if NAME.match(p.stem))


def load(name: str, directory: Path = LECTURES_DIR) -> Tour:
    """The tour called ``name`` (a file ``lectures/<name>.toml``)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise TourError(f"{name!r} is not a tour name (lower-case letters, digits, - and _)")
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(names(directory)) or "none"
        raise TourError(f"there is no tour {name!r}; tours: {known}")
    return parse(path, name)


def stop_number(value, tour: Tour) -> int:
    """The 1-based stop number a URL asks for, checked against ``tour``."""
    try:
        n = int(str(value))
    except ValueError:
        raise TourError(f"stop {value!r} is not a number; {tour.name} has stops 1 to {len(tour.stops)}") from None
    if not 1 <= n <= len(tour.stops):
        raise TourError(f"{tour.name} has stops 1 to {len(tour.stops)}, not {n}")
    return n


# ------------------------------------------------------------------------------------------ writing tours


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    if "\n" in text:
        return '"""\n' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(title: str, stops: list[dict]) -> str:
    """A tour file for ``stops`` (dicts with a stop's fields), readable by ``parse``."""
    lines = [f"title = {_toml_value(title)}", ""]
    for stop in stops:
        lines.append("[[stops]]")
        lines.append(f"page = {_toml_value(stop.get('page') or '')}")
        for key in ("title", "highlight", "question", "answer", "train", "narration"):
            if stop.get(key) not in (None, "", False):
                lines.append(f"{key} = {_toml_value(stop[key])}")
        settings = stop.get("settings") or {}
        if settings:
            lines.append("settings = { " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                                      for k, v in settings.items()) + " }")
        lines.append("")
    return "\n".join(lines)


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else _toml_value(key)


def page_path(url_path: str) -> Path:
    """The file of the page at ``url_path``."""
    for info in catalogue():
        if ("" if info.is_home else info.url_path) == url_path:
            return info.path
    raise KeyError(url_path)

