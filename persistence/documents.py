"""Stored documents, keyed by field name and versioned: the order (`orders.doc`) and a
credit memo's lines (`credit_memos.lines`).

A document says its schema version in `"v"`; every record in it is an object keyed by the
domain dataclass's field names, so reordering or inserting a field in a dataclass cannot
shift a value into another field. Decimals are strings, dates and instants ISO 8601. To
stay compact a record omits an optional field equal to its default; the defaults are the
version's own, pinned below (not read from the dataclasses), so a default changed later
cannot change what a stored document means.

The writer always writes `CURRENT` (credit memo lines: `MEMO_CURRENT`). The reader takes any version it knows: documents
written before versions existed (no `"v"`: positional arrays, version 1, in each shape an
earlier release wrote) are first upgraded, as plain data, to the current version, then
decoded by name. A missing required field, a field the version does not have, an array
of a length no release wrote and an unknown version are refused with `DocumentError`,
naming the document and the field, instead of being guessed at.

Adding a field to a stored dataclass: bump `CURRENT`, add the field to the tables (and
the writer, the decoder), and add an upgrade step from the previous version; commit a
fixture the new release writes to tests/fixtures/documents/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

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

Doc = dict[str, Any]

#: The version the writer writes.
CURRENT = 3
#: The version the writer writes for credit memo lines (unchanged by version 3).
MEMO_CURRENT = 2


class DocumentError(ValueError):
    """A stored document this code cannot read without guessing."""


# --- version 2: fields per record, the required ones and the defaults of the others ------

LINE_REQUIRED = ("line_id", "sku", "name", "unit_price", "tax_class", "ordered")
LINE_DEFAULTS: dict[str, Any] = {
    "cancelled": 0,
    "shipped": 0,
    "delivered": 0,
    "backordered": 0,
    "expected_date": None,
    "replaces": None,
    "price_override": False,
    "discounts": [],
    "returned": 0,
    "exchange_for": None,
    "hold": False,
}
DISCOUNT_REQUIRED = ("per_unit", "units")
DISCOUNT_DEFAULTS: dict[str, Any] = {}
DELIVERY_REQUIRED = ("method", "country", "fee")
DELIVERY_DEFAULTS: dict[str, Any] = {"address": None, "pickup_location_id": None}
PAYMENT_REQUIRED = ("authorized", "captured", "refunded")
PAYMENT_DEFAULTS: dict[str, Any] = {"reference": None}
INVOICE_REQUIRED = ("invoice_id", "total", "credited")
INVOICE_DEFAULTS: dict[str, Any] = {}
SHIPMENT_REQUIRED = (
    "shipment_id", "carrier", "tracking_number", "tracking_url", "lines", "shipped_at",
)  # fmt: skip
SHIPMENT_DEFAULTS: dict[str, Any] = {"delivered_at": None}
CHARGE_REQUIRED = ("charge_id", "kind", "description", "net")
CHARGE_DEFAULTS: dict[str, Any] = {"tax_class": "standard", "reference": None}
RETURN_REQUIRED = ("return_id", "status", "method", "lines", "created_at", "return_by")
RETURN_DEFAULTS: dict[str, Any] = {
    "replacement_line_ids": [],
    "advance": False,
    "window_override": False,
    "received_at": None,
    "exceptions": [],
    "settle_to": "original_payment",
    "held_refunds": [],
}
RETURN_LINE_REQUIRED = ("line_id", "sku", "quantity", "reason")
RETURN_LINE_DEFAULTS: dict[str, Any] = {
    "received": {},
    "refunded": 0,
    "restocking_fee": 0,
    "refused": 0,
    "missing": 0,
    "awaiting": {},
    "credited_in_advance": 0,
    "advance_left": 0,
}
ORDER_REQUIRED = ("v", "lines", "delivery", "tax_rates", "payment")
ORDER_DEFAULTS: dict[str, Any] = {
    "invoices": [],
    "shipments": [],
    "charges": [],
    "returns": [],
    "shipping_refunded": False,
    "told": None,  # version 3
}
TOLD_REQUIRED = ("total", "lines")
TOLD_DEFAULTS: dict[str, Any] = {
    "refunded": Decimal(0),
    "to_capture": Decimal(0),
    "captured": Decimal(0),
}
TOLD_LINE_REQUIRED = ("sku", "name", "quantity", "unit_price")
TOLD_LINE_DEFAULTS: dict[str, Any] = {}
CREDIT_LINE_REQUIRED = ("reason", "description", "net", "tax")
CREDIT_LINE_DEFAULTS: dict[str, Any] = {"line_id": None}
MEMO_REQUIRED = ("v", "lines")
MEMO_DEFAULTS: dict[str, Any] = {}


def _fields(required: tuple[str, ...], defaults: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(required) | frozenset(defaults)


LINE_FIELDS = _fields(LINE_REQUIRED, LINE_DEFAULTS)
DISCOUNT_FIELDS = _fields(DISCOUNT_REQUIRED, DISCOUNT_DEFAULTS)
DELIVERY_FIELDS = _fields(DELIVERY_REQUIRED, DELIVERY_DEFAULTS)
PAYMENT_FIELDS = _fields(PAYMENT_REQUIRED, PAYMENT_DEFAULTS)
INVOICE_FIELDS = _fields(INVOICE_REQUIRED, INVOICE_DEFAULTS)
SHIPMENT_FIELDS = _fields(SHIPMENT_REQUIRED, SHIPMENT_DEFAULTS)
CHARGE_FIELDS = _fields(CHARGE_REQUIRED, CHARGE_DEFAULTS)
RETURN_FIELDS = _fields(RETURN_REQUIRED, RETURN_DEFAULTS)
RETURN_LINE_FIELDS = _fields(RETURN_LINE_REQUIRED, RETURN_LINE_DEFAULTS)
ORDER_FIELDS = _fields(ORDER_REQUIRED, ORDER_DEFAULTS)
TOLD_FIELDS = _fields(TOLD_REQUIRED, TOLD_DEFAULTS)
TOLD_LINE_FIELDS = _fields(TOLD_LINE_REQUIRED, TOLD_LINE_DEFAULTS)
CREDIT_LINE_FIELDS = _fields(CREDIT_LINE_REQUIRED, CREDIT_LINE_DEFAULTS)
MEMO_FIELDS = _fields(MEMO_REQUIRED, MEMO_DEFAULTS)

#: Each record kind's fields, for error messages and the tests (stored name: dataclass).
SCHEMA: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "order": (ORDER_REQUIRED, ORDER_DEFAULTS),
    "line": (LINE_REQUIRED, LINE_DEFAULTS),
    "discount": (DISCOUNT_REQUIRED, DISCOUNT_DEFAULTS),
    "delivery": (DELIVERY_REQUIRED, DELIVERY_DEFAULTS),
    "payment": (PAYMENT_REQUIRED, PAYMENT_DEFAULTS),
    "invoice": (INVOICE_REQUIRED, INVOICE_DEFAULTS),
    "shipment": (SHIPMENT_REQUIRED, SHIPMENT_DEFAULTS),
    "charge": (CHARGE_REQUIRED, CHARGE_DEFAULTS),
    "return": (RETURN_REQUIRED, RETURN_DEFAULTS),
    "return_line": (RETURN_LINE_REQUIRED, RETURN_LINE_DEFAULTS),
    "credit_memo": (MEMO_REQUIRED, MEMO_DEFAULTS),
    "credit_line": (CREDIT_LINE_REQUIRED, CREDIT_LINE_DEFAULTS),
    "told": (TOLD_REQUIRED, TOLD_DEFAULTS),
    "told_line": (TOLD_LINE_REQUIRED, TOLD_LINE_DEFAULTS),
}


# --- the order: writer -------------------------------------------------------------------


def order_document(order: Order) -> Doc:
    """The order's document at the current version (everything but the row's columns)."""
    d, p = order.delivery, order.payment
    delivery: Doc = {"method": d.method, "country": d.country, "fee": str(d.fee)}
    if d.address is not None:
        delivery["address"] = d.address
    if d.pickup_location_id is not None:
        delivery["pickup_location_id"] = d.pickup_location_id
    payment: Doc = {
        "authorized": str(p.authorized),
        "captured": str(p.captured),
        "refunded": str(p.refunded),
    }
    if p.reference is not None:
        payment["reference"] = p.reference
    doc: Doc = {
        "v": CURRENT,
        "lines": [_line_doc(ln) for ln in order.lines],
        "delivery": delivery,
        "tax_rates": {c: str(r) for c, r in order.tax_rates.items()},
        "payment": payment,
    }
    if order.invoices:
        doc["invoices"] = [
            {"invoice_id": i.invoice_id, "total": str(i.total), "credited": str(i.credited)}
            for i in order.invoices
        ]
    if order.shipments:
        doc["shipments"] = [_shipment_doc(s) for s in order.shipments]
    if order.charges:
        doc["charges"] = [_charge_doc(c) for c in order.charges]
    if order.returns:
        doc["returns"] = [_return_doc(r) for r in order.returns]
    if order.shipping_refunded:
        doc["shipping_refunded"] = True
    if order.told is not None:
        doc["told"] = _told_doc(order.told)
    return doc


def _told_doc(t: Told) -> Doc:
    lines = {
        line_id: {"sku": x.sku, "name": x.name, "quantity": x.quantity,
                  "unit_price": str(x.unit_price)}
        for line_id, x in t.lines.items()
    }  # fmt: skip
    doc: Doc = {"total": str(t.total), "lines": lines}
    if t.refunded:
        doc["refunded"] = str(t.refunded)
    if t.to_capture:
        doc["to_capture"] = str(t.to_capture)
    if t.captured:
        doc["captured"] = str(t.captured)
    return doc


def _line_doc(ln: Line) -> Doc:
    d: Doc = {
        "line_id": ln.line_id,
        "sku": ln.sku,
        "name": ln.name,
        "unit_price": str(ln.unit_price),
        "tax_class": ln.tax_class,
        "ordered": ln.ordered,
    }
    if ln.cancelled:
        d["cancelled"] = ln.cancelled
    if ln.shipped:
        d["shipped"] = ln.shipped
    if ln.delivered:
        d["delivered"] = ln.delivered
    if ln.backordered:
        d["backordered"] = ln.backordered
    if ln.expected_date is not None:
        d["expected_date"] = ln.expected_date.isoformat()
    if ln.replaces is not None:
        d["replaces"] = ln.replaces
    if ln.price_override:
        d["price_override"] = True
    if ln.discounts:
        d["discounts"] = [{"per_unit": str(each), "units": units} for each, units in ln.discounts]
    if ln.returned:
        d["returned"] = ln.returned
    if ln.exchange_for is not None:
        d["exchange_for"] = ln.exchange_for
    if ln.hold:
        d["hold"] = True
    return d


def _shipment_doc(s: Shipment) -> Doc:
    d: Doc = {
        "shipment_id": s.shipment_id,
        "carrier": s.carrier,
        "tracking_number": s.tracking_number,
        "tracking_url": s.tracking_url,
        "lines": s.lines,
        "shipped_at": s.shipped_at.isoformat(),
    }
    if s.delivered_at is not None:
        d["delivered_at"] = s.delivered_at.isoformat()
    return d


def _charge_doc(c: Charge) -> Doc:
    d: Doc = {
        "charge_id": c.charge_id,
        "kind": c.kind,
        "description": c.description,
        "net": str(c.net),
    }
    if c.tax_class != "standard":
        d["tax_class"] = c.tax_class
    if c.reference is not None:
        d["reference"] = c.reference
    return d


def _return_doc(r: Return) -> Doc:
    d: Doc = {
        "return_id": r.return_id,
        "status": r.status,
        "method": r.method,
        "lines": [_return_line_doc(rl) for rl in r.lines],
        "created_at": r.created_at.isoformat(),
        "return_by": r.return_by.isoformat(),
    }
    if r.replacement_line_ids:
        d["replacement_line_ids"] = r.replacement_line_ids
    if r.advance:
        d["advance"] = True
    if r.window_override:
        d["window_override"] = True
    if r.received_at is not None:
        d["received_at"] = r.received_at.isoformat()
    if r.exceptions:
        d["exceptions"] = r.exceptions
    if r.settle_to != "original_payment":
        d["settle_to"] = r.settle_to
    if r.held_refunds:
        d["held_refunds"] = [[memo_id, str(amount)] for memo_id, amount in r.held_refunds]
    return d


def _return_line_doc(rl: ReturnLine) -> Doc:
    d: Doc = {"line_id": rl.line_id, "sku": rl.sku, "quantity": rl.quantity, "reason": rl.reason}
    if rl.received:
        d["received"] = rl.received
    if rl.refunded:
        d["refunded"] = rl.refunded
    if rl.restocking_fee:
        d["restocking_fee"] = rl.restocking_fee
    if rl.refused:
        d["refused"] = rl.refused
    if rl.missing:
        d["missing"] = rl.missing
    if rl.awaiting:
        d["awaiting"] = rl.awaiting
    if rl.credited_in_advance:
        d["credited_in_advance"] = rl.credited_in_advance
    if rl.advance_left:
        d["advance_left"] = rl.advance_left
    return d


# --- the order: reader -------------------------------------------------------------------


class OrderParts:
    """What an order document holds, decoded: the Order less its row's columns."""

    __slots__ = (
        "charges",
        "delivery",
        "invoices",
        "lines",
        "payment",
        "returns",
        "shipments",
        "shipping_refunded",
        "tax_rates",
        "told",
    )

    def __init__(
        self,
        lines: list[Line],
        delivery: DeliveryInfo,
        tax_rates: dict[str, Decimal],
        payment: PaymentFacts,
        invoices: list[InvoiceRef],
        shipments: list[Shipment],
        charges: list[Charge],
        returns: list[Return],
        shipping_refunded: bool,
        told: Told | None = None,
    ) -> None:
        self.lines = lines
        self.delivery = delivery
        self.tax_rates = tax_rates
        self.payment = payment
        self.invoices = invoices
        self.shipments = shipments
        self.charges = charges
        self.returns = returns
        self.shipping_refunded = shipping_refunded
        self.told = told


