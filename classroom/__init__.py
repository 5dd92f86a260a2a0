"""The class board's storage: a lecturer opens a class, students post runs to it, everyone reads the board.

No streamlit here: the board page (ui/, pages/) calls `Board`; this package holds the tables (schema.py),
the engine and migrations (engine.py, migrations/), what a post may hold (validate.py), the keys and
passphrases (keys.py) and the queries (board.py).
"""

from classroom.board import MAX_POSTS_PER_CLASS, MAX_POSTS_PER_SESSION, Board, BoardError, ClassInfo, Post
from classroom.config import database_url

__all__ = [
    "MAX_POSTS_PER_CLASS",
    "MAX_POSTS_PER_SESSION",
    "Board",
    "BoardError",
    "ClassInfo",
    "Post",
    "database_url",
]
