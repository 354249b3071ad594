"""Which e-mail an event asks for, and the facts it carries: pure functions, no I/O.

`MAILINGS` is the one table from event type to kind. Each entry names the contract model
the event's `data` is read with and the function that picks the customer's facts out of
it (template data: strings, integers, lists and objects; amounts as decimal strings beside
their currency, never floats).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.envelope import Envelope
from contracts.fulfillment import LineBackordered, LineShortPicked, OrderDelivered, OrderShipped
from contracts.orders import (
    CreditMemoLine,
    DeliveryView,
    LineChange,
    LineView,
    OrderAmended,
    OrderCancelled,
    OrderChanged,
    OrderCreated,
    OrderDeliveryChanged,
    PaymentState,
    RefundSettled,
    RefundView,
    ReturnLineView,
    SettlementView,
    ToldView,
    Totals,
)
from contracts.returns import ReturnChanged, ReturnDecided, ReturnReceivedEvent

#: Why a notification is recorded without being sent.
SkipReason = Literal["suppressed_by_agent", "no_account", "no_email", "opted_out", "no_template"]

#: The envelope's CloudEvents extension attribute an agent's `notify_customer: false` sets.
NOTIFY_ATTRIBUTE = "notifycustomer"

Data = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Customer:
    """What the notifier knows of a billing account: who to write to, in which language."""

    account_id: str
    name: str
    email: str | None
    locale: str = "en"
    opted_out: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Planned:
    """One e-mail an event asks for: its kind and template data, or why it is not sent."""

    kind: str
    event_id: str
    event_type: str
    account_id: str
    order_id: str | None
    correlation_id: str | None
    locale: str
    data: Data = field(repr=False)  # personal data: kept out of reprs and logs
    skip: SkipReason | None = None


class InvalidEvent(ValueError):
    """The event is not what its contract says; the message names fields, never values."""


@dataclass(frozen=True, slots=True)
class Mailing:
    """An event type's e-mail: its kind, the contract of its data, and its template data."""

    kind: str
    model: type[BaseModel]
    facts: Callable[[Any], Data]


def _money(amount: Decimal, currency: str) -> Data:
    return {"amount": format(amount, "f"), "currency": currency}


def _item(name: str, sku: str, quantity: int) -> Data:
    return {"name": name, "sku": sku, "quantity": quantity}


def _totals(t: Totals) -> Data:
    """The totals; `tax_included` says whether the prices, the subtotal and the shipping
    already include the tax (a tax-included market) or the tax comes on top."""
    parts = ("subtotal", "discounts", "shipping", "tax", "total")
    return {"tax_included": t.tax_included, **{p: _money(getattr(t, p), t.currency) for p in parts}}


def _delivery(d: DeliveryView) -> Data:
    return {"method": d.method, "address": d.address, "pickup_location_id": d.pickup_location_id}


def _refunds(refunds: list[RefundView]) -> list[Data]:
    return [{"amount": _money(r.amount, r.currency), "method": r.method} for r in refunds]


def _line_item(
    name: str, sku: str, quantity: int, unit_price: Decimal | None, currency: str
) -> Data:
    price = None if unit_price is None else _money(unit_price, currency)
    return {**_item(name, sku, quantity), "unit_price": price}


def _change(c: LineChange, old: Data | None, new: Data | None) -> Data:
    """One line's change: what it was (None when added), what it is (None when removed)."""
    return {"action": c.action, "name": c.name, "sku": c.sku,
            "old_quantity": c.old_quantity, "new_quantity": c.new_quantity,
            "old": old, "new": new}  # fmt: skip


def _told_changes(told: ToldView, lines: list[LineView], currency: str) -> list[Data]:
    """Line by line, what differs between what the customer was last told and the lines now:
    a change the customer was not told of shows in the next e-mail they are sent."""
    was = {t.line_id: t for t in told.lines if t.quantity > 0}
    now = {v.line_id: v for v in lines}
    # A line that replaced a told line (an exchange's replacement is an added line: the
    # line it exchanges units of stays); the first, should one line have been replaced twice.
    replacing: dict[str | None, LineView] = {}
    for v in lines:
        if v.replaces in was and v.line_id not in was and v.quantity > 0 and not v.exchange_for:
            replacing.setdefault(v.replaces, v)
    out: list[Data] = []
    for t in was.values():
        old = _line_item(t.name, t.sku, t.quantity, t.unit_price, currency)
        found = replacing.get(t.line_id) or now.get(t.line_id)
        if found is None or found.quantity == 0:
            out.append(_diffed("removed", old, None))
            continue
        v = found
        new = _line_item(v.name, v.sku, v.quantity, v.unit_price, currency)
        if v.line_id != t.line_id:
            out.append(_diffed("replaced", old, new))
        elif t.quantity != v.quantity:
            out.append(_diffed("quantity_changed", old, new))
        elif t.unit_price != v.unit_price:
            out.append(_diffed("price_changed", old, new))
    shown = {v.line_id for v in replacing.values()}
    for v in lines:
        if v.line_id not in was and v.line_id not in shown and v.quantity > 0:
            new = _line_item(v.name, v.sku, v.quantity, v.unit_price, currency)
            out.append(_diffed("added", None, new))
    return out


