"""The first defence: AMQP fields made safe, cheap structural checks, and the card scanner
seeing the same characters whatever path a message takes."""

from __future__ import annotations

import struct
import sys
import unicodedata
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from dramatiq import Message
from hypothesis import given
from hypothesis import strategies as st
from pika import data as pika_data

from actors.broker import unwrap, wrap
from actors.outbound import amqp_properties, reply_correlation, to_reply
from actors.screening import (
    KEPT_PREFIX_BYTES,
    MAX_DEPTH,
    UNDECODABLE,
    clean_text,
    head_attributes,
    kept_copy,
    plausible_reply_queue,
    printable,
    too_deep,
)
from actors.settings import Settings
from services.accounts.cards import (
    SCAN_BUDGET,
    CardScan,
    find_card_number,
    has_card_number,
    mask_bytes,
    mask_document,
    mask_text,
)
from tests import messages as m

VISA = "4111111111111111"
GROUPS = [VISA[i : i + 4] for i in range(0, 16, 4)]

#: Every Unicode space separator (category Zs), read from this Python's Unicode database.
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"]
#: What people and pasted text put between digit groups besides spaces.
PUNCTUATION = ["-", ".", "/", "_", " - ", " / ", "\t", "\n", "\r\n", "\u200b", "\ufeff",
               "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\uff0d", "\u00b7",
               "\uff0e", "\uff0f", "\u2044", "\u30fb"]  # fmt: skip


def test_the_space_separators_are_the_seventeen_unicode_knows() -> None:
    assert len(SPACES) == 17 and "\u00a0" in SPACES and "\u3000" in SPACES


@pytest.mark.parametrize("separator", SPACES + PUNCTUATION, ids=lambda s: f"U+{ord(s[0]):04X}")
def test_a_card_number_is_found_and_masked_whatever_separates_its_groups(separator: str) -> None:
    card = separator.join(GROUPS)
    text = f"card {card} exp 12/28"

    assert has_card_number(text)
    assert find_card_number({"data": {"note": text}}) == "data.note"
    masked = mask_text(text)
    assert masked == f"card {separator.join(['****'] * 4)} exp 12/28"
    # The same characters as raw bytes of a body that is not JSON, and as JSON escapes.
    raw = f'{{"note": "{card}", broken'.encode()
    assert VISA not in m.digits(mask_bytes(raw).decode())
    json_escaped = orjson.dumps(card).decode().encode("ascii", "backslashreplace")
    assert VISA not in m.digits(mask_bytes(b'{"x": ' + json_escaped + b" broken").decode())


def test_a_non_utf8_byte_between_the_groups_is_a_separator_too() -> None:
    latin1 = b'{"note": "' + b"\xa0".join(g.encode() for g in GROUPS) + b'"}'

    masked = mask_bytes(latin1)

    assert masked == b'{"note": "' + b"\xa0".join([b"****"] * 4) + b'"}'


def test_digits_of_any_script_count() -> None:
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in VISA)
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in VISA)

    assert has_card_number(fullwidth) and has_card_number(arabic_indic)
    assert set(mask_text(fullwidth)) == {"*"}


@pytest.mark.parametrize(
    "text",
    ["4111, 1111, 1111, 1111", "4111:1111:1111:1111", "4111    1111 1111 1111", "2026-12-06 17:02:31",
     "+44 20 7946 0958", "order SO-10412345", "41111111111111111111111"],
)  # fmt: skip
def test_commas_colons_wide_gaps_and_everyday_numbers_are_not_card_numbers(text: str) -> None:
    assert not has_card_number(text)


def test_identifiers_are_never_scanned_free_text_is() -> None:
    doc: dict[str, Any] = {"specversion": "1.0", "id": "7ee5e857-3489-4498-9143-40ff813fb5cd",
           "source": VISA, "subject": VISA, "correlationid": VISA, "causationid": VISA,
           "type": "billing_account.update",
           "data": {"account_id": VISA, "order_ids": [VISA], "line": {"line_id": VISA}, "name": "Ada"}}  # fmt: skip

    assert find_card_number(doc) is None
    assert mask_document(doc) == doc
    doc["data"]["name"] = f"Ada {VISA}"
    assert find_card_number(doc) == "data.name"
    assert mask_document(doc)["data"]["name"] == "Ada " + "*" * 16
    assert mask_document(doc)["id"] == doc["id"]


def test_a_very_long_run_counts_as_a_card_without_checking_every_window() -> None:
    scan = CardScan()

    assert scan.has_card("1 " * 125_000)
    assert scan.budget == SCAN_BUDGET  # decided by its length alone


def test_the_work_on_one_message_is_bounded_by_its_budget() -> None:
    scan = CardScan()
    # 18,000 separate runs of 13 digits that all fail Luhn: each costs checks until the
    # budget is spent, then counts as a card unchecked.
    text = "4111111111112x" * 18_000
    assert not has_card_number("4111111111112")

    masked = scan.mask(text)

    assert scan.budget <= 0 and masked.count("*") > 0
    assert scan.budget > -20  # the run that spent it finishes its few checks, no more