def read_order(doc: Doc, what: str) -> OrderParts:
    """The order document of any known version, decoded by name; `what` names it in errors
    ("order ord_1")."""
    v = doc.get("v")
    if v != CURRENT or type(v) is not int:
        doc = upgrade_order(doc, what)
    try:
        return _order_parts(doc)
    except _Unknown:
        raise DocumentError(_diagnose_order(doc, what)) from None
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise DocumentError(_diagnose_order(doc, what, exc)) from exc


class _Unknown(Exception):
    """A record has a field its version does not (the slow path says which)."""


def _order_parts(doc: Doc) -> OrderParts:
    if not doc.keys() <= ORDER_FIELDS:
        raise _Unknown
    d, p = doc["delivery"], doc["payment"]
    if not d.keys() <= DELIVERY_FIELDS or not p.keys() <= PAYMENT_FIELDS:
        raise _Unknown
    invoices = doc.get("invoices")
    shipments = doc.get("shipments")
    charges = doc.get("charges")
    returns = doc.get("returns")
    return OrderParts(
        [_line(x) for x in doc["lines"]],
        DeliveryInfo(
            d["method"],
            d["country"],
            Decimal(d["fee"]),
            d.get("address"),
            d.get("pickup_location_id"),
        ),
        {c: Decimal(r) for c, r in doc["tax_rates"].items()},
        PaymentFacts(
            Decimal(p["authorized"]),
            Decimal(p["captured"]),
            Decimal(p["refunded"]),
            p.get("reference"),
        ),
        [_invoice(x) for x in invoices] if invoices else [],
        [_shipment(x) for x in shipments] if shipments else [],
        [_charge(x) for x in charges] if charges else [],
        [_return(x) for x in returns] if returns else [],
        doc.get("shipping_refunded", False),
        _told(doc["told"]) if doc.get("told") is not None else None,
    )