def _diffed(action: str, old: Data | None, new: Data | None) -> Data:
    named = new or old or {}
    return {"action": action, "name": named.get("name"), "sku": named.get("sku"),
            "old_quantity": old["quantity"] if old else 0,
            "new_quantity": new["quantity"] if new else 0, "old": old, "new": new}  # fmt: skip


def _event_changes(changes: list[LineChange], lines: list[LineView], currency: str) -> list[Data]:
    """The event's own line changes (no told state known), old items found by line id."""
    by_id = {v.line_id: v for v in lines}
    out = []
    for c in changes:
        was = by_id.get(c.replaces or c.line_id)
        old_name, old_sku = (was.name, was.sku) if was and c.replaces else (c.name, c.sku)
        old = None if c.old_quantity == 0 else _line_item(
            old_name, old_sku, c.old_quantity, c.old_unit_price, currency)  # fmt: skip
        new = None if c.new_quantity == 0 else _line_item(
            c.name, c.sku, c.new_quantity, c.new_unit_price or c.old_unit_price,
            currency)  # fmt: skip
        out.append(_change(c, old, new))
    return out


def _line_changes(
    told: ToldView | None, lines: list[LineView] | None, changes: list[LineChange], currency: str
) -> list[Data]:
    if told is not None and lines is not None:
        return _told_changes(told, lines, currency)
    return _event_changes(changes, lines or [], currency)


def _customer_money(
    payment: PaymentState, s: SettlementView | None, told: ToldView | None = None
) -> Data:
    """The money in the customer's terms, each null unless it applies: refunded (and to
    what), authorised money no longer to be charged, authorised money still to be charged,
    and what the customer owes beyond the authorisation. Authorised money is never owed.
    With the state the customer was last told, refunded and no longer charged count from
    there: a refund of a change kept from the customer shows in the next told e-mail."""
    currency = payment.currency
    refunds = s.refunds if s is not None else []
    refunded = s.refund_due if s is not None else Decimal(0)
    released = s.authorization_released if s is not None else Decimal(0)
    if told is not None and told.refunded is not None:
        refunded = max(payment.refunded - told.refunded, Decimal(0))
    if told is not None and told.to_capture is not None:
        # Authorised money left uncaptured since: what was to capture then and is neither
        # to capture now nor captured since (a capture is not money no longer charged).
        captured_since = payment.captured - (told.captured or Decimal(0))
        released = max(told.to_capture - payment.to_capture - captured_since, Decimal(0))
    back = None
    if refunded > 0:
        back = {**_money(refunded, currency), "to": _method(refunds) or "original_payment"}
    return {
        "refunded": back,
        "no_longer_charged": _positive(released, currency),
        "still_to_charge": _positive(payment.to_capture, currency),
        "owed": _positive(payment.balance_due - payment.to_capture, currency),
    }


def _settled(e: OrderChanged | LineShortPicked) -> Data:
    """Old (as the customer was last told) and new totals, and what the change means for the
    customer's money."""
    currency = e.new_totals.currency
    old_total = e.told.total if e.told is not None else e.old_totals.total
    return {
        "old_total": _money(old_total, currency),
        "new_total": _money(e.new_totals.total, currency),
        "difference": _money(e.new_totals.total - old_total, currency),
        "refunds": _refunds(e.settlement.refunds),
        **_customer_money(e.payment, e.settlement, e.told),
    }


def _confirmed(e: OrderCreated) -> Data:
    currency = e.totals.currency
    items = [_line_item(x.name, x.sku, x.quantity, x.unit_price, currency)
             for x in e.lines if x.quantity > 0]  # fmt: skip
    return {"items": items, "totals": _totals(e.totals), "delivery": _delivery(e.delivery),
            **_customer_money(e.payment, None)}  # fmt: skip


