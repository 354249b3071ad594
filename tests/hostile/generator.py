"""Hostile messages for OrderCare, reproducible from a seed.

Every message starts as a valid one built with tests/messages.py and is then broken in
one way, its kind (`body.nul`, `amqp.reply_to`, `schema.drop_required`, `card.billing`, …)
saying which. Message n of seed s is drawn from its own `random.Random`, so
`Generator(s).message(n)` rebuilds any single message of a run. Envelope ids are
`fz-<seed>-<n>` (with a suffix where the id itself is the hostile part), unique in a run;
the AMQP message_id is `fz-<seed>-<n>` unless the message_id is the hostile part.

Card numbers are planted only in `data.note` of commands and in non-identifier fields of
`billing_account.*` messages: identifiers are echoed verbatim by design.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson

from contracts.registry import COMMANDS, ORIGINS, QUERIES
from tests import messages as m

Group = Literal["commands", "warehouse", "payments"]
GROUPS: tuple[Group, ...] = ("commands", "warehouse", "payments")

#: Every envelope's `time`: a fixed instant, so a seed gives the same bytes on every run.
FIXED_TIME = "2026-11-26T12:00:00+00:00"
SCHEMAS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"

#: Well-known test card numbers (Visa, Mastercard, Amex, Discover).
FAMOUS_CARDS = ("4111111111111111", "5500000000000004", "378282246310005", "6011000990139424")
#: What may stand between digit groups: none, spaces of several kinds, punctuation.
SEPARATORS = ("", " ", "\u00a0", "\u2009", "\u202f", "\u3000", "\u2007", "-", ".", "/", "_", " - ")


@dataclass(frozen=True, slots=True)
class Card:
    """A card number planted in a message: its digits, the text as planted, and where."""

    digits: str
    text: str
    where: str


@dataclass(frozen=True, slots=True)
class Hostile:
    """One message to publish and what the harness needs to account for it."""

    n: int
    kind: str
    group: Group
    routing_key: str | bytes
    body: bytes
    #: pika.BasicProperties keyword arguments; reply_to is added by the harness when `reply`.
    properties: dict[str, Any]
    #: reply_to is the harness's own server-named queue.
    reply: bool
    #: The envelope id the body carries: an outcome must name it verbatim. None when the body
    #: has no unique string id (not JSON, no id, an id of another type, an empty one).
    body_id: str | None
    #: The message_id to expect in a dead letter's x-original-message-id; None when the
    #: message_id is itself the hostile part (then only an outcome can account for it).
    dead_letter_id: str | None
    cards: tuple[Card, ...] = ()

    def describe(self, limit: int = 300) -> str:
        """A Python repr of what was published, the body cut to `limit` bytes."""
        body = repr(self.body[:limit]) + (
            f" … (+{len(self.body) - limit} bytes)" if len(self.body) > limit else ""
        )
        props = dict(self.properties)
        if self.reply:
            props["reply_to"] = "<the harness's reply queue>"
        return (
            f"#{self.n} {self.kind}: exchange={self.group!r} routing_key={self.routing_key!r} "
            f"properties={props!r} body={body}"
        )


@dataclass(frozen=True, slots=True)
class World:
    """What the seeding messages create, for valid messages to refer to."""

    seed: int
    account_id: str = "acc_ada"

    @property
    def order_ids(self) -> tuple[str, ...]:
        return tuple(f"ord-fz-{self.seed}-{i}" for i in range(3))


def seeding(seed: int) -> list[list[dict[str, Any]]]:
    """The catalogue and Ada's account, then three orders: each phase waits for the last."""
    world = World(seed)
    phases = [[m.catalog(), m.account(world.account_id)], [m.order(o) for o in world.order_ids]]
    count = 0
    for phase in phases:
        for doc in phase:
            doc["id"], doc["time"] = f"fz-{seed}-seed-{count}", FIXED_TIME
            count += 1
    return phases


def luhn_complete(partial: str) -> str:
    """`partial` with the check digit that makes it pass the Luhn test."""
    total = 0
    for i, char in enumerate(reversed(partial)):
        value = int(char) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return partial + str((10 - total % 10) % 10)


