"""Class codes, lecturer keys and passphrases: what is made, what is stored, how it is checked.

Lecturer keys and session ids are long random strings, so a plain SHA-256 digest is enough to store them.
A passphrase is chosen by a person, so it is stored with a slow salted hash (scrypt).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: nothing to misread on a projector
CODE_LENGTH = 6

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MB and a few tens of ms per check


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_lecturer_key() -> str:
    return secrets.token_urlsafe(24)


def digest(secret: str) -> str:
    """SHA-256 hex of a random secret (a lecturer key, a session id)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(secret: str, stored: str) -> bool:
    return hmac.compare_digest(digest(secret), stored)


def hash_passphrase(passphrase: str) -> str:
    """'scrypt$n$r$p$salt$hash' (hex)."""
    salt = secrets.token_bytes(16)
    h = hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${h.hex()}"


def check_passphrase(passphrase: str, stored: str) -> bool:
    """Constant-time check of a passphrase against hash_passphrase's string."""
    _, n, r, p, salt, h = stored.split("$")
    got = hashlib.scrypt(passphrase.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got, bytes.fromhex(h))
