"""The page catalogue: every ``pages/*.py`` whose docstring's first line reads "Title — what it teaches".

app.py builds the navigation from it and the home page lists it, so adding a page is adding a file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
SEPARATOR = " — "


@dataclass(frozen=True)
class PageInfo:
    path: Path
    title: str
    teaches: str

    @property
    def url_path(self) -> str:
        """The file name without its number: what Streamlit's v1 multipage mode (a pages/ folder) calls the
        page too, so a fresh server's very first request for a deep link finds it (with hyphens it answered
        "Page not found" and showed the home page)."""
        return self.path.stem.split("_", 1)[-1]

    @property
    def is_home(self) -> bool:
        return self.path.stem.startswith("00_")


@lru_cache(maxsize=1)
def catalogue(pages_dir: Path = PAGES_DIR) -> tuple[PageInfo, ...]:
    pages = []
    for path in sorted(pages_dir.glob("[0-9][0-9]_*.py")):
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        except SyntaxError:  # a page being edited must not take the whole app down: it errs on its own
            doc = ""
        first = doc.strip().splitlines()[0] if doc.strip() else path.stem
        title, _, teaches = first.partition(SEPARATOR)
        pages.append(PageInfo(path, title.strip(), teaches.strip()))
    return tuple(pages)