def _current(lines: list[LineView] | None, currency: str) -> list[Data] | None:
    if lines is None:
        return None
    return [_line_item(x.name, x.sku, x.quantity, x.unit_price, currency)
            for x in lines if x.quantity > 0]  # fmt: skip


def _amended(e: OrderAmended) -> Data:
    currency = e.new_totals.currency
    changes = _line_changes(e.told, e.lines, e.changes, currency)
    return {"change": "items", "changes": changes, "items": _current(e.lines, currency),
            **_settled(e)}  # fmt: skip


def _delivery_changed(e: OrderDeliveryChanged) -> Data:
    currency = e.new_totals.currency
    changes = _line_changes(e.told, e.lines, [], currency)
    return {"change": "delivery", "old_delivery": _delivery(e.old_delivery),
            "new_delivery": _delivery(e.new_delivery), "changes": changes,
            "items": _current(e.lines, currency), **_settled(e)}  # fmt: skip


def _cancelled(e: OrderCancelled) -> Data:
    currency = e.new_totals.currency
    changes = _line_changes(e.told, e.lines, e.changes, currency)
    items = [_item(c["name"], c["sku"], c["old_quantity"] - c["new_quantity"]) for c in changes]
    return {"scope": e.scope, "items": [i for i in items if i["quantity"] > 0],
            "changes": changes, **_settled(e)}  # fmt: skip


def _short(e: LineShortPicked) -> Data:
    currency = e.new_totals.currency
    own = LineChange(action="short_picked", line_id=e.line_id, sku=e.sku, name=e.name,
                     old_quantity=e.quantity_left + e.quantity_short, new_quantity=e.quantity_left)  # fmt: skip
    return {"item": _item(e.name, e.sku, e.quantity_short), "quantity_left": e.quantity_left,
            "changes": _line_changes(e.told, e.lines, [own], currency),
            **_settled(e)}  # fmt: skip


def _backordered(e: LineBackordered) -> Data:
    return {"item": _item(e.name, e.sku, e.quantity), "expected_date": e.expected_date.isoformat()}


def _shipped(e: OrderShipped) -> Data:
    s = e.shipment
    return {"items": [_item(x.name, x.sku, x.quantity) for x in s.lines], "carrier": s.carrier,
            "tracking_number": s.tracking_number, "tracking_url": s.tracking_url,
            "shipped_at": _stamp(s.shipped_at)}  # fmt: skip


def _delivered(e: OrderDelivered) -> Data:
    items = [_item(x.name, x.sku, x.quantity) for x in e.lines]
    return {"items": items, "delivered_at": _stamp(e.delivered_at)}


def _refund_issued(e: RefundSettled) -> Data:
    r = e.refund
    return {"refund": _money(r.amount, r.currency), "method": r.method, "refund_id": r.refund_id,
            "refunded": {**_money(r.amount, r.currency), "to": r.method}}  # fmt: skip


def _return_received(e: ReturnChanged) -> Data:
    """What the warehouse found in the parcel, unit by unit, and what it means for the money.
    A manager's decision on units left to a person (`stage` "decided") is mailed alike."""
    rma = e.rma
    return {"return_id": rma.return_id, "exchange": rma.exchange, "status": rma.status,
            "stage": "decided" if isinstance(e, ReturnDecided) else "received",
            "items": [_returned(x) for x in rma.lines], **_return_money(e)}  # fmt: skip


def _returned(x: ReturnLineView) -> Data:
    return {
        "name": x.name or x.sku, "sku": x.sku, "quantity": x.quantity,
        "received": sum(c.quantity for c in x.received if c.condition != "missing"),
        "refunded": x.refunded, "refunded_less_fee": x.restocking_fee, "refused": x.refused,
        "missing": x.missing, "awaiting_decision": sum(c.quantity for c in x.awaiting_decision),
    }  # fmt: skip


def _return_money(e: ReturnChanged) -> Data:
    """The refund (or the balance the customer owes now), and the fees deducted from it."""
    s, currency = e.settlement, e.new_totals.currency
    kept = [x for memo in s.credit_memos for x in memo.lines if x.reason in _RETURN_FEES]
    return {
        "refund": _positive(s.refund_due, currency),
        "refund_method": _method(s.refunds),
        "deductions": [_deduction(x, currency) for x in kept if x.net + x.tax < 0],
        "charge_reduced": _positive(s.authorization_released, currency),
        **_customer_money(e.payment, s, e.told),
    }


