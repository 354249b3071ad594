"""The first defence against bad input: what a delivery carries, made safe before it is read.

An AMQP delivery's short strings (routing key, reply_to, correlation_id, message_id, …) are
bytes on the wire; pika hands them over as `str` when they are UTF-8 and as `bytes` when
not, and any of them may hold NUL or control characters that PostgreSQL text cannot store.
Here each becomes either clean text (UTF-8, no control characters) or a printable
rendering of what was sent (`order.\\xffcancel`) that can be stored, logged and shown in a
rejection, so nothing downstream ever meets raw bytes. The body's cheap structural checks
(size, nesting depth) and the envelope attributes readable from the head of an over-size
body live here too.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from services.accounts.cards import CardScan, mask_bytes, may_hold_card

#: The deepest nesting of objects and arrays a message may have. OrderCare's deepest
#: message is six levels; JSON's parser stops at 1,024 by itself.
MAX_DEPTH = 32
#: The most objects and arrays a message may hold, counted as the `{` and `[` characters
#: of its body (in strings too: an upper bound found at C speed, before parsing). The
#: largest message OrderCare takes, a catalogue of 1,000 items, has about 2,000; parsing
#: many more costs a worker tens of milliseconds, mostly in the garbage collector.
MAX_CONTAINERS = 10_000
#: How much of an over-size body is kept (masked) for inspection.
KEPT_PREFIX_BYTES = 4096
#: AMQP short strings are at most 255 bytes; a rendering stays within that many characters.
_SHORTSTR = 255

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(value: Any) -> str | None:
    """The value as text when it is UTF-8 without control characters; else None."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or _CONTROL.search(value):
        return None
    return value


def printable(value: Any, limit: int = _SHORTSTR) -> str:
    """Any value as text that can be stored and shown: bytes that are not UTF-8 and control
    characters become `\\xNN` escapes."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    elif not isinstance(value, str):
        value = str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)[:limit]


# --- nesting depth ----------------------------------------------------------------------

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]++")
_PAIR = re.compile(rb"\[\]|\{\}")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether a body that parsed as JSON nests objects and arrays deeper than `limit`.
    Strings are cut out, then innermost pairs removed `limit` times: all C-speed regular
    expressions, linear in the body (call it only on valid JSON, whose strings all end)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    shape = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    for _ in range(limit):
        shape, removed = _PAIR.subn(b"", shape)
        if not shape or not removed:
            return False
    return bool(shape)


# --- the head of an over-size body --------------------------------------------------------

_HEAD_START = re.compile(rb"\s*\{")
_HEAD_ATTRIBUTE = re.compile(
    rb'\s*"(specversion|id|source|type|subject|time|correlationid|causationid|datacontenttype)"'
    rb'\s*:\s*("(?:[^"\\]|\\.){0,400}"|null)\s*,?'
)


def head_attributes(prefix: bytes) -> dict[str, Any] | None:
    """The CloudEvents attributes at the start of a body too large to parse, when they come
    before anything else (as publishers write them), so its sender can still be answered."""
    start = _HEAD_START.match(prefix)
    if start is None:
        return None
    found: dict[str, Any] = {}
    pos = start.end()
    while (match := _HEAD_ATTRIBUTE.match(prefix, pos)) is not None:
        try:
            found[match.group(1).decode()] = orjson.loads(match.group(2))
        except orjson.JSONDecodeError:
            break
        pos = match.end()
    return found or None


# --- what is kept of a refused message ----------------------------------------------------


def kept_copy(body: bytes, scan: CardScan, doc: Any = None) -> bytes:
    """What the inbox or the dead letters keep of a refused message: the body with every
    card-like run masked. A JSON body stays JSON with its identifiers as they were; anything
    else is masked as raw bytes. A body with no run of 13 digits is kept as it is, found
    by one C-speed search. `doc` is the body already parsed, when it was."""
    if doc is None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return mask_bytes(body, scan)
    if not may_hold_card(body):
        return body
    before = scan.masked
    masked = scan.mask_document(doc)
    return orjson.dumps(masked) if scan.masked > before else body
