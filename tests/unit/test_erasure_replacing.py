"""What the erasure's replacing may and may not touch in a stored body (persistence/erasure.py):
a short personal value (a postal code, a region, a second address line) only as a whole
string, never inside an amount, a SKU or a currency; keys never."""

from __future__ import annotations

import orjson

from persistence.erasure import _replaced

PAIRS = (
    ("Unter den Linden 1", "[erased]"),
    ("1010", "[erased]"),
    ("CA", "[erased]"),
    ("2", "[erased]"),
)


def test_a_short_value_is_replaced_only_as_a_whole_string_in_a_document() -> None:
    doc = {
        "total": "1010.00", "sku": "SKU-1010", "currency": "CAD", "quantity": 2,
        "address": {"postal_code": "1010", "region": "CA", "line1": "Unter den Linden 1",
                    "line2": "2"},
        "note": "ring at Unter den Linden 1, flat 2",
        "1010": "a key stays",
    }  # fmt: skip

    new = _replaced(doc, "jsonb", PAIRS)

    assert (new["total"], new["sku"], new["currency"], new["quantity"]) == (
        "1010.00", "SKU-1010", "CAD", 2,
    )  # fmt: skip
    assert new["address"] == {"postal_code": "[erased]", "region": "[erased]",
                              "line1": "[erased]", "line2": "[erased]"}  # fmt: skip
    assert new["note"] == "ring at [erased], flat 2"
    assert new["1010"] == "a key stays"


def test_a_stored_body_stays_json_and_keeps_its_amounts() -> None:
    body = orjson.dumps({"amount": "1010.00", "qty": 2, "postal_code": "1010", "cur": "CAD"})

    new = orjson.loads(_replaced(body, "bytea", PAIRS))

    assert new == {"amount": "1010.00", "qty": 2, "postal_code": "[erased]", "cur": "CAD"}


def test_a_text_column_loses_a_long_value_inside_it_and_a_short_one_only_whole() -> None:
    assert _replaced("called from Unter den Linden 1", "text", PAIRS) == "called from [erased]"
    assert _replaced("order 1010 shipped", "text", PAIRS) == "order 1010 shipped"
    assert _replaced("1010", "text", PAIRS) == "[erased]"
