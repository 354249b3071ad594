"""Identifiers: time-ordered, prefixed by what they name (ord_, inv_, cm_, rf_, acc_)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str) -> str:
    """A 26-character sortable id: 48 bits of milliseconds, 80 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


#: Makes an id from a prefix; `new_id` in production, a counter in tests.
IdFactory = Callable[[str], str]
