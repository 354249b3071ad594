"""The first defence against a bad body: its bytes checked in order, cheapest first and each
linear in the body: size, the count of objects and arrays, JSON, an object, nesting depth, NUL
characters, card numbers. No database and no broker here: the processor (actors/inbound.py)
screens each message with `screen`, then turns a refusal into a rejection or a dead letter,
and processes what passed in a transaction. (actors/screening.py has the field-level helpers.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from actors.screening import (
    KEPT_PREFIX_BYTES,
    MAX_CONTAINERS,
    MAX_DEPTH,
    head_attributes,
    printable,
    too_deep,
)
from contracts.common import NOTE_MAX_LENGTH
from contracts.outcomes import FieldError, RejectionCode
from services.accounts.cards import CardScan, mask_cut_tail


@dataclass(frozen=True, slots=True)
class Passed:
    """A JSON object, nothing in it refused: on to the envelope and its schema."""

    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CardNumber:
    """A JSON object carrying what looks like a payment card number, at `where`."""

    where: str
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    """A body refused before it is read as an envelope: `reason` names it (dead letters and
    metrics), `detail` says what is wrong."""

    reason: str
    detail: str
    code: RejectionCode = "invalid"
    #: The attributes to answer with, where they can be read.
    doc: dict[str, Any] | None = None
    errors: list[FieldError] | None = None
    #: The body as parsed JSON, once it was.
    parsed: Any = None
    #: A body never parsed (too large, too complex) is kept as this only: its first bytes,
    #: a card-like run cut at their end masked.
    kept: bytes | None = None


Screened = Passed | CardNumber | Refused


def screen(body: bytes, length: int, routing_key: str, limit: int, scan: CardScan) -> Screened:
    """Screen a body of `length` bytes (`body` may hold only the first of them) sent under
    `routing_key`, against a limit of `limit` bytes; `scan` remembers the card-like runs seen,
    to mask them wherever the message is kept or answered."""
    if length > limit:
        # Only the first bytes are ever read or kept (the consumer passes no more).
        kept = mask_cut_tail(body[:KEPT_PREFIX_BYTES])
        detail = f"{length} bytes exceeds the {limit}-byte limit"
        return Refused("too_large", detail, "too_large", doc=head_attributes(kept), kept=kept)
    if (containers := body.count(b"{") + body.count(b"[")) > MAX_CONTAINERS:
        detail = (
            f"{containers} '{{' and '[' characters exceed the limit of {MAX_CONTAINERS} "
            "objects and arrays"
        )
        # Not parsed, so kept like an over-size body: its first bytes only.
        kept = mask_cut_tail(body[:KEPT_PREFIX_BYTES])
        return Refused("too_complex", detail, doc=head_attributes(kept), kept=kept)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Refused("not_json", not_json(body, exc))
    if not isinstance(doc, dict):
        problem = "the body is JSON but not an object"
        return Refused("not_an_envelope", problem, "not_an_envelope", parsed=doc)
    if too_deep(body):
        problem = f"objects and arrays nest deeper than {MAX_DEPTH} levels"
        return Refused("too_deep", problem, doc=doc, parsed=doc)
    if b"\\u0000" in body and (where := nul_at(doc)) is not None:
        # Before the card check: a refusal stores the message's attributes as text.
        problem = f"{where} contains a NUL character, which no text field may hold"
        error = FieldError(loc=where, message="NUL characters are not allowed", type="string_nul")
        return Refused("nul_character", problem, doc=doc, errors=[error], parsed=doc)
    if (found := card_number_in(routing_key, doc, scan)) is not None:
        return CardNumber(found, doc)
    return Passed(doc)


def try_json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def not_json(body: bytes, exc: orjson.JSONDecodeError) -> str:
    """Why a body is not JSON: not UTF-8 (where), or the parser's message."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (
            f"the body is not UTF-8 text (byte {bad.start} is 0x{body[bad.start]:02x}), so not JSON"
        )
    return f"the body is not JSON: {exc}"[:300]


def nul_at(value: Any) -> str | None:
    """The path of the first key or string holding a NUL character (PostgreSQL text cannot);
    iterative, and the path is put together only for the one found."""
    stack: list[tuple[Any, Any]] = [(None, value)]
    while stack:
        trail, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return _path(trail)
        elif isinstance(item, dict):
            for key in item:
                if "\x00" in key:
                    return _path(trail) + " (a key)"
            stack.extend(((trail, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((trail, n), v) for n, v in reversed(list(enumerate(item))))
    return None


def _path(trail: Any) -> str:
    parts: list[str] = []
    while trail is not None:
        trail, step = trail
        parts.append(printable(str(step)))
    return ".".join(reversed(parts)) or "(root)"


#: Messages checked for card numbers: the billing-account flow's (by routing key or type).
_CARD_GUARDED = "billing_account."


def card_number_in(routing_key: str, doc: dict[str, Any], scan: CardScan) -> str | None:
    """Where a card number is: anywhere but in identifiers in a billing-account message;
    in the free text of any other (`data.note`, which agents type and every audit row and
    event may carry). Identifiers, codes and tracking numbers are not searched: long digit
    runs pass the Luhn check one time in ten. A note over its length limit is refused for
    that by the schema (and masked wherever it is kept), not searched here."""
    if _card_guarded(routing_key, doc):
        return scan.find(doc)
    data = doc.get("data")
    note = data.get("note") if isinstance(data, dict) else None
    if isinstance(note, str) and len(note) <= NOTE_MAX_LENGTH:
        return scan.find(note, "data.note")
    return None


def _card_guarded(routing_key: str, doc: dict[str, Any]) -> bool:
    declared = doc.get("type")
    return routing_key.startswith(_CARD_GUARDED) or (
        isinstance(declared, str) and declared.startswith(_CARD_GUARDED)
    )
