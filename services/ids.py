"""Identifiers: time-ordered, prefixed by what they name (ord_, inv_, cm_, rf_, acc_)."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable

#: RFC 4648 base32 digits, by value, to Crockford's lower-case digits (in ASCII order, so
#: ids sort by time as text).
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")


def new_id(prefix: str) -> str:
    """A 26-character sortable id: 48 bits of milliseconds, 80 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    digits = base64.b32encode(value.to_bytes(16, "big")).decode("ascii")[:26]
    return f"{prefix}_{digits.translate(_CROCKFORD)}"


#: Makes an id from a prefix; `new_id` in production, a counter in tests.
IdFactory = Callable[[str], str]