def _told(d: Doc) -> Told:
    if not d.keys() <= TOLD_FIELDS:
        raise _Unknown
    lines = {line_id: _told_line(x) for line_id, x in d["lines"].items()}
    return Told(
        Decimal(d["total"]),
        lines,
        Decimal(d.get("refunded", 0)),
        Decimal(d.get("to_capture", 0)),
        Decimal(d.get("captured", 0)),
    )


def _told_line(d: Doc) -> ToldLine:
    if not d.keys() <= TOLD_LINE_FIELDS:
        raise _Unknown
    return ToldLine(d["sku"], d["name"], d["quantity"], Decimal(d["unit_price"]))


# Each record decoder takes its fields by name: a missing required one is a KeyError, one the
# version does not have fails the subset test; the slow path (`_diagnose_order`) then names
# it. Optional fields default to the version's defaults (tests/unit/test_documents.py holds
# them equal to the dataclasses').


def _line(d: Doc) -> Line:
    ln = Line(
        d["line_id"], d["sku"], d["name"], Decimal(d["unit_price"]), d["tax_class"], d["ordered"]
    )
    if len(d) > 6:  # a plain line (6 required fields, nothing else) stops here: most do
        if not d.keys() <= LINE_FIELDS:
            raise _Unknown
        g = d.get
        ln.cancelled = g("cancelled", 0)
        ln.shipped = g("shipped", 0)
        ln.delivered = g("delivered", 0)
        ln.backordered = g("backordered", 0)
        expected = g("expected_date")
        if expected is not None:
            ln.expected_date = date.fromisoformat(expected)
        ln.replaces = g("replaces")
        ln.price_override = g("price_override", False)
        discounts = g("discounts")
        if discounts:
            ln.discounts = [_discount(x) for x in discounts]
        ln.returned = g("returned", 0)
        ln.exchange_for = g("exchange_for")
        ln.hold = g("hold", False)
    return ln


