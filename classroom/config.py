"""Where the class board lives: the one place that reads GENLAB_DATABASE_URL."""

from __future__ import annotations

import os
from pathlib import Path


def database_url() -> str:
    """GENLAB_DATABASE_URL if set (e.g. postgresql+psycopg://user@host/genlab for a shared deployment),
    else a SQLite file in the user's data folder: $XDG_DATA_HOME/genlab/classroom.sqlite, XDG_DATA_HOME
    defaulting to ~/.local/share. The folder is made when a Board first uses the file."""
    url = os.environ.get("GENLAB_DATABASE_URL", "").strip()
    if url:
        return url
    data_home = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return "sqlite:///" + str(Path(data_home) / "genlab" / "classroom.sqlite")
