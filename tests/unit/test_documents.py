"""The stored documents' one versioned reader and writer (persistence/documents.py).

Every earlier release's order document (tests/fixtures/documents/, written by that
release's own code) must decode to the order it held, written out here by hand; the
keyed version must not depend on the order of keys; and what the reader cannot read
without guessing is refused, naming the document and the field.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from persistence import documents
from persistence.documents import (
    CURRENT,
    SCHEMA,
    DocumentError,
    credit_memo_as_v1,
    credit_memo_document,
    order_as_v1,
    read_credit_memo,
    read_order,
    read_payment,
    upgrade_credit_memo,
    upgrade_order,
)
from persistence.mapping import order_from_row, order_to_doc
from services.ledger import CreditLine
from services.orders.charges import Charge
from services.orders.model import (
    DeliveryInfo,
    InvoiceRef,
    Line,
    Order,
    PaymentFacts,
    Shipment,
)
from services.orders.returns import Return, ReturnLine
from services.orders.told import Told, ToldLine

FIXTURES = Path(__file__).parents[1] / "fixtures" / "documents"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def row(f: dict[str, Any]) -> tuple[Any, ...]:
    r = f["row"]
    return (r["id"], r["account_id"], r["currency"], r["status"], r["version"], f["doc"],
            datetime.fromisoformat(r["created_at"]), datetime.fromisoformat(r["updated_at"]),
            r.get("tax_included", False))  # fmt: skip


# --- what each release's document holds, by hand -------------------------------------------


def first_release(order_id: str = "ord_485ebee") -> Order:
    """485ebee: lines of nine fields; no shipments, charges, returns or shipping_refunded."""
    return Order(
        order_id=order_id,
        account_id="acc_ada",
        currency="EUR",
        status="partially_shipped",
        version=4,
        lines=[
            Line("l1", "MUG-ADA", "Ada Lovelace mug", Decimal("12.30"), "standard", 3, 1, 2, 2),
            Line("l2", "BOOK-ENGINE", "The Analytical Engine", Decimal("24.99"), "reduced", 1),
        ],
        delivery=DeliveryInfo(
            "standard",
            "DE",
            Decimal("4.90"),
            {"name": "Ada Lovelace", "city": "Berlin", "line2": None},
        ),
        tax_rates={"standard": Decimal("0.19"), "reduced": Decimal("0.07")},
        payment=PaymentFacts(Decimal("80.00"), Decimal("61.00"), Decimal("12.30"), "pay_77"),
        created_at=AT,
        updated_at=LATER,
        invoices=[
            InvoiceRef("inv_1", Decimal("61.00"), Decimal("12.30")),
            InvoiceRef("inv_2", Decimal("19.00"), Decimal("0")),
        ],
    )


def backorder_release(order_id: str = "ord_25dd115") -> Order:
    """25dd115: thirteen fields (backorders, replacements, price overrides); shipments."""
    order = first_release(order_id)
    order.lines[1].backordered = 1
    order.lines[1].expected_date = date(2026, 12, 24)
    order.lines.append(
        Line(
            "l3",
            "TEE-M",
            "Organic tee, M",
            Decimal("20.00"),
            "standard",
            1,
            replaces="l9",
            price_override=True,
        )
    )
    order.shipments = [
        Shipment("shp_1", "dhl", "JD0001", "https://t.example/JD0001", {"l1": 2}, AT,
                 datetime(2026, 11, 22, 14, 0, tzinfo=UTC)),
        Shipment("shp_2", "ups", "1Z999", None, {"l3": 1}, AT),
    ]  # fmt: skip
    return order


def returns_release(order_id: str, discounts: list[tuple[Decimal, int]]) -> Order:
    """94d727f and a367a7e: seventeen fields; charges, returns, shipping_refunded."""
    order = backorder_release(order_id)
    order.lines[0].discounts = discounts
    order.lines[0].returned = 1
    order.lines.append(
        Line(
            "l4",
            "MUG-ADA",
            "Ada Lovelace mug",
            Decimal("12.30"),
            "standard",
            1,
            exchange_for="rma_1",
            hold=True,
        )
    )
    order.charges = [
        Charge("#fee1", "restocking_fee", "Restocking fee", Decimal("2.50")),
        Charge("#lbl1", "return_label", "Return label", Decimal("-4.00"), "reduced", "rma_1"),
    ]
    order.shipping_refunded = True
    order.returns = [
        Return(
            "rma_1",
            "received",
            "carrier_label",
            [
                ReturnLine(
                    "l1", "MUG-ADA", 1, "damaged", {"damaged": 1}, refunded=1, credited_in_advance=1
                )
            ],
            AT,
            datetime(2026, 12, 20, 9, 30, tzinfo=UTC),
            ["l4"],
            advance=True,
            received_at=LATER,
            exceptions=[{"condition": "wrong_item", "quantity": 1, "decided": "accept"}],
            settle_to="store_credit",
        )
    ]
    return order


GRANTS = [(Decimal("1.5"), 2), (Decimal("0.25"), 1)]

EXPECTED: dict[str, Order] = {
    "v1_485ebee.json": first_release(),
    "v1_25dd115.json": backorder_release(),
    # One discount of 1.50 a unit on every charged unit (3 ordered - 1 cancelled - 1
    # returned) becomes one grant of 1.50 on that one unit.
    "v1_94d727f.json": returns_release("ord_94d727f", [(Decimal("1.5"), 1)]),
    "v1_a367a7e.json": returns_release("ord_a367a7e", GRANTS),
    "v2_keyed.json": returns_release("ord_current", GRANTS),
}
_told = returns_release("ord_current_v3", GRANTS)
_told.told = Told(Decimal("57.59"), {
    "l1": ToldLine("MUG-ADA", "Ada Lovelace mug", 3, Decimal("12.30")),
    "l2": ToldLine("BOOK-ENGINE", "The Analytical Engine", 1, Decimal("24.99"))},
    Decimal("12.30"), Decimal("19.00"))  # fmt: skip
EXPECTED["v3_told.json"] = _told
_no_settle_to = returns_release("ord_no_settle_to", GRANTS)
_no_settle_to.returns[0].settle_to = "original_payment"
EXPECTED["v1_return_without_settle_to.json"] = _no_settle_to


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_release_s_document_decodes_to_the_order_it_held(name: str) -> None:
    f = fixture(name)
    expected = EXPECTED[name]

    decoded = order_from_row(row(f))

    assert decoded == expected
    # Order equality compares Decimals by value; the stored strings must survive as written.
    assert [str(ln.unit_price) for ln in decoded.lines] == [
        str(ln.unit_price) for ln in expected.lines
    ]
    assert str(decoded.invoices[0].credited) == "12.30"
    assert decoded.priced().total == expected.priced().total


def test_the_fixtures_cover_every_shape_earlier_releases_wrote() -> None:
    lengths = {
        len(line)
        for name in EXPECTED
        if name.startswith("v1_")
        for line in fixture(name)["doc"]["lines"]
    }
    assert lengths == set(documents.V1_LINE_LENGTHS)
    discounts = {type(line[13]) for line in fixture("v1_94d727f.json")["doc"]["lines"]}
    assert discounts == {str}
    assert "shipments" not in fixture("v1_485ebee.json")["doc"]
    assert "charges" not in fixture("v1_25dd115.json")["doc"]
    assert "settle_to" not in fixture("v1_return_without_settle_to.json")["doc"]["returns"][0]
    assert fixture("v2_keyed.json")["doc"]["v"] == 2
    assert fixture("v3_told.json")["doc"]["v"] == CURRENT


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_upgraded_document_is_what_the_writer_writes_for_its_order(name: str) -> None:
    f = fixture(name)
    expected = dict(order_to_doc(EXPECTED[name]))

    upgraded = upgrade_order(f["doc"], "order")

    assert upgraded == expected
    assert list(upgraded["lines"][0]) == list(expected["lines"][0])


def test_the_writer_still_writes_the_committed_version_2_document_but_as_version_3() -> None:
    """A change to what version 2 means must be a new version, not an edit of this one."""
    f = fixture("v2_keyed.json")
    assert order_to_doc(EXPECTED["v2_keyed.json"]) == {**f["doc"], "v": 3}


def test_the_writer_still_writes_the_committed_version_3_document() -> None:
    f = fixture("v3_told.json")
    assert order_to_doc(EXPECTED["v3_told.json"]) == f["doc"]


def test_the_writer_omits_defaults_and_always_writes_the_current_version() -> None:
    doc = order_to_doc(first_release())
    assert doc["v"] == CURRENT
    assert doc["lines"][1] == {
        "line_id": "l2",
        "sku": "BOOK-ENGINE",
        "name": "The Analytical Engine",
        "unit_price": "24.99",
        "tax_class": "reduced",
        "ordered": 1,
    }
    assert not {"shipments", "charges", "returns", "shipping_refunded"} & doc.keys()


# --- order of keys --------------------------------------------------------------------------


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON with every object's keys in another order (arrays left as they are)."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [shuffled(x, rng) for x in value]
    return value


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reordering_the_keys_of_a_stored_document_changes_nothing_decoded(
    name: str, seed: int
) -> None:
    f = fixture(name)
    reordered = shuffled(f["doc"], random.Random(seed))
    if name == "v2_keyed.json":  # the keys did move
        assert list(reordered["lines"][0]) != list(f["doc"]["lines"][0]) or seed == 0

    assert order_from_row((*row(f)[:5], reordered, *row(f)[6:])) == EXPECTED[name]


def test_reversing_every_object_s_keys_decodes_the_same_order() -> None:
    def reversed_keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reversed_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_keys(x) for x in value]
        return value

    f = fixture("v2_keyed.json")
    doc = reversed_keys(f["doc"])
    assert next(iter(doc["lines"][0])) != "line_id"
    assert order_from_row((*row(f)[:5], doc, *row(f)[6:])) == EXPECTED["v2_keyed.json"]


# --- refusals -------------------------------------------------------------------------------


def v2() -> dict[str, Any]:
    return copy.deepcopy(fixture("v2_keyed.json")["doc"])


def refused(doc: dict[str, Any]) -> str:
    with pytest.raises(DocumentError) as caught:
        read_order(doc, "order ord_7")
    return str(caught.value)


def test_an_unknown_field_is_refused_naming_the_order_the_record_and_the_field() -> None:
    doc = v2()
    doc["lines"][2]["colour"] = "red"
    message = refused(doc)
    assert "order ord_7" in message and "lines[2]" in message and "'colour'" in message


def test_a_missing_required_field_is_refused_by_name() -> None:
    doc = v2()
    del doc["lines"][1]["sku"]
    message = refused(doc)
    assert "order ord_7" in message and "lines[1]" in message and "'sku'" in message


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("returns", 0, "lines", 0), "quantity"),
        (("returns", 0), "return_by"),
        (("shipments", 1), "tracking_url"),
        (("charges", 0), "net"),
        (("invoices", 0), "credited"),
        (("payment",), "captured"),
        (("delivery",), "fee"),
        (("lines", 0, "discounts", 1), "units"),
        ((), "tax_rates"),
    ],
)
def test_every_record_refuses_a_missing_field_and_an_unknown_one(
    path: tuple[Any, ...], field: str
) -> None:
    def record(doc: dict[str, Any]) -> Any:
        at: Any = doc
        for step in path:
            at = at[step]
        return at

    missing = v2()
    del record(missing)[field]
    assert repr(field) in refused(missing)

    unknown = v2()
    record(unknown)["surprise"] = 1
    assert "'surprise'" in refused(unknown)


def test_a_value_that_is_not_a_decimal_is_refused_naming_the_record() -> None:
    doc = v2()
    doc["lines"][3]["unit_price"] = "twelve"
    message = refused(doc)
    assert "lines[3]" in message and "decimal" in message


@pytest.mark.parametrize("version", [4, 0, "2", None, 2.0])
def test_an_unknown_version_is_refused(version: Any) -> None:
    doc = v2()
    doc["v"] = version
    message = refused(doc)
    assert "order ord_7" in message and "version" in message


def test_a_legacy_array_of_a_length_no_release_wrote_is_refused() -> None:
    doc = copy.deepcopy(fixture("v1_25dd115.json")["doc"])
    doc["lines"][0].append(0)  # 14 fields
    message = refused(doc)
    assert "lines[0]" in message and "14 fields" in message


def test_a_legacy_document_with_an_unknown_key_is_refused() -> None:
    doc = copy.deepcopy(fixture("v1_485ebee.json")["doc"])
    doc["gift_wrap"] = True
    assert "'gift_wrap'" in refused(doc)


def test_a_legacy_return_with_an_unknown_key_or_short_line_is_refused() -> None:
    doc = copy.deepcopy(fixture("v1_a367a7e.json")["doc"])
    doc["returns"][0]["label"] = "x"
    assert "returns[0]" in refused(doc) and "'label'" in refused(doc)
    doc = copy.deepcopy(fixture("v1_a367a7e.json")["doc"])
    doc["returns"][0]["lines"][0].pop()
    assert "returns[0]: lines[0]" in refused(doc)


# --- the schema and the dataclasses ---------------------------------------------------------

RECORDS = {
    "line": Line,
    "delivery": DeliveryInfo,
    "payment": PaymentFacts,
    "invoice": InvoiceRef,
    "shipment": Shipment,
    "charge": Charge,
    "return": Return,
    "return_line": ReturnLine,
    "credit_line": CreditLine,
    "told": Told,
    "told_line": ToldLine,
}


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_the_stored_fields_are_the_dataclass_s_fields_with_its_defaults(kind: str) -> None:
    """A dataclass field added, renamed or given another default needs a new version (and an
    upgrade step): this fails until the schema says so."""
    required, defaults = SCHEMA[kind]
    fields = {f.name: f for f in dataclasses.fields(RECORDS[kind]) if f.init}
    assert set(required) | set(defaults) == set(fields)
    for name, value in defaults.items():
        f = fields[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert (name, default) == (name, value)
    for name in required:  # a required stored field may have a default in the dataclass
        assert name in fields


# --- any order round-trips ------------------------------------------------------------------

ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789_#-", min_size=1, max_size=12)
texts = st.text(max_size=30)
counts = st.integers(min_value=0, max_value=10_000)
money = st.decimals(min_value=-10_000, max_value=10_000, places=3, allow_nan=False)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=datetime(2035, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
maybe = st.one_of(st.none(), ids)

lines = st.builds(
    Line,
    ids, ids, texts, money, ids, counts, counts, counts, counts, counts,
    st.one_of(st.none(), st.dates(date(2020, 1, 1), date(2035, 1, 1))), maybe, st.booleans(),
    st.lists(st.tuples(money, counts), max_size=3), counts, maybe, st.booleans(),
)  # fmt: skip
return_lines = st.builds(
    ReturnLine, ids, ids, counts, ids, st.dictionaries(ids, counts, max_size=2), counts, counts,
    counts, counts, st.dictionaries(ids, counts, max_size=2), counts, counts,
)  # fmt: skip
returns = st.builds(
    Return,
    ids, st.sampled_from(["authorized", "received", "closed", "expired"]),
    st.sampled_from(["carrier_label", "drop_off", "in_store"]), st.lists(return_lines, max_size=3),
    instants, instants, st.lists(ids, max_size=2), st.booleans(), st.booleans(),
    st.one_of(st.none(), instants),
    st.lists(st.dictionaries(ids, st.one_of(ids, counts), max_size=3), max_size=2),
    st.sampled_from(["original_payment", "store_credit"]),
)  # fmt: skip
orders = st.builds(
    Order,
    order_id=ids, account_id=ids, currency=st.sampled_from(["EUR", "JPY", "KWD"]),
    status=st.sampled_from(["open", "partially_shipped", "shipped", "delivered", "cancelled"]),
    version=st.integers(1, 1000), lines=st.lists(lines, max_size=6),
    delivery=st.builds(DeliveryInfo, ids, ids, money,
                       st.one_of(st.none(), st.dictionaries(ids, st.one_of(st.none(), texts), max_size=3)),
                       maybe),
    tax_rates=st.dictionaries(ids, money, max_size=3),
    payment=st.builds(PaymentFacts, money, money, money, maybe),
    created_at=instants, updated_at=instants,
    invoices=st.lists(st.builds(InvoiceRef, ids, money, money), max_size=3),
    shipments=st.lists(st.builds(Shipment, ids, ids, texts, st.one_of(st.none(), texts),
                                 st.dictionaries(ids, counts, max_size=3), instants,
                                 st.one_of(st.none(), instants)), max_size=3),
    charges=st.lists(st.builds(Charge, ids, ids, texts, money, ids, maybe), max_size=3),
    returns=st.lists(returns, max_size=2), shipping_refunded=st.booleans(),
    told=st.one_of(st.none(), st.builds(Told, money, st.dictionaries(
        ids, st.builds(ToldLine, ids, texts, counts, money), max_size=3), money, money)),
)  # fmt: skip


def stored(order: Order, doc: Any) -> tuple[Any, ...]:
    return (order.order_id, order.account_id, order.currency, order.status, order.version, doc,
            order.created_at, order.updated_at, order.tax_included)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(orders, st.randoms(use_true_random=False))
def test_any_order_round_trips_through_its_document_in_any_key_order(
    order: Order, rng: random.Random
) -> None:
    text = json.dumps(order_to_doc(order))  # what the column holds
    doc = shuffled(json.loads(text), rng)

    decoded = order_from_row(stored(order, doc))

    assert decoded == order
    assert order_to_doc(decoded) == json.loads(text)


@settings(max_examples=150, deadline=None)
@given(orders)
def test_any_order_survives_the_downgrade_to_version_1_and_back(order: Order) -> None:
    doc = json.loads(json.dumps(order_to_doc(order)))
    legacy = json.loads(json.dumps(order_as_v1(doc, "order")))

    assert "v" not in legacy and all(len(line) == 17 for line in legacy["lines"])
    # Version 1 did not keep what the customer was told: the downgrade forgets it.
    assert order_from_row(stored(order, legacy)) == dataclasses.replace(order, told=None)
    assert upgrade_order(legacy, "order") == {k: v for k, v in doc.items() if k != "told"}


def test_the_downgrade_writes_what_the_last_positional_release_wrote() -> None:
    legacy = fixture("v1_a367a7e.json")["doc"]
    assert order_as_v1(upgrade_order(legacy, "order"), "order") == legacy


# --- the payment alone (the account's order list) ------------------------------------------


def test_the_payment_alone_reads_from_either_version() -> None:
    facts = PaymentFacts(Decimal("80.00"), Decimal("61.00"), Decimal("12.30"), "pay_77")
    for name in ("v1_485ebee.json", "v2_keyed.json", "v3_told.json"):
        doc = fixture(name)["doc"]
        assert read_payment(doc.get("v"), doc["payment"], "order o") == facts
    with pytest.raises(DocumentError, match="order o: unknown document version 9"):
        read_payment(9, {"authorized": "1"}, "order o")
    with pytest.raises(DocumentError, match="order o: payment: missing required field 'captured'"):
        read_payment(2, {"authorized": "1", "refunded": "0"}, "order o")


# --- credit memo lines ----------------------------------------------------------------------

MEMO_LINES = (
    CreditLine("cheaper_replacement", "Grey hoodie, L replaced by Organic tee, M",
               Decimal("34.90"), Decimal("6.63"), "l2"),
    CreditLine("shipping", "Shipping", Decimal("4.12"), Decimal("0.78")),
)  # fmt: skip


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_credit_memo_lines_of_either_version_decode_by_name(version: str) -> None:
    stored_lines = fixture("credit_memo_lines.json")[version]
    assert read_credit_memo(stored_lines, "credit memo cm_1") == MEMO_LINES
    assert read_credit_memo(shuffled(stored_lines, random.Random(3)), "cm") == MEMO_LINES


def test_credit_memo_lines_are_written_keyed_and_convert_both_ways() -> None:
    f = fixture("credit_memo_lines.json")
    assert credit_memo_document(MEMO_LINES) == f["v2"]
    assert upgrade_credit_memo(f["v1"], "cm") == f["v2"]
    assert credit_memo_as_v1(f["v2"], "cm") == f["v1"]


def test_credit_memo_lines_refuse_what_they_cannot_read() -> None:
    f = fixture("credit_memo_lines.json")
    unknown = copy.deepcopy(f["v2"])
    unknown["lines"][1]["vat"] = "0.78"
    with pytest.raises(DocumentError, match=r"credit memo cm_1: lines\[1\]: unknown field 'vat'"):
        read_credit_memo(unknown, "credit memo cm_1")
    short = copy.deepcopy(f["v1"])
    short["lines"][0] = short["lines"][0][:4]
    with pytest.raises(DocumentError, match=r"lines\[0\]: an array of 4 fields"):
        read_credit_memo(short, "credit memo cm_1")
    with pytest.raises(DocumentError, match="unknown document version 3"):
        read_credit_memo({"v": 3, "lines": []}, "credit memo cm_1")


def test_a_decoded_order_shares_no_default_list_or_dict_with_another() -> None:
    doc = order_to_doc(first_release())
    a = order_from_row(stored(first_release(), doc))
    b = order_from_row(stored(first_release(), doc))
    a.lines[0].discounts.append((Decimal(1), 1))
    assert b.lines[0].discounts == []
    assert timedelta(0) == a.created_at - b.created_at