@cache
def _schema(message_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{message_type}.json").read_text())
    return loaded


class _Missing:
    pass


MISSING = _Missing()


@dataclass(slots=True)
class _Draft:
    """A message being built: a document, or raw bytes once it is no longer one."""

    doc: Any
    group: Group
    routing_key: str | bytes
    props: dict[str, Any] = field(default_factory=dict)
    reply: bool = False
    body: bytes | None = None
    #: Placeholder string -> the raw JSON bytes (quotes included) that replace it.
    splices: dict[str, bytes] = field(default_factory=dict)
    body_id: str | _Missing | None = MISSING
    hostile_message_id: bool = False
    cards: list[Card] = field(default_factory=list)

    @property
    def type(self) -> str:
        declared = self.doc.get("type") if isinstance(self.doc, dict) else None
        return declared if isinstance(declared, str) else ""

    @property
    def data(self) -> dict[str, Any]:
        data = self.doc.get("data")
        if isinstance(data, dict):
            return data
        fresh: dict[str, Any] = {}
        self.doc["data"] = fresh
        return fresh

    def render(self) -> bytes:
        if self.body is not None:
            return self.body
        raw = orjson.dumps(self.doc)
        for token, replacement in self.splices.items():
            raw = raw.replace(orjson.dumps(token), replacement)
        return raw


_Builder = Callable[["_Maker"], _Draft]


class Generator:
    """Hostile message n of a seed: `message(n)`, or `messages(count)` for a run."""

    def __init__(self, seed: int, max_message_bytes: int = 256 * 1024) -> None:
        self.seed = seed
        self.max_message_bytes = max_message_bytes
        self.world = World(seed)

    def message(self, n: int) -> Hostile:
        rng = random.Random(f"hostile:{self.seed}:{n}")
        kinds = list(KINDS)
        if n < 2 * len(kinds):  # the first two rounds show every kind, then by weight
            kind = kinds[n % len(kinds)]
        else:
            kind = rng.choices(kinds, weights=[KINDS[k][0] for k in kinds])[0]
        maker = _Maker(self, rng, n)
        draft = KINDS[kind][1](maker)
        return maker.finish(kind, draft)

    def messages(self, count: int, start: int = 0) -> Iterator[Hostile]:
        for n in range(start, start + count):
            yield self.message(n)


class _Maker:
    """Builds message n: valid templates and the mutations applied to them."""

    def __init__(self, gen: Generator, rng: random.Random, n: int) -> None:
        self.gen, self.rng, self.n = gen, rng, n
        self.tag = f"{gen.seed}-{n}"
        self.id = f"fz-{self.tag}"
        self._token = 0

    # --- valid messages -------------------------------------------------------------------

    def valid(self, types: tuple[str, ...] | None = None) -> _Draft:
        """A valid message of a random (or given) type, on its own exchange."""
        templates = self._templates()
        chosen = self.rng.choice(types or tuple(templates))
        doc = copy.deepcopy(templates[chosen]())  # the helpers share AGENT, BERLIN, …
        doc["id"], doc["time"] = self.id, FIXED_TIME
        group: Group = ORIGINS.get(chosen, "commands")
        draft = _Draft(doc, group, chosen)
        # Queries are answered on reply_to only: mostly with one. Commands sometimes, so
        # every mutation also meets the reply path (correlation_id defaults to the id).
        draft.reply = self.rng.random() < (0.8 if chosen in QUERIES else 0.15)
        return draft

    def _templates(self) -> dict[str, Callable[[], dict[str, Any]]]:
        r, w, tag = self.rng, self.gen.world, self.tag
        order = r.choice(w.order_ids)
        return {
            "order.create": lambda: m.order(f"ord-fz-{tag}" if r.random() < 0.5 else None),
            "order.amend": lambda: m.amend(
                order,
                [{"action": "set_quantity", "line_id": "l1", "quantity": r.randint(1, 4)}],
                preview=r.random() < 0.7,
            ),
            "order.change_delivery": lambda: m.change_delivery(
                order, method=r.choice(["standard", "express"]), preview=True
            ),
            "order.cancel": lambda: m.cancel(order),
            "order.get": lambda: m.get(order),
            "billing_account.create": lambda: m.account(f"acc-fz-{tag}"),
            "billing_account.update": lambda: m.update_account(
                w.account_id, phone=f"+49 30 {r.randint(100000, 999999)}"
            ),
            "billing_account.get": lambda: m.get_account(w.account_id),
            "billing_account.search": lambda: m.search_accounts(r.choice(["Ada", "love", "ada@"])),
            "audit.get": lambda: m.audit("order", order),
            "catalog.upsert": m.catalog,
            "appeasement.offer": lambda: m.appeasement(
                "appeasement.offer",
                kind="store_credit",
                account_id=w.account_id,
                amount="1.00",
                currency="EUR",
                reason="goodwill",
                ticket=f"t-{tag}",
            ),
            "return.create": lambda: m.create_return(
                order, ("l1", 1, "changed_mind"), return_id=f"rma-fz-{tag}"
            ),
            "refund.retry": lambda: m.envelope(
                "refund.retry",
                {
                    "actor": m.AGENT,
                    "order_id": order,
                    "refund_id": "ref-none",
                    "reason": "customer_request",
                },
                subject=order,
            ),
            "warehouse.shipped": lambda: m.warehouse(
                "warehouse.shipped",
                order,
                shipment_id=f"shp-fz-{tag}",
                carrier="DHL",
                tracking_number="00340434161234567890",
                warehouse="berlin-1",
                lines=[{"line_id": "l1", "quantity": 1}],
            ),
            "warehouse.short_picked": lambda: m.warehouse(
                "warehouse.short_picked",
                order,
                line_id="l2",
                sku="HOODIE-GREY-L",
                quantity=1,
                warehouse="berlin-1",
            ),
            "warehouse.backordered": lambda: m.warehouse(
                "warehouse.backordered",
                order,
                line_id="l1",
                quantity=1,
                expected_date="2026-12-24",
                warehouse="berlin-1",
            ),
            "warehouse.delivered": lambda: m.warehouse(
                "warehouse.delivered", order, shipment_id=f"shp-fz-{tag}"
            ),
            "payment.captured": lambda: m.payment(
                "payment.captured", order, amount="1.00", currency="EUR"
            ),
            "payment.refund_settled": lambda: m.payment(
                "payment.refund_settled", order, refund_id="ref-none"
            ),
            "payment.refund_failed": lambda: m.payment(
                "payment.refund_failed", order, refund_id="ref-none", failure_reason="declined"
            ),
        }

    def command(self) -> _Draft:
        """A valid command (no query), not of the billing-account flow."""
        return self.valid(tuple(t for t in self._templates() if t in COMMANDS and not _billing(t)))

    def billing(self, queries: bool = True) -> _Draft:
        types = ["billing_account.create", "billing_account.update"]
        if queries:
            types += ["billing_account.get", "billing_account.search"]
        return self.valid(tuple(types))

    # --- helpers --------------------------------------------------------------------------

    def token(self) -> str:
        """A placeholder that `splice` replaces with raw JSON in the rendered body."""
        self._token += 1
        return f"@@fz-splice-{self._token}@@"

    def splice(self, draft: _Draft, raw: bytes) -> str:
        token = self.token()
        draft.splices[token] = raw
        return token

    def card(self, where: str) -> Card:
        r = self.rng
        if r.random() < 0.4:
            digits = r.choice(FAMOUS_CARDS)
        else:
            digits = luhn_complete("4" + "".join(str(r.randint(0, 9)) for _ in range(14)))
        sizes = (4, 6, 5) if len(digits) == 15 else (4, 4, 4, 4)
        groups, at = [], 0
        for size in sizes:
            groups.append(digits[at : at + size])
            at += size
        if r.random() < 0.2:  # mixed separators
            text = groups[0] + "".join(r.choice(SEPARATORS) + g for g in groups[1:])
        else:
            text = r.choice(SEPARATORS).join(groups)
        return Card(digits, text, where)

    def finish(self, kind: str, draft: _Draft) -> Hostile:
        body = draft.render()
        if isinstance(draft.body_id, _Missing):
            declared = draft.doc.get("id") if isinstance(draft.doc, dict) else None
            body_id = declared if isinstance(declared, str) and declared else None
        else:
            body_id = draft.body_id
        props: dict[str, Any] = {"delivery_mode": 2}
        if not draft.hostile_message_id:
            props["message_id"] = self.id
        props.update(draft.props)
        return Hostile(
            n=self.n,
            kind=kind,
            group=draft.group,
            routing_key=draft.routing_key,
            body=body,
            properties=props,
            reply=draft.reply,
            body_id=body_id,
            dead_letter_id=None if draft.hostile_message_id else self.id,
            cards=tuple(draft.cards),
        )


def _billing(message_type: str) -> bool:
    return message_type.startswith("billing_account.")


def _nested(depth: int, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"]" * depth


# --- 1. broken bodies -------------------------------------------------------------------------


def _not_json(k: _Maker) -> _Draft:
    draft = k.valid()
    body = draft.render()
    draft.body = k.rng.choice(
        [
            b"hello",
            b"",
            b" \n\t ",
            b"{'specversion': '1.0', 'id': '" + k.id.encode() + b"'}",
            b"<order id='1'/>",
            b"NaN",
            b"{",
            b"}{",
            b'{"a":1}{"b":2}',
            b"\xef\xbb\xbf" + body,  # a UTF-8 byte-order mark before valid JSON
            body[:-1] + b",}",  # a trailing comma
            body + b"\n" + body,  # two documents
            body.replace(b'"', b"'"),
        ]
    )
    return draft


def _invalid_utf8(k: _Maker) -> _Draft:
    draft = k.valid()
    bad = k.rng.choice([b'"caf\xe9"', b'"\xff\xfe"', b'"\xed\xa0\x80"', b'"\xc0\xaf"', b'"\x80"'])
    where = k.rng.choice(["note", "key", "utf16", "tail"])
    if where == "note":
        draft.data["note"] = k.splice(draft, bad)
    elif where == "key":
        draft.data[k.splice(draft, bad)] = "x"
    elif where == "utf16":
        draft.body = json.dumps(draft.doc).encode("utf-16")
    else:
        draft.body = draft.render() + b"\xff"
    return draft


def _truncated(k: _Maker) -> _Draft:
    draft = k.valid()
    body = draft.render()
    cut = k.rng.randint(1, len(body) - 1)
    draft.body = body[:cut]
    if f'"id":"{k.id}"'.encode() not in draft.body:
        draft.body_id = None
    return draft


def _not_object(k: _Maker) -> _Draft:
    draft = k.valid()
    draft.body = k.rng.choice(
        [
            orjson.dumps([draft.doc]),
            b"42",
            b"-1.5e308",
            b'"' + k.id.encode() + b'"',
            b"null",
            b"true",
            b"[]",
            b"1e999999",
            b"123456789012345678901234567890",
        ]
    )
    return draft


def _deep(k: _Maker) -> _Draft:
    depth = k.rng.choice([40, 500, 1000, 1024, 1100])
    nested = _nested(depth, k.rng)
    where = k.rng.choice(["data", "extension", "billing", "bare", "data_root"])
    draft = k.billing(queries=False) if where == "billing" else k.valid()
    if where == "bare":
        draft.body, draft.body_id = nested, None
    elif where == "extension":
        draft.doc["deep"] = k.splice(draft, nested)
    elif where == "data_root":
        draft.doc["data"] = k.splice(draft, nested)
    else:
        draft.data["deep"] = k.splice(draft, nested)
    return draft


def _huge(k: _Maker) -> _Draft:
    limit = k.gen.max_message_bytes
    r = k.rng
    size = r.choice(
        [
            limit,  # exactly the limit: still allowed
            limit + 1,
            limit + r.randint(2, 8192),
            limit + r.randint(2, 8192),
            r.randint(1 << 20, 2 << 20),  # far over, at most 2 MiB
        ]
    )
    shape = r.choice(["extension_after", "padding_first", "note", "garbage"])
    draft = k.valid()
    if shape == "garbage":
        draft.body = bytes(r.getrandbits(8) for _ in range(64)) * (size // 64 + 1)
        draft.body = draft.body[:size]
        draft.body_id = None
        return draft
    token = k.token()
    if shape == "padding_first":
        draft.doc = {"padding": token, **draft.doc}
    elif shape == "note":
        draft.data["note"] = token
    else:
        draft.doc["padding"] = token
    base = len(orjson.dumps(draft.doc)) - len(orjson.dumps(token))
    draft.splices[token] = b'"' + b"x" * max(size - base - 2, 0) + b'"'
    return draft


def _nul(k: _Maker) -> _Draft:
    where = k.rng.choice(
        ["note", "data_key", "id", "source", "type", "subject", "correlationid",
         "extension_key", "raw_nul", "billing_name"]
    )  # fmt: skip
    draft = k.billing(queries=False) if where == "billing_name" else k.valid()
    if where == "note":
        draft.data["note"] = k.splice(draft, b'"before\\u0000after"')
    elif where == "data_key":
        draft.data[k.splice(draft, b'"no\\u0000te"')] = "x"
    elif where == "id":
        draft.doc["id"] = k.splice(draft, f'"{k.id}-nul\\u0000"'.encode())
        draft.body_id = f"{k.id}-nul\x00"
    elif where in ("source", "type", "subject", "correlationid"):
        value = draft.doc.get(where) or "x"
        draft.doc[where] = k.splice(draft, orjson.dumps(value)[:-1] + b'\\u0000"')
    elif where == "extension_key":
        draft.doc[k.splice(draft, b'"ext\\u0000ension"')] = "x"
    elif where == "raw_nul":  # a raw control byte inside a string: not JSON
        draft.data["note"] = k.splice(draft, b'"a\x00b"')
    else:
        draft.data["name"] = k.splice(draft, b'"Ada\\u0000Lovelace"')
    return draft


def _lone_surrogate(k: _Maker) -> _Draft:
    escape = k.rng.choice([b"\\ud800", b"\\udfff", b"x\\ud83dy", b"\\ude00\\ud83d"])
    where = k.rng.choice(["note", "id", "key", "source", "billing_name", "paired"])
    draft = k.billing(queries=False) if where == "billing_name" else k.valid()
    if where == "note":
        draft.data["note"] = k.splice(draft, b'"' + escape + b'"')
    elif where == "id":
        draft.doc["id"] = k.splice(draft, f'"{k.id}-'.encode() + escape + b'"')
        draft.body_id = f"{k.id}-" + escape.decode("unicode_escape")
    elif where == "key":
        draft.data[k.splice(draft, b'"' + escape + b'"')] = "x"
    elif where == "source":
        draft.doc["source"] = k.splice(draft, b'"helpdesk/' + escape + b'"')
    elif where == "billing_name":
        draft.data["name"] = k.splice(draft, b'"Ada ' + escape + b'"')
    else:  # a valid pair, for contrast: an emoji
        draft.data["note"] = k.splice(draft, b'"thanks \\ud83d\\ude00"')
    return draft


def _long_string(k: _Maker) -> _Draft:
    draft = k.billing(queries=False) if k.rng.random() < 0.3 else k.valid()
    text = " ".join("1" * 125_000)  # 250 KB of "1 1 1 …"
    field_name = "name" if _billing(draft.type) and k.rng.random() < 0.5 else "note"
    draft.data[field_name] = text
    return draft


# --- 2. odd AMQP properties -------------------------------------------------------------------


def _routing_key(k: _Maker) -> _Draft:
    draft = k.valid()
    key = draft.type.encode()
    keys: list[str | bytes] = [
        key + b"\xff",
        b"\xff\xfe",
        b"billing_account.\xff",
        key + b"\x00",
        key + b"\x00x",
        "",
        "#",
        "*.*",
        "r" * 255,
        key.upper(),
    ]
    draft.routing_key = k.rng.choice(keys)
    return draft


def _reply_to(k: _Maker) -> _Draft:
    draft = k.command() if k.rng.random() < 0.8 else k.valid()
    if draft.type in QUERIES:  # a query's answer goes to reply_to only: keep it observable
        draft.reply = True
        return draft
    odd: Any = k.rng.choice(
        ["usable", b"amq.gen-\xff", "amq.gen-\x00x", "not-a-reply-queue", "",
         "amq.gen-" + "x" * 247, b"\xff\xfe"]
    )  # fmt: skip
    if odd == "usable":
        draft.reply = True
        if k.rng.random() < 0.5:
            draft.props["correlation_id"] = f"corr-{k.tag}"
    else:
        draft.reply = False
        draft.props["reply_to"] = odd
    return draft


def _correlation_id(k: _Maker) -> _Draft:
    draft = k.valid()
    draft.props["correlation_id"] = k.rng.choice(
        [
            uuid.UUID(int=k.rng.getrandbits(128), version=4).bytes,
            f"corr-{k.tag}\x00x",
            "",
            "c" * 255,
            b"\xff\xfe" + k.tag.encode(),
            f"corr-{k.tag}-é",
        ]
    )
    draft.reply = draft.type in QUERIES or k.rng.random() < 0.8
    return draft


def _message_id(k: _Maker) -> _Draft:
    draft = k.valid()
    draft.hostile_message_id = True
    draft.props["message_id"] = k.rng.choice(
        [
            f"fz-{k.tag}-\xff".encode("latin-1"),
            f"fz-{k.tag}\x00",
            "",
            "m" * 255,
            b"\x00",
            uuid.UUID(int=k.rng.getrandbits(128), version=4).bytes,
        ]
    )
    return draft


def _properties(k: _Maker) -> _Draft:
    draft = k.valid()
    choices: list[tuple[str, Any]] = [
        ("type", b"\xff"),
        ("type", "order.cancel"),
        ("type", "t" * 255),
        ("content_type", "text/plain"),
        ("content_type", b"application/json\xff"),
        ("content_type", "application/json\x00"),
        ("content_encoding", "gzip"),
        ("content_encoding", b"\xff"),
        ("app_id", b"\xff\x00"),
        ("priority", 255),
        ("delivery_mode", 1),
        ("timestamp", 0),
        ("timestamp", 2**63 - 1),
        ("cluster_id", "x\x00y"),
    ]
    for name, value in k.rng.sample(choices, k.rng.randint(1, 4)):
        draft.props[name] = value
    return draft


def _headers(k: _Maker) -> _Draft:
    draft = k.valid()
    r = k.rng
    pool: dict[Any, Any] = {
        "bytes": b"\xff\x00\xfe",
        "none": None,
        "nested": {"a": {"b": [1, b"x", None, {"c": "d"}]}},
        "decimal": Decimal("1.23"),
        "big_decimal": Decimal("-987654.321"),
        "datetime": datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        "list": ["a", 1, True, None, b"\x00"],
        "empty": "",
        "nul\x00key": "v",
        b"\xffkey": "v",
        "long": "h" * 4000,
        "int": -(2**63),
        "x-original-message-id": "forged",
        "x-ordercare-reason": "forged",
        "x-death": [{"count": 1, "reason": "rejected", "queue": "nowhere"}],
    }
    keys = r.sample(list(pool), r.randint(1, len(pool)))
    draft.props["headers"] = {key: pool[key] for key in keys}
    return draft


# --- 3. mutated schema-valid commands ---------------------------------------------------------


def _other_type_value(rng: random.Random, current: Any) -> Any:
    values: list[Any] = [42, -1, 3.14, True, False, None, [], {}, "str", [1, "a"], {"x": 1}, 1e308]
    return rng.choice([v for v in values if type(v) is not type(current)])


def _wrong_type(k: _Maker) -> _Draft:
    draft = k.valid()
    if k.rng.random() < 0.25:
        name = k.rng.choice(["specversion", "id", "source", "type", "time", "subject", "data"])
        draft.doc[name] = _other_type_value(k.rng, draft.doc.get(name))
        return draft
    target = draft.data
    name = k.rng.choice(list(target))
    if isinstance(target[name], dict) and target[name] and k.rng.random() < 0.5:
        target, name = target[name], k.rng.choice(list(target[name]))
    if k.rng.random() < 0.15:
        target[name] = k.splice(draft, b"123456789012345678901234567890")  # beyond 64 bits
    else:
        target[name] = _other_type_value(k.rng, target[name])
    return draft


def _drop_required(k: _Maker) -> _Draft:
    draft = k.valid()
    if k.rng.random() < 0.35:
        del draft.doc[k.rng.choice(["specversion", "id", "source", "type", "data"])]
        return draft
    required = [f for f in _schema(draft.type).get("required", []) if f in draft.data]
    if not required:
        del draft.doc["data"]
        return draft
    for name in k.rng.sample(required, k.rng.randint(1, len(required))):
        del draft.data[name]
    return draft


def _unknown_field(k: _Maker) -> _Draft:
    draft = k.valid()
    value = k.rng.choice(["x", 1, None, {"nested": True}, ["a"], "ü" * 50])
    if k.rng.random() < 0.5:
        draft.data[k.rng.choice(["unexpected", "Order_Id", "__proto__", "data", "é"])] = value
    else:  # an extension attribute, tolerated by the envelope
        draft.doc[k.rng.choice(["traceparent", "x-custom", "partitionkey", "ÿ"])] = value
    return draft


def _routing_mismatch(k: _Maker) -> _Draft:
    draft = k.valid()
    others = [t for t in [*COMMANDS, *QUERIES] if t != draft.type]
    draft.routing_key = k.rng.choice([*others, "order.explode", "command.accepted"])
    return draft


def _wrong_exchange(k: _Maker) -> _Draft:
    draft = k.valid()
    draft.group = k.rng.choice([g for g in GROUPS if g != draft.group])
    return draft


def _unknown_type(k: _Maker) -> _Draft:
    draft = k.valid(tuple(t for t in k._templates() if t in COMMANDS))
    new = k.rng.choice(
        ["order.explode", "Order.Create", "order.create ", "ORDER.CREATE", "order.create.v2",
         "command.accepted", "order.created", "t" * 100, "t" * 101, "t" * 200, "t" * 201, " "]
    )  # fmt: skip
    draft.doc["type"] = new
    draft.routing_key = new[:255]
    return draft


def _odd_ids(k: _Maker) -> _Draft:
    draft = k.valid()
    holders: list[tuple[dict[str, Any], str]] = [
        (d, key)
        for d in (draft.data, *(v for v in draft.data.values() if isinstance(v, dict)))
        for key in d
        if key == "id" or key.endswith("_id") or key == "sku"
    ]
    if not holders:
        draft.data["order_id"] = ""
        return draft
    for holder, key in k.rng.sample(holders, k.rng.randint(1, len(holders))):
        holder[key] = k.rng.choice(
            [str(uuid.UUID(int=k.rng.getrandbits(128), version=4)), "", "i" * 201, "i" * 80,
             "i" * 81, "a b", "../../etc/passwd", "ó", " ", "1" * 40]
        )  # fmt: skip
    return draft


def _envelope(k: _Maker) -> _Draft:
    draft = k.valid()
    r = k.rng
    attribute = r.choice(
        ["id", "source", "subject", "correlationid", "specversion", "time", "datacontenttype",
         "data"]
    )  # fmt: skip
    pad = (k.id + "-").ljust
    values: dict[str, list[Any]] = {
        "id": [pad(200, "x"), pad(201, "x"), str(uuid.UUID(int=r.getrandbits(128), version=4)),
               "", 5, None, pad(199, "é")],
        "source": ["", "s" * 200, "s" * 201, 7, None, ["helpdesk"]],
        "subject": ["s" * 201, 5, ""],
        "correlationid": ["c" * 201, 5, {"a": 1}],
        "specversion": ["0.3", 1.0, None, "1.0 "],
        "time": ["yesterday", 12345, "2026-13-45T99:99:99Z", ""],
        "datacontenttype": ["text/xml", "application/json; charset=latin-1", ""],
        "data": [None, [], "string", 5],
    }  # fmt: skip
    draft.doc[attribute] = r.choice(values[attribute])
    if attribute == "id" and isinstance(draft.doc["id"], str) and draft.doc["id"].startswith(k.id):
        draft.body_id = draft.doc["id"]
    return draft


def _multibyte_id(k: _Maker) -> _Draft:
    """An id within 200 characters but over 255 UTF-8 bytes, replied to without a
    correlation_id: the reply's correlation_id (an AMQP shortstr, 255 bytes at most)
    defaults to the id."""
    draft = k.valid()
    fill = k.rng.choice(["é", "€", "😀", "ß"])
    draft.doc["id"] = (k.id + "-").ljust(k.rng.choice([130, 199, 200]), fill)
    draft.reply = True
    return draft


# --- 4. card numbers --------------------------------------------------------------------------


def _card_note(k: _Maker) -> _Draft:
    draft = k.command()
    card = k.card("data.note")
    draft.data["note"] = k.rng.choice(
        ["{}", "customer read out {} on the phone", "card: {}.", "{}\nplease refund"]
    ).format(card.text)
    draft.cards.append(card)
    return draft


_BILLING_PLACES = (
    "name", "email", "phone", "address", "token_ref", "unknown_field", "extension",
    "key", "number", "note", "q",
)  # fmt: skip


def _plant_billing(k: _Maker, draft: _Draft) -> None:
    place = k.rng.choice(_BILLING_PLACES)
    card = k.card(place)
    data = draft.data
    if place == "name":
        data["name"] = f"Ada {card.text}"
    elif place == "email":
        data["email"] = f"{card.text}@example.com"
    elif place == "phone":
        data["phone"] = card.text
    elif place == "address":
        line = k.rng.choice(["name", "line1", "line2", "city", "region", "postal_code", "phone"])
        data["billing_address"] = {**m.BERLIN, line: f"{card.text} Invalidenstraße"}
    elif place == "token_ref":
        data["add_payment_methods"] = [
            {"brand": "visa", "last4": card.digits[-4:], "exp_month": 12, "exp_year": 2030,
             "token_ref": f"tok_{card.text}"}
        ]  # fmt: skip
    elif place == "unknown_field":
        data[k.rng.choice(["card", "pan", "card_number", "memo"])] = card.text
    elif place == "extension":
        draft.doc[k.rng.choice(["paymentref", "cardnumber", "xpan"])] = card.text
    elif place == "key":
        data[card.text] = "x"
    elif place == "number":
        data["pan"] = int(card.digits)
        card = Card(card.digits, card.digits, place)
    elif place == "note":
        data["note"] = f"card {card.text}"
    else:
        data["q"] = card.text
    draft.cards.append(card)


def _card_billing(k: _Maker) -> _Draft:
    draft = k.billing()
    _plant_billing(k, draft)
    return draft


def _card_billing_unparseable(k: _Maker) -> _Draft:
    draft = k.billing(queries=False)
    _plant_billing(k, draft)
    body = draft.render()
    draft.body = k.rng.choice([body + b"\xff", body + b"}", body + b"x", body[:-1], body + b"\x00"])
    return draft


def _valid(k: _Maker) -> _Draft:
    draft = k.valid()
    if draft.type not in QUERIES and k.rng.random() < 0.3:
        draft.reply = True
    if draft.reply and k.rng.random() < 0.5:
        draft.props["correlation_id"] = f"corr-{k.tag}"
    return draft


#: kind -> (weight, builder). Weights are relative; the first rounds show every kind.
KINDS: dict[str, tuple[float, _Builder]] = {
    "valid": (10, _valid),
    "body.not_json": (3, _not_json),
    "body.invalid_utf8": (3, _invalid_utf8),
    "body.truncated": (3, _truncated),
    "body.not_object": (3, _not_object),
    "body.deep_nesting": (3, _deep),
    "body.huge": (1.2, _huge),
    "body.nul": (4, _nul),
    "body.lone_surrogate": (2.5, _lone_surrogate),
    "body.long_string": (1.5, _long_string),
    "amqp.routing_key": (4, _routing_key),
    "amqp.reply_to": (5, _reply_to),
    "amqp.correlation_id": (4, _correlation_id),
    "amqp.message_id": (2, _message_id),
    "amqp.properties": (2.5, _properties),
    "amqp.headers": (2.5, _headers),
    "schema.wrong_type": (5, _wrong_type),
    "schema.drop_required": (5, _drop_required),
    "schema.unknown_field": (4, _unknown_field),
    "schema.routing_mismatch": (4, _routing_mismatch),
    "schema.wrong_exchange": (3, _wrong_exchange),
    "schema.unknown_type": (3, _unknown_type),
    "schema.odd_ids": (3, _odd_ids),
    "schema.envelope": (4, _envelope),
    "schema.multibyte_id": (1, _multibyte_id),
    "card.note": (5, _card_note),
    "card.billing": (7, _card_billing),
    "card.billing_unparseable": (3, _card_billing_unparseable),
}