def test_a_document_nested_to_the_parser_limit_is_scanned_without_recursion() -> None:
    deep: Any = f"card {VISA}"
    for _ in range(1000):
        deep = [deep]
    doc = {"data": {"x": deep}}

    assert find_card_number(doc) == "data.x" + ".0" * 1000
    masked = mask_document(doc)
    for _ in range(1001):
        masked = masked["data"]["x"] if isinstance(masked, dict) else masked[0]
    assert masked == "card " + "*" * 16


@given(st.text(alphabet=st.sampled_from("0123456789 -./_x\u00a0"), max_size=200))
def test_masking_never_leaves_a_card_number_behind(text: str) -> None:
    assert not has_card_number(mask_text(text))
    assert not has_card_number(mask_bytes(text.encode()).decode())


# --- AMQP fields ------------------------------------------------------------------------


def test_clean_text_and_printable_renderings() -> None:
    assert clean_text("amq.gen-abc") == "amq.gen-abc"
    assert clean_text(b"amq.gen-abc") == "amq.gen-abc"
    assert clean_text(b"amq.gen-\xff") is None and clean_text("c\x00") is None
    assert printable(b"order.\xffcancel") == "order.\\xffcancel"
    assert printable("order.cr\x00eate") == "order.cr\\x00eate"
    assert printable(None) == "" and len(printable("x" * 1000)) == 255


def delivery(routing_key: Any, **props: Any) -> tuple[Any, Any]:
    method = SimpleNamespace(exchange=b"ordercare.\xffcommands", routing_key=routing_key,
                             redelivered=False)  # fmt: skip
    fields = {"reply_to": None, "correlation_id": None, "message_id": None, **props}
    return method, SimpleNamespace(**fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"routing_key": b"order.\xffcancel"},
        {"routing_key": "order.cr\x00eate"},
        {"routing_key": "order.cancel", "reply_to": b"amq.gen-\xff"},
        {"routing_key": "order.cancel", "reply_to": "amq.gen-\x00x"},
        {"routing_key": "order.cancel", "correlation_id": b"\x12\x34\xff" * 5},
        {"routing_key": "order.cancel", "correlation_id": "c\x00", "message_id": b"\xfe"},
    ],
)
def test_a_wrapped_delivery_survives_dramatiqs_own_encoding_whatever_its_fields(
    fields: dict[str, Any],
) -> None:
    method, props = delivery(**fields)

    message = wrap("ordercare.commands", "ordercare.commands", method, props, b"\xff{", Settings())

    again = Message.decode(message.encode())  # what a retry does
    kwargs = again.kwargs
    assert unwrap(again.args[0], kwargs["encoding"]) == b"\xff{"
    assert all("\x00" not in v for v in kwargs.values() if isinstance(v, str))
    if fields.get("reply_to") is not None:
        assert kwargs["reply_to"] is None and kwargs["unusable_reply_to"]
    if isinstance(fields.get("correlation_id"), bytes):
        assert kwargs["correlation_id"] is None and kwargs["correlation_id_base64"]


def test_an_over_size_delivery_is_wrapped_as_its_first_bytes_and_its_size() -> None:
    method, props = delivery("order.cancel")

    message = wrap("a", "q", method, props, b"x" * 1_000_000, Settings())

    assert len(message.args[0]) == KEPT_PREFIX_BYTES
    assert message.kwargs["size"] == 1_000_000


def test_a_binary_correlation_id_is_published_back_as_the_same_bytes() -> None:
    binary = b"\x00\x01\xfe\xff" * 4

    reply = to_reply("amq.gen-x", binary, "command.accepted", "e1", b"{}")

    orjson.dumps(reply.properties)  # storable as JSON in the outbox
    assert amqp_properties(reply.properties)["correlation_id"] == binary


# --- cheap structural checks --------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_nesting_depth_is_limited() -> None:
    assert not too_deep(nested(MAX_DEPTH))
    assert too_deep(nested(MAX_DEPTH + 1))
    assert too_deep(nested(1000))
    assert not too_deep(b'{"a": "' + b"[" * 5000 + b'"}')  # brackets in a string do not count
    assert not too_deep(b'{"a": "\\"[[[[", "b": [[1]]}' + b" " * 100)


def test_the_head_of_an_over_size_body_names_its_sender() -> None:
    head = (
        b'{"specversion": "1.0", "id": "cmd-big", "source": "helpdesk", "type": "order.cancel", '
        b'"data": {"note": "xxx'
    )

    assert head_attributes(head) == {"specversion": "1.0", "id": "cmd-big",
                                     "source": "helpdesk", "type": "order.cancel"}  # fmt: skip
    assert head_attributes(b'{"data": {"id": "nested"}, "id": "x"') is None
    assert head_attributes(b"\xff\xfe") is None