def _discount(d: Doc) -> tuple[Decimal, int]:
    if not d.keys() <= DISCOUNT_FIELDS:
        raise _Unknown
    return Decimal(d["per_unit"]), d["units"]


def _invoice(d: Doc) -> InvoiceRef:
    if not d.keys() <= INVOICE_FIELDS:
        raise _Unknown
    return InvoiceRef(d["invoice_id"], Decimal(d["total"]), Decimal(d["credited"]))


def _shipment(d: Doc) -> Shipment:
    if not d.keys() <= SHIPMENT_FIELDS:
        raise _Unknown
    done = d.get("delivered_at")
    return Shipment(
        d["shipment_id"],
        d["carrier"],
        d["tracking_number"],
        d["tracking_url"],
        d["lines"],
        datetime.fromisoformat(d["shipped_at"]),
        datetime.fromisoformat(done) if done is not None else None,
    )


def _charge(d: Doc) -> Charge:
    if not d.keys() <= CHARGE_FIELDS:
        raise _Unknown
    return Charge(
        d["charge_id"],
        d["kind"],
        d["description"],
        Decimal(d["net"]),
        d.get("tax_class", "standard"),
        d.get("reference"),
    )


def _return(d: Doc) -> Return:
    if not d.keys() <= RETURN_FIELDS:
        raise _Unknown
    g = d.get
    received = g("received_at")
    return Return(
        d["return_id"],
        d["status"],
        d["method"],
        [_return_line(x) for x in d["lines"]],
        datetime.fromisoformat(d["created_at"]),
        datetime.fromisoformat(d["return_by"]),
        g("replacement_line_ids") or [],
        g("advance", False),
        g("window_override", False),
        datetime.fromisoformat(received) if received is not None else None,
        g("exceptions") or [],
        g("settle_to", "original_payment"),
        [(memo_id, Decimal(amount)) for memo_id, amount in g("held_refunds") or []],
    )