def _deduction(x: CreditMemoLine, currency: str) -> Data:
    return {"reason": x.reason, "amount": _money(-(x.net + x.tax), currency)}


def _positive(amount: Decimal, currency: str) -> Data | None:
    return _money(amount, currency) if amount > 0 else None


#: Credit-memo line reasons of what a return keeps back from the refund.
_RETURN_FEES = ("restocking_fee", "return_shipping")


def _method(refunds: list[RefundView]) -> str | None:
    if not refunds:
        return None
    return (
        "store_credit" if all(r.method == "store_credit" for r in refunds) else "original_payment"
    )


def _stamp(at: datetime | date) -> str:
    return at.isoformat().replace("+00:00", "Z")


#: Event type -> its e-mail.
MAILINGS: dict[str, Mailing] = {
    OrderCreated.TYPE: Mailing("order_confirmed", OrderCreated, _confirmed),
    OrderAmended.TYPE: Mailing("order_changed", OrderAmended, _amended),
    OrderDeliveryChanged.TYPE: Mailing("order_changed", OrderDeliveryChanged, _delivery_changed),
    OrderCancelled.TYPE: Mailing("order_cancelled", OrderCancelled, _cancelled),
    LineShortPicked.TYPE: Mailing("item_short", LineShortPicked, _short),
    LineBackordered.TYPE: Mailing("item_backordered", LineBackordered, _backordered),
    OrderShipped.TYPE: Mailing("shipped", OrderShipped, _shipped),
    OrderDelivered.TYPE: Mailing("delivered", OrderDelivered, _delivered),
    RefundSettled.TYPE: Mailing("refund_issued", RefundSettled, _refund_issued),
    ReturnReceivedEvent.TYPE: Mailing("return_received", ReturnReceivedEvent, _return_received),
    # The outcome of units a parcel left to a person: the e-mail the first one promised.
    ReturnDecided.TYPE: Mailing("return_received", ReturnDecided, _return_received),
}

#: Event type -> kind, the table at a glance.
KINDS: dict[str, str] = {event_type: m.kind for event_type, m in MAILINGS.items()}


def account_of(envelope: dict[str, Any]) -> str | None:
    """The billing account an event is about, read before anything is validated."""
    data = envelope.get("data")
    account = data.get("account_id") if isinstance(data, dict) else None
    return account if isinstance(account, str) else None


def notifications_for(envelope: dict[str, Any], customer: Customer | None) -> list[Planned]:
    """The e-mails a CloudEvent asks for (none for a type nobody is mailed about), each with
    its template data, or with the reason it is recorded but not sent. Raises InvalidEvent."""
    mailing = MAILINGS.get(str(envelope.get("type")))
    if mailing is None:
        return []
    event = _read(Envelope, envelope, "")
    facts = _read(mailing.model, event.data, "data.")
    account_id = str(getattr(facts, "account_id", ""))
    order_id = getattr(facts, "order_id", None)
    data = {"kind": mailing.kind, "customer_name": customer.name if customer else "",
            "order_id": order_id, **mailing.facts(facts)}  # fmt: skip
    return [
        Planned(
            mailing.kind,
            event.id,
            event.type,
            account_id,
            order_id,
            event.correlationid,
            customer.locale if customer else "en",
            data,
            skip_reason(mailing.kind, event, customer),
        )
    ]


def skip_reason(kind: str, event: Envelope, customer: Customer | None) -> SkipReason | None:
    """Why an e-mail is not sent: the agent said so, no account or address, or opted out."""
    if not notify_customer(event):
        return "suppressed_by_agent"
    if customer is None:
        return "no_account"
    if not customer.email:
        return "no_email"
    if kind in customer.opted_out:
        return "opted_out"
    return None


def notify_customer(event: Envelope) -> bool:
    """The `notifycustomer` extension attribute; absent means true."""
    value = (event.model_extra or {}).get(NOTIFY_ATTRIBUTE, True)
    return not (value is False or (isinstance(value, str) and value.lower() == "false"))


def _read(model: type[M], value: Any, prefix: str) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        where = ", ".join(
            prefix + ".".join(str(p) for p in e["loc"]) + f" ({e['type']})"
            for e in exc.errors(include_input=False, include_url=False)[:5]
        )
        raise InvalidEvent(f"not a valid {model.__name__}: {where}") from None