def test_the_kept_copy_is_masked_and_stays_json_where_it_was() -> None:
    body = orjson.dumps({"id": "7ee5e857-3489-4498-9143-40ff813fb5cd", "data": {"note": VISA}})
    plain = orjson.dumps({"id": "x", "data": {"note": "nothing to see"}})

    kept = orjson.loads(kept_copy(body, CardScan()))

    assert kept == {"id": "7ee5e857-3489-4498-9143-40ff813fb5cd", "data": {"note": "*" * 16}}
    assert kept_copy(plain, CardScan()) is plain
    assert kept_copy(b"\xff " + VISA.encode(), CardScan()) == b"\xff " + b"*" * 16


def test_a_reply_carries_the_command_id_as_correlation_only_where_amqp_can() -> None:
    assert reply_correlation(None, "cmd-1") == "cmd-1"
    assert reply_correlation(b"\x00\x01", "cmd-1") == b"\x00\x01"
    # An id may be 200 characters of up to 4 bytes: over AMQP's 255-byte short string.
    assert reply_correlation(None, "é" * 200) is None
    reply = to_reply("amq.gen-x", None, "command.rejected", "e1", b"{}")
    assert "correlation_id" not in amqp_properties(reply.properties)


# --- header tables pika cannot decode ----------------------------------------------------


def _table(entries: bytes) -> bytes:
    return struct.pack(">I", len(entries)) + entries


def _entry(key: bytes, value: bytes) -> bytes:
    return bytes([len(key)]) + key + value


FINE = _entry(b"k", b"S" + struct.pack(">I", 2) + b"ok")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_entry(b"t", b"T" + struct.pack(">Q", 2**63)), {"t": UNDECODABLE, "k": "ok"}),
        (_entry(b"f", b"f" + struct.pack(">f", float("nan"))), {"f": UNDECODABLE, "k": "ok"}),
        (_entry(b"d", b"d" + struct.pack(">d", float("inf"))), {"d": UNDECODABLE, "k": "ok"}),
        (_entry(b"z", b"Z\x00\x01"), {"x-ordercare-undecodable": UNDECODABLE}),
    ],
    ids=["timestamp-past-9999", "float-nan", "double-inf", "unknown-type"],
)
def test_a_header_table_pika_cannot_decode_is_read_past_not_fatal(
    entry: bytes, expected: dict[str, Any]
) -> None:
    encoded = _table(entry + FINE) + b"next"

    value, offset = pika_data.decode_table(encoded, 0)

    assert value == expected
    assert encoded[offset:] == b"next"  # the rest of the frame is read where it starts


def test_arrays_nested_past_the_recursion_limit_are_read_past() -> None:
    encoded = _table(_entry(b"a", m.amqp_nested_arrays(3000)) + FINE) + b"next"

    value, offset = pika_data.decode_table(encoded, 0)

    assert value["k"] == "ok" and encoded[offset:] == b"next"


@pytest.mark.parametrize(
    "text",
    [
        "1 22 " * 52_000,  # runs whose groups never look like a card, each long
        "GB82WEST12345698765432 x " * 10_000,  # valid IBANs, one after another
    ],
    ids=["non-card-layouts", "valid-ibans"],
)
def test_every_step_of_the_scan_is_charged_to_the_message_budget(text: str) -> None:
    scan = CardScan()

    scan.mask(text)

    # Spent, and not overspent: each run stops at the budget, so the work is bounded.
    assert -100 < scan.budget <= SCAN_BUDGET


def test_a_body_json_would_escape_wide_travels_as_base64() -> None:
    method, props = delivery("order.cancel")
    for body in (b"\x01" * 262_144, "é😀".encode() * 40_000, b'{"a": "plain ascii"}'):
        message = wrap("a", "q", method, props, body, Settings())

        # A retry re-encodes it as ASCII JSON: it must stay within a third over the body.
        assert len(message.encode()) < len(body) * 4 / 3 + 1024
        assert unwrap(message.args[0], message.kwargs["encoding"]) == body


def test_a_valid_iban_in_a_note_is_not_a_card_but_a_card_beside_it_is() -> None:
    iban = "DE89 3704 0044 0532 0130 00"

    assert not has_card_number(f"refund to {iban} please")
    assert has_card_number(f"refund to {iban} or card {VISA}")
    # Shaped like an IBAN, but its check fails: scanned as any text, the card inside found.
    assert has_card_number("DE00 4111 1111 1111 1111 00")


@pytest.mark.parametrize(
    ("name", "usable"),
    [
        ("amq.gen-JzTY20BRgKO-HjmUJj0wLg", True),
        # as RabbitMQ 3.10 names a direct reply-to consumer
        (
            "amq.rabbitmq.reply-to.g1h2AA1yZXBseUA5MjQ4ODg0AABOnQAAAARrFZUN.R3nZ9X4acbeDQ4IMyDN4zA==",
            True,
        ),
        ("amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNzc5NjQyMAAAC1oAAAAAAAAAAQ==.abc", False),
        ("amq.rabbitmq.reply-to", False),  # the pseudo-queue itself: never rewritten
        ("amq.rabbitmq.reply-to.bm90IGEgcGlk.R3nZ9X4acbeDQ4IMyDN4zA==", False),
    ],
)
def test_a_direct_reply_to_name_must_decode_as_the_brokers_own(name: str, usable: bool) -> None:
    assert plausible_reply_queue(name) is usable