def _return_line(d: Doc) -> ReturnLine:
    if not d.keys() <= RETURN_LINE_FIELDS:
        raise _Unknown
    g = d.get
    return ReturnLine(
        d["line_id"],
        d["sku"],
        d["quantity"],
        d["reason"],
        g("received") or {},
        g("refunded", 0),
        g("restocking_fee", 0),
        g("refused", 0),
        g("missing", 0),
        g("awaiting") or {},
        g("credited_in_advance", 0),
        g("advance_left", 0),
    )


def read_payment(version: object, payment: Any, what: str) -> PaymentFacts:
    """The payment facts alone (`doc -> 'payment'` and `doc -> 'v'`), of any known version."""
    if version is None:  # version 1: [authorized, captured, refunded, reference]
        payment = _v1_payment(payment, what)
    elif version not in (2, CURRENT) or type(version) is not int:
        raise DocumentError(f"{what}: unknown document version {version!r}")
    try:
        if not payment.keys() <= PAYMENT_FIELDS:
            raise _Unknown
        return PaymentFacts(
            Decimal(payment["authorized"]),
            Decimal(payment["captured"]),
            Decimal(payment["refunded"]),
            payment.get("reference"),
        )
    except (_Unknown, KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        problem = _record_problem(payment, "payment", exc)
        raise DocumentError(f"{what}: payment: {problem}") from None


# --- credit memo lines -------------------------------------------------------------------


def credit_memo_document(lines: tuple[CreditLine, ...] | list[CreditLine]) -> Doc:
    """A credit memo's lines at the current version (the `credit_memos.lines` column)."""
    out = []
    for x in lines:
        d: Doc = {
            "reason": x.reason,
            "description": x.description,
            "net": str(x.net),
            "tax": str(x.tax),
        }
        if x.line_id is not None:
            d["line_id"] = x.line_id
        out.append(d)
    return {"v": MEMO_CURRENT, "lines": out}


def read_credit_memo(doc: Doc, what: str) -> tuple[CreditLine, ...]:
    """A credit memo's lines of any known version, decoded by name."""
    v = doc.get("v")
    if v != MEMO_CURRENT or type(v) is not int:
        doc = upgrade_credit_memo(doc, what)
    try:
        if not doc.keys() <= MEMO_FIELDS:
            raise _Unknown
        return tuple(_credit_line(x) for x in doc["lines"])
    except (_Unknown, KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        problem = _first_problem(doc, "credit_memo", exc)
        raise DocumentError(f"{what}: {problem}") from None


def _credit_line(d: Doc) -> CreditLine:
    if not d.keys() <= CREDIT_LINE_FIELDS:
        raise _Unknown
    return CreditLine(
        d["reason"], d["description"], Decimal(d["net"]), Decimal(d["tax"]), d.get("line_id")
    )


# --- upgrades: plain data from each earlier version to the current one ------------------

#: Version 1 wrote records as arrays; these are their fields in order, per length written.
V1_LINE = (
    "line_id", "sku", "name", "unit_price", "tax_class", "ordered", "cancelled", "shipped",
    "delivered",  # 9 fields: the first release (485ebee)
    "backordered", "expected_date", "replaces", "price_override",  # 13: backorders (25dd115)
    "discounts", "returned", "exchange_for", "hold",  # 17: returns, appeasements (94d727f)
)  # fmt: skip
V1_LINE_LENGTHS = (9, 13, 17)
V1_PAYMENT = ("authorized", "captured", "refunded", "reference")
V1_INVOICE = ("invoice_id", "total", "credited")
V1_SHIPMENT = (
    "shipment_id", "carrier", "tracking_number", "tracking_url", "lines", "shipped_at",
    "delivered_at",
)  # fmt: skip
V1_CHARGE = ("charge_id", "kind", "description", "net", "tax_class", "reference")
V1_RETURN_LINE = (
    "line_id", "sku", "quantity", "reason", "received", "refunded", "restocking_fee", "refused",
    "missing", "awaiting", "credited_in_advance", "advance_left",
)  # fmt: skip
#: A version 1 return was an object already; two of its keys had other names.
V1_RETURN_KEYS = {
    "id": "return_id",
    "status": "status",
    "method": "method",
    "lines": "lines",
    "created_at": "created_at",
    "return_by": "return_by",
    "replacements": "replacement_line_ids",
    "advance": "advance",
    "window_override": "window_override",
    "received_at": "received_at",
    "exceptions": "exceptions",
    "settle_to": "settle_to",
}
V1_RETURN_REQUIRED = frozenset(V1_RETURN_KEYS) - {"settle_to"}
V1_ORDER_REQUIRED = frozenset({"lines", "delivery", "tax_rates", "payment", "invoices"})
V1_ORDER_KEYS = V1_ORDER_REQUIRED | {"shipments", "charges", "returns", "shipping_refunded"}
V1_MEMO_LINE = ("reason", "description", "net", "tax", "line_id")


def version_of(doc: Doc) -> int:
    """The document's schema version; documents from before versions are version 1."""
    v = doc.get("v", 1)
    if type(v) is not int:
        raise DocumentError(f"document version {v!r} is not a number")
    return v


def upgrade_order(doc: Doc, what: str) -> Doc:
    """An order document of any known version as the current version would write it."""
    v = _known_version(doc, what, _ORDER_UPGRADES)
    while v != CURRENT:
        doc = _ORDER_UPGRADES[v](doc, what)
        v = doc["v"]
    return doc


def upgrade_credit_memo(doc: Doc, what: str) -> Doc:
    """A credit memo's lines of any known version as the current version would write them."""
    v = _known_version(doc, what, _MEMO_UPGRADES, MEMO_CURRENT)
    while v != MEMO_CURRENT:
        doc = _MEMO_UPGRADES[v](doc, what)
        v = doc["v"]
    return doc


def _known_version(
    doc: object, what: str, steps: Mapping[int, object], current: int = CURRENT
) -> int:
    if not isinstance(doc, dict):
        raise DocumentError(f"{what}: the document is a {type(doc).__name__}, not an object")
    try:
        v = version_of(doc)
    except DocumentError as exc:
        raise DocumentError(f"{what}: {exc}") from None
    if v != current and v not in steps:
        raise DocumentError(
            f"{what}: unknown document version {v} (this release reads 1 to {current})"
        )
    return v


def _order_v1_to_v2(doc: Doc, what: str) -> Doc:
    _check_keys(doc, V1_ORDER_REQUIRED, V1_ORDER_KEYS, what)
    out: Doc = {
        "v": 2,
        "lines": [_v1_line(x, f"{what}: lines[{n}]") for n, x in enumerate(_list(doc, "lines", what))],
        "delivery": _compact(_object(doc, "delivery", what), DELIVERY_REQUIRED, DELIVERY_DEFAULTS, f"{what}: delivery"),
        "tax_rates": _object(doc, "tax_rates", what),
        "payment": _v1_payment(doc["payment"], what),
    }  # fmt: skip
    tables: tuple[tuple[str, tuple[str, ...], tuple[str, ...], dict[str, Any]], ...] = (
        ("invoices", V1_INVOICE, INVOICE_REQUIRED, INVOICE_DEFAULTS),
        ("shipments", V1_SHIPMENT, SHIPMENT_REQUIRED, SHIPMENT_DEFAULTS),
        ("charges", V1_CHARGE, CHARGE_REQUIRED, CHARGE_DEFAULTS),
    )
    for key, names, required, defaults in tables:
        rows = _list(doc, key, what) if key in doc else []
        if rows:
            out[key] = [_v1_record(x, names, required, defaults, f"{what}: {key}[{n}]")
                        for n, x in enumerate(rows)]  # fmt: skip
    returns = _list(doc, "returns", what) if "returns" in doc else []
    if returns:
        out["returns"] = [_v1_return(x, f"{what}: returns[{n}]") for n, x in enumerate(returns)]
    refunded = doc.get("shipping_refunded", False)
    if type(refunded) is not bool:
        raise DocumentError(f"{what}: shipping_refunded is {refunded!r}, not true or false")
    if refunded:
        out["shipping_refunded"] = True
    return out


def _v1_record(
    fields: object,
    names: tuple[str, ...],
    required: tuple[str, ...],
    defaults: dict[str, Any],
    where: str,
) -> Doc:
    return _compact(_named(fields, names, (len(names),), where), required, defaults, where)


def _v1_line(fields: object, where: str) -> Doc:
    line = _named(fields, V1_LINE, V1_LINE_LENGTHS, where)
    discounts = line.get("discounts")
    if isinstance(discounts, str):
        # 94d727f kept one discount per unit on every charged unit; a367a7e (the same day)
        # keeps grants of (per unit, units) and never read that form back. As a grant on
        # the units charged when it was written, it takes off the same amount.
        charged = line["ordered"] - line["cancelled"] - line.get("returned", 0)
        grant = Decimal(discounts) != 0 and charged > 0
        line["discounts"] = [{"per_unit": discounts, "units": charged}] if grant else []
    elif discounts is not None:
        if not isinstance(discounts, list):
            raise DocumentError(f"{where}: discounts is {discounts!r}, not a list")
        line["discounts"] = [
            _named(pair, DISCOUNT_REQUIRED, (2,), f"{where}: discounts[{n}]")
            for n, pair in enumerate(discounts)
        ]
    return _compact(line, LINE_REQUIRED, LINE_DEFAULTS, where)


def _v1_payment(fields: object, what: str) -> Doc:
    payment = _named(fields, V1_PAYMENT, (4,), f"{what}: payment")
    return _compact(payment, PAYMENT_REQUIRED, PAYMENT_DEFAULTS, f"{what}: payment")


def _v1_return(rma: object, where: str) -> Doc:
    if not isinstance(rma, dict):
        raise DocumentError(f"{where}: a return is {type(rma).__name__}, not an object")
    _check_keys(rma, V1_RETURN_REQUIRED, frozenset(V1_RETURN_KEYS), where)
    out = {V1_RETURN_KEYS[k]: value for k, value in rma.items()}
    lines = out["lines"]
    if not isinstance(lines, list):
        raise DocumentError(f"{where}: lines is {type(lines).__name__}, not a list")
    out["lines"] = [
        _compact(
            _named(x, V1_RETURN_LINE, (len(V1_RETURN_LINE),), f"{where}: lines[{n}]"),
            RETURN_LINE_REQUIRED,
            RETURN_LINE_DEFAULTS,
            f"{where}: lines[{n}]",
        )
        for n, x in enumerate(lines)
    ]
    return _compact(out, RETURN_REQUIRED, RETURN_DEFAULTS, where)


def _memo_v1_to_v2(doc: Doc, what: str) -> Doc:
    _check_keys(doc, frozenset({"lines"}), frozenset({"lines"}), what)
    lines = _list(doc, "lines", what)
    return {
        "v": 2,
        "lines": [
            _compact(
                _named(x, V1_MEMO_LINE, (5,), f"{what}: lines[{n}]"),
                CREDIT_LINE_REQUIRED,
                CREDIT_LINE_DEFAULTS,
                f"{what}: lines[{n}]",
            )
            for n, x in enumerate(lines)
        ],
    }


def _to_v3(doc: Doc, what: str) -> Doc:
    """Version 3 adds the order's optional `told` (what the customer was last told): a
    version 2 document does not know it. Credit memo lines stay at version 2."""
    return {**doc, "v": 3}


_ORDER_UPGRADES: dict[int, Callable[[Doc, str], Doc]] = {1: _order_v1_to_v2, 2: _to_v3}
_MEMO_UPGRADES: dict[int, Callable[[Doc, str], Doc]] = {1: _memo_v1_to_v2}


# --- downgrade: back to what the release before keyed documents reads ---------------------


def order_as_v1(doc: Doc, what: str) -> Doc:
    """A current order document as the last positional release wrote it (17-field lines),
    for rolling the migration back."""
    doc = upgrade_order(doc, what)
    _order_parts(doc)  # refuse what could not be read either way

    def row(record: Doc, names: tuple[str, ...], defaults: dict[str, Any]) -> list[Any]:
        return [record[k] if k in record else _fresh(defaults[k]) for k in names]

    lines = []
    for line in doc["lines"]:
        flat = row(line, V1_LINE, LINE_DEFAULTS)
        flat[13] = [[x["per_unit"], x["units"]] for x in flat[13]]
        lines.append(flat)
    delivery = {k: doc["delivery"].get(k) for k in ("method", "country", "fee", "address")}
    delivery["pickup_location_id"] = doc["delivery"].get("pickup_location_id")
    return {
        "lines": lines,
        "charges": [row(c, V1_CHARGE, CHARGE_DEFAULTS) for c in doc.get("charges", [])],
        "shipping_refunded": doc.get("shipping_refunded", False),
        "returns": [
            {
                **{old: r[new] if new in r else _fresh(RETURN_DEFAULTS[new])
                   for old, new in V1_RETURN_KEYS.items() if old != "lines"},
                "lines": [row(rl, V1_RETURN_LINE, RETURN_LINE_DEFAULTS) for rl in r["lines"]],
            }
            for r in doc.get("returns", [])
        ],
        "shipments": [row(s, V1_SHIPMENT, SHIPMENT_DEFAULTS) for s in doc.get("shipments", [])],
        "delivery": delivery,
        "tax_rates": doc["tax_rates"],
        "payment": row(doc["payment"], V1_PAYMENT, PAYMENT_DEFAULTS),
        "invoices": [row(i, V1_INVOICE, INVOICE_DEFAULTS) for i in doc.get("invoices", [])],
    }  # fmt: skip


def credit_memo_as_v1(doc: Doc, what: str) -> Doc:
    """Current credit memo lines as every positional release wrote them."""
    doc = upgrade_credit_memo(doc, what)
    read_credit_memo(doc, what)
    return {"lines": [[x.get(k) for k in V1_MEMO_LINE] for x in doc["lines"]]}


# --- helpers -------------------------------------------------------------------------------


def _fresh(value: Any) -> Any:
    """A default as a new object (lists and dicts are never shared between records)."""
    return type(value)() if isinstance(value, list | dict) else value


def _named(fields: object, names: tuple[str, ...], lengths: tuple[int, ...], where: str) -> Doc:
    """A positional record of version 1 as an object, by the names of its positions."""
    if not isinstance(fields, list):
        raise DocumentError(f"{where}: expected an array, found {type(fields).__name__}")
    if len(fields) not in lengths:
        wrote = " or ".join(str(n) for n in lengths)
        raise DocumentError(
            f"{where}: an array of {len(fields)} fields; version 1 wrote {wrote} "
            f"({', '.join(names)})"
        )
    return dict(zip(names, fields, strict=False))


def _compact(record: Doc, required: tuple[str, ...], defaults: dict[str, Any], where: str) -> Doc:
    """The record as the current writer writes it: required fields, others unless default."""
    _check_keys(record, frozenset(required), frozenset(required) | frozenset(defaults), where)
    return {
        k: value
        for k, value in record.items()
        if k not in defaults or not _same(value, defaults[k])
    }


def _same(value: Any, default: Any) -> bool:
    return (type(value) is type(default) and value == default) or (value is None is default)


def _check_keys(record: Doc, required: frozenset[str], known: frozenset[str], where: str) -> None:
    missing = sorted(required - record.keys())
    if missing:
        raise DocumentError(f"{where}: missing required field {', '.join(map(repr, missing))}")
    unknown = sorted(record.keys() - known)
    if unknown:
        raise DocumentError(
            f"{where}: unknown field {', '.join(map(repr, unknown))} (this version has "
            f"{', '.join(sorted(known))})"
        )


def _list(doc: Doc, key: str, what: str) -> list[Any]:
    value = doc[key]
    if not isinstance(value, list):
        raise DocumentError(f"{what}: {key} is {type(value).__name__}, not a list")
    return value


def _object(doc: Doc, key: str, what: str) -> Doc:
    value = doc[key]
    if not isinstance(value, dict):
        raise DocumentError(f"{what}: {key} is {type(value).__name__}, not an object")
    return value


# --- the slow path: which field of which record a document failed on ---------------------

_ORDER_LISTS: dict[str, tuple[str, Callable[[Doc], Any]]] = {
    "lines": ("line", _line),
    "invoices": ("invoice", _invoice),
    "shipments": ("shipment", _shipment),
    "charges": ("charge", _charge),
    "returns": ("return", _return),
}


def _diagnose_order(doc: Doc, what: str, exc: BaseException | None = None) -> str:
    """The first problem found, record by record, named by its path in the document."""
    problem = _record_problem(doc, "order")
    if problem:
        return f"{what}: {problem}"
    for key, kind in (("delivery", "delivery"), ("payment", "payment")):
        problem = _record_problem(doc[key], kind)
        if problem:
            return f"{what}: {key}: {problem}"
    for key, (kind, decode) in _ORDER_LISTS.items():
        for n, record in enumerate(doc.get(key) or []):
            problem = _record_problem(record, kind)
            if kind == "line" and not problem:
                for m, pair in enumerate(record.get("discounts") or []):
                    problem = _record_problem(pair, "discount")
                    if problem:
                        return f"{what}: lines[{n}]: discounts[{m}]: {problem}"
            if kind == "return" and not problem:
                for m, rl in enumerate(record["lines"]):
                    problem = _record_problem(rl, "return_line") or _fails(_return_line, rl)
                    if problem:
                        return f"{what}: returns[{n}]: lines[{m}]: {problem}"
            problem = problem or _fails(decode, record)
            if problem:
                return f"{what}: {key}[{n}]: {problem}"
    problem = _told_problem(doc.get("told"))
    return f"{what}: {problem or _describe(exc)}"


def _told_problem(told: Any) -> str | None:
    if told is None:
        return None
    problem = _record_problem(told, "told")
    if problem:
        return f"told: {problem}"
    for line_id, record in told["lines"].items():
        problem = _record_problem(record, "told_line") or _fails(_told_line, record)
        if problem:
            return f"told: lines[{line_id}]: {problem}"
    return None


def _first_problem(doc: Any, kind: str, exc: BaseException) -> str:
    """The credit memo's first problem (same idea as `_diagnose_order`)."""
    problem = _record_problem(doc, kind)
    if problem:
        return problem
    for n, record in enumerate(doc["lines"]):
        problem = _record_problem(record, "credit_line") or _fails(_credit_line, record)
        if problem:
            return f"lines[{n}]: {problem}"
    return _describe(exc)


def _record_problem(record: Any, kind: str, exc: BaseException | None = None) -> str | None:
    if not isinstance(record, dict):
        return f"expected an object, found {type(record).__name__}"
    required, defaults = SCHEMA[kind]
    try:
        _check_keys(record, frozenset(required), frozenset(required) | frozenset(defaults), kind)
    except DocumentError as problem:
        return str(problem).removeprefix(f"{kind}: ")
    return _describe(exc) if exc is not None else None


def _fails(decode: Callable[[Doc], Any], record: Doc) -> str | None:
    try:
        decode(record)
    except _Unknown:
        return None  # a nested record: its own check names it
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        return _describe(exc)
    return None


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unreadable"
    if isinstance(exc, KeyError):
        return f"missing required field {exc.args[0]!r}"
    if isinstance(exc, InvalidOperation):
        return "a decimal field holds something that is not a decimal number"
    return f"a field holds a value of the wrong kind ({type(exc).__name__}: {exc})"
