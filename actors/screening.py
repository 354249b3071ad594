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

import base64
import binascii
import re
import struct
from typing import Any

import orjson
from pika import data as pika_data

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
    # Written again from the document even when it masked nothing: what parsing dropped
    # (the first of two equal keys, a float's last digits) may be a card in the raw bytes.
    return written(scan.mask_document(doc), body, scan)


def written(masked_doc: Any, body: bytes, scan: CardScan) -> bytes:
    """A masked document as bytes; the body masked as bytes where orjson cannot write the
    document (nested deeper than its 254 levels)."""
    try:
        return orjson.dumps(masked_doc)
    except orjson.JSONEncodeError:
        return mask_bytes(body, scan)


# --- AMQP header tables pika cannot decode ------------------------------------------------

#: The bytes each fixed-size field-table value takes after its type octet (AMQP 0-9-1 as
#: RabbitMQ speaks it); `S`, `x`, `A` and `F` carry a 4-byte length instead.
_FIXED_SIZES = {b"t": 1, b"b": 1, b"B": 1, b"U": 2, b"u": 2, b"s": 2, b"I": 4, b"i": 4,
                b"f": 4, b"L": 8, b"l": 8, b"d": 8, b"T": 8, b"D": 5, b"V": 0}  # fmt: skip
_LENGTH_PREFIXED = (b"S", b"x", b"A", b"F")
#: What stands in a header table for a value (or a whole table) pika could not decode.
UNDECODABLE = "(undecodable)"


class _UndecodableTable(Exception):
    """A value of unknown type: the rest of its table cannot be read."""


def tolerate_undecodable_headers() -> None:
    """Make pika decode any header table RabbitMQ passes through. pika fails on a timestamp
    past year 9999, a float that is NaN or infinite, a type octet it does not know, and
    arrays nested a few thousand deep (its recursion); it fails while reading the frame, so
    the connection drops and the same message comes first again: that queue stops for
    good. Each such value becomes `UNDECODABLE` (skipped by its size), a table holding an
    unknown type becomes `{"x-ordercare-undecodable": …}`, and the message is handled like
    any other (OrderCare reads no header)."""
    if getattr(pika_data.decode_value, "ordercare_tolerant", False):
        return
    decode_value, decode_table = pika_data.decode_value, pika_data.decode_table

    def tolerant_value(encoded: bytes, offset: int) -> tuple[Any, int]:
        try:
            return decode_value(encoded, offset)  # type: ignore[no-any-return]
        except (Exception, RecursionError) as exc:
            kind = encoded[offset : offset + 1]
            if kind in _FIXED_SIZES and offset + 1 + _FIXED_SIZES[kind] <= len(encoded):
                return UNDECODABLE, offset + 1 + _FIXED_SIZES[kind]
            if kind in _LENGTH_PREFIXED and offset + 5 <= len(encoded):
                length = struct.unpack_from(">I", encoded, offset + 1)[0]
                return UNDECODABLE, offset + 5 + length
            raise _UndecodableTable(kind) from exc

    def tolerant_table(encoded: bytes, offset: int) -> tuple[dict[str, Any], int]:
        try:
            return decode_table(encoded, offset)  # type: ignore[no-any-return]
        except (Exception, RecursionError):
            if offset + 4 > len(encoded):
                raise
            length = struct.unpack_from(">I", encoded, offset)[0]
            return {"x-ordercare-undecodable": UNDECODABLE}, offset + 4 + length

    tolerant_value.ordercare_tolerant = True  # type: ignore[attr-defined]
    pika_data.decode_value = tolerant_value
    pika_data.decode_table = tolerant_table


# --- reply queues -----------------------------------------------------------------------

_DIRECT_REPLY_TO = re.compile(
    r"amq\.rabbitmq\.reply-to\.([A-Za-z0-9+/]+={0,2})\.([A-Za-z0-9+/]+={0,2})"
)


def plausible_reply_queue(name: str) -> bool:
    """Whether a reply_to can be a live queue. A direct reply-to name is the broker's own
    (`amq.rabbitmq.reply-to.<its Erlang pid, base64>.<a 16-byte key, base64>`); RabbitMQ
    3.10 closes the connection of whoever publishes to a malformed one, so a name that does
    not decode that way is refused like any other unusable reply_to."""
    if not name.startswith("amq.rabbitmq.reply-to"):
        return True
    match = _DIRECT_REPLY_TO.fullmatch(name)
    if match is None:
        return False
    try:
        pid = base64.b64decode(match.group(1), validate=True)
        key = base64.b64decode(match.group(2), validate=True)
    except binascii.Error:
        return False
    return pid[:1] == b"\x83" and len(key) == 16  # Erlang's external term format, version 131
