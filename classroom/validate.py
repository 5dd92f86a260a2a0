"""What the board accepts: each check returns the cleaned value or raises BoardError with a sentence a
student understands. Text is stored raw (escaping it is the page's job), but control characters are refused.
"""

from __future__ import annotations

import json
import math
import numbers
import unicodedata

from classroom.keys import CODE_ALPHABET, CODE_LENGTH

METRIC_KEYS = ("elbo", "recon", "kl", "active_units", "mutual_information", "steps")
MAX_SETTINGS_BYTES = 4096  # the settings as compact UTF-8 JSON
MAX_SESSION_CHARS = 200


class BoardError(ValueError):
    """A refusal from the board; str(error) is a sentence to show the person who asked."""


def class_code(code: object) -> str:
    """'  k7pq2m ' -> 'K7PQ2M'; anything that cannot be a code is refused."""
    c = code.strip().upper() if isinstance(code, str) else ""
    if len(c) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in c):
        raise BoardError("A class code has 6 letters and digits, such as K7PQ2M.")
    return c


def _has_control(s: str) -> bool:
    # Cc: C0/C1 controls (tabs and newlines too); Cf: format characters such as right-to-left overrides,
    # except the zero-width joiner that emoji sequences use; Zl/Zp: line and paragraph separators.
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") and ch != "\u200d" for ch in s)


def name(value: object, what: str, max_chars: int) -> str:
    """A person's text (a name, a title): stripped, inner whitespace collapsed to single spaces."""
    if not isinstance(value, str):
        raise BoardError(f"The {what} must be text.")
    if _has_control(value):
        raise BoardError(f"The {what} cannot contain control characters such as tabs or line breaks.")
    s = " ".join(value.split())
    if not s:
        raise BoardError(f"Please enter a {what}.")
    if len(s) > max_chars:
        raise BoardError(f"The {what} can be at most {max_chars} characters long.")
    return s


def page(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 40 or not value.strip().isprintable():
        raise BoardError("The page name must be 1 to 40 printable characters.")
    return value.strip()


def passphrase(value: object) -> str:
    if not isinstance(value, str) or not 4 <= len(value) <= 128:
        raise BoardError("A passphrase must be 4 to 128 characters long.")
    if _has_control(value):
        raise BoardError("A passphrase cannot contain control characters such as tabs or line breaks.")
    return value


def session(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_SESSION_CHARS:
        raise BoardError("This browser session has no id, so it cannot post; please reload the page.")
    return value


def seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not -(2**63) <= value < 2**63:
        raise BoardError("The seed must be a whole number.")
    return int(value)


def _number(value: object) -> int | float | None:
    """int or finite float (numpy scalars too); None passes; anything else raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value):
        raise ValueError
    return float(value)


def _scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, str):
        if _has_control(value):
            raise ValueError
        return value
    if isinstance(value, bool):
        return value
    return _number(value)


def settings(value: object) -> dict:
    """A run's settings: text keys; values text, numbers, true/false, None, or lists of those; <= 4 KB."""
    if not isinstance(value, dict):
        raise BoardError("The run's settings must be a table of names and values.")
    out: dict = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or _has_control(k):
            raise BoardError("Each setting needs a name made of printable characters.")
        try:
            out[k] = [_scalar(x) for x in v] if isinstance(v, list | tuple) else _scalar(v)
        except ValueError:
            raise BoardError(
                f"The setting {k!r} must be text, a finite number, true/false, empty, or a list of those."
            ) from None
    if len(json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) > MAX_SETTINGS_BYTES:
        raise BoardError(f"The run's settings are too long to post (at most {MAX_SETTINGS_BYTES // 1024} KB).")
    return out


def metrics(value: object) -> dict:
    """Among elbo, recon, kl, active_units, mutual_information, steps: finite numbers, or None for n/a."""
    if not isinstance(value, dict):
        raise BoardError("The run's results must be a table of names and numbers.")
    out: dict = {}
    for k, v in value.items():
        if k not in METRIC_KEYS:
            raise BoardError(f"The board does not know the result {k!r}; it shows {', '.join(METRIC_KEYS)}.")
        try:
            out[k] = _number(v)
        except ValueError:
            raise BoardError(f"The result {k} must be a finite number (or empty), not {v!r}.") from None
    return out
