"""The plain-text e-mail of each kind, from its template data: what the embedded demo prints
where a real deployment renders a SendGrid dynamic template. English only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Data = dict[str, Any]


def plain_text(kind: str, data: Data, locale: str = "en") -> str:
    """A complete, friendly e-mail: a `Subject:` line, a blank line, the body."""
    try:
        subject, body = _KINDS[kind](data)
    except KeyError:
        raise ValueError(f"no plain-text e-mail for kind {kind!r}") from None
    name = data.get("customer_name") or "there"
    return (
        f"Subject: {subject}\n\nHello {name},\n\n{body.strip()}\n\nKind regards,\nCustomer care\n"
    )


def money(value: Data | None) -> str:
    """{"amount": "12.30", "currency": "EUR"} -> "12.30 EUR"."""
    return f"{value['amount']} {value['currency']}" if value else "-"


def _items(items: list[Data]) -> str:
    return "\n".join(f"  {i['quantity']} x {i['name']} ({i['sku']})" for i in items)


def _day(stamp: str | None) -> str:
    return stamp[:10] if stamp else "today"


def _money_note(d: Data) -> str:
    """What a change means for the customer's money, each part only when it applies: the
    refund, the authorised money no longer charged, what is still to be charged, and what
    the customer owes (never the authorised money)."""
    parts = []
    if d.get("refunded"):
        r = d["refunded"]
        parts.append(
            f"We have added {money(r)} to your store credit."
            if r.get("to") == "store_credit"
            else f"We are refunding {money(r)} to your original payment."
        )
    if d.get("no_longer_charged"):
        parts.append(f"{money(d['no_longer_charged'])} will no longer be charged.")
    if d.get("still_to_charge"):
        parts.append(f"{money(d['still_to_charge'])} will be charged to your payment method.")
    if d.get("owed"):
        parts.append(f"Please pay the remaining {money(d['owed'])}.")
    return " ".join(parts) or "Your payment is not affected."


def _change_line(c: Data) -> str:
    """ "2 x Tee (TEE) at 25.00 EUR -> 1 x Tee (TEE) at 25.00 EUR"; added or removed alike."""

    def item(i: Data | None) -> str:
        if not i:
            return "nothing"
        price = f" at {money(i['unit_price'])}" if i.get("unit_price") else ""
        return f"{i['quantity']} x {i['name']} ({i['sku']}){price}"

    if "old" not in c:
        return f"  {c['name']}: {c['old_quantity']} -> {c['new_quantity']}"
    return f"  {item(c['old'])} -> {item(c['new'])}"


def _confirmed(d: Data) -> tuple[str, str]:
    t = d["totals"]
    return f"Your order {d['order_id']} is confirmed", (
        f"Thank you for your order {d['order_id']}. Here is what you ordered:\n\n"
        f"{_items(d['items'])}\n\n"
        f"Total: {money(t['total'])} (including {money(t['shipping'])} shipping and "
        f"{money(t['tax'])} tax).\n\nWe will let you know as soon as it ships."
    )


def _changed(d: Data) -> tuple[str, str]:
    if d.get("change") == "delivery":
        new = d["new_delivery"]
        where = new.get("pickup_location_id") or (new.get("address") or {}).get("city") or ""
        what = f"Your order will now travel by {new['method']}" + (
            f" to {where}." if where else "."
        )
        if d.get("changes"):
            what += "\n\nYour items changed too:\n\n" + "\n".join(
                _change_line(c) for c in d["changes"]
            )
    else:
        lines = [_change_line(c) for c in d["changes"]]
        what = "We changed your order as agreed:\n\n" + "\n".join(lines)
    return f"Your order {d['order_id']} has changed", (
        f"{what}\n\nYour order total was {money(d['old_total'])} and is now "
        f"{money(d['new_total'])}. {_money_note(d)}"
    )


def _cancelled(d: Data) -> tuple[str, str]:
    whole = d.get("scope") == "order"
    head = "Your order has been cancelled." if whole else "Part of your order has been cancelled:"
    return f"Your order {d['order_id']} {'is cancelled' if whole else 'has changed'}", (
        f"{head}\n\n{_items(d['items'])}\n\n"
        f"Your order total is now {money(d['new_total'])}. {_money_note(d)}"
    )


def _short(d: Data) -> tuple[str, str]:
    i = d["item"]
    return f"An item of your order {d['order_id']} is unavailable", (
        f"We are sorry: we could not pick {i['quantity']} x {i['name']} ({i['sku']}) for your "
        f"order {d['order_id']}, so we removed it. Your order total is now "
        f"{money(d['new_total'])}. {_money_note(d)}"
    )


def _backordered(d: Data) -> tuple[str, str]:
    i = d["item"]
    return f"An item of your order {d['order_id']} is delayed", (
        f"{i['quantity']} x {i['name']} ({i['sku']}) from your order {d['order_id']} is "
        f"temporarily out of stock. We expect to ship it by {d['expected_date']}; the rest of "
        "your order is not held up. You need not do anything."
    )


def _shipped(d: Data) -> tuple[str, str]:
    track = f"\n\nTrack it here: {d['tracking_url']}" if d.get("tracking_url") else ""
    return f"Your order {d['order_id']} is on its way", (
        f"Good news: part or all of your order {d['order_id']} left our warehouse on "
        f"{_day(d.get('shipped_at'))}:\n\n{_items(d['items'])}\n\n"
        f"Carrier: {d['carrier']}, tracking number {d['tracking_number']}.{track}"
    )


def _delivered(d: Data) -> tuple[str, str]:
    return f"Your order {d['order_id']} was delivered", (
        f"Your parcel was delivered on {_day(d.get('delivered_at'))}:\n\n{_items(d['items'])}\n\n"
        "We hope you enjoy it. If anything is wrong, just reply to this e-mail."
    )


def _refund_issued(d: Data) -> tuple[str, str]:
    where = "your store credit" if d.get("method") == "store_credit" else "your original payment"
    return f"Your refund of {money(d['refund'])} is on its way", (
        f"We have refunded {money(d['refund'])} for your order {d['order_id']} to {where}. "
        "Depending on your bank it can take a few days to show."
    )


def _return_received(d: Data) -> tuple[str, str]:
    decided = d.get("stage") == "decided"
    subject = (
        f"Our decision on your return {d['return_id']}"
        if decided
        else f"We have received your return {d['return_id']}"
    )
    head = (
        f"We have decided on the items of your return {d['return_id']} (order {d['order_id']}) "
        "that we needed to look at more closely. Your whole return now stands as follows:"
        if decided
        else f"The parcel of your return {d['return_id']} (order {d['order_id']}) has arrived. "
        "We checked every item:"
    )
    items = "\n".join(_returned(i) for i in d["items"])
    return subject, f"{head}\n\n{items}\n\n{_return_money(d)}"


#: What happened to a returned item's units: (key in the template data, wording).
_UNIT_OUTCOMES = (
    ("refunded", "accepted in full"),
    ("refunded_less_fee", "accepted less a restocking fee"),
    ("refused", "not accepted"),
    ("awaiting_decision", "waiting for our decision"),
    ("missing", "not in the parcel"),
)


def _returned(i: Data) -> str:
    outcomes = [f"    {i[key]} {words}" for key, words in _UNIT_OUTCOMES if i.get(key)]
    return "\n".join([f"  {i['name']} ({i['sku']}): {i['received']} received", *outcomes])


def _return_money(d: Data) -> str:
    """The refund, the balance due, or why nothing is refunded yet."""
    waiting = any(i.get("awaiting_decision") for i in d["items"])
    later = " We will write to you again once we have decided on the rest." if waiting else ""
    if d.get("refund"):
        return _refunded(d) + later
    if d.get("owed"):
        return f"Please pay the remaining {money(d['owed'])} of your order.{later}"
    if d.get("charge_reduced"):
        return f"We will charge you {money(d['charge_reduced'])} less than before.{later}"
    if waiting:
        return "Nothing is refunded yet: we will write to you again once we have decided."
    return "Your payment is not affected."


#: How an e-mail names what a return keeps back from its refund.
_DEDUCTIONS = {"restocking_fee": "a restocking fee", "return_shipping": "the return label"}


def _refunded(d: Data) -> str:
    amount = money(d["refund"])
    done = (
        f"We have added {amount} to your store credit."
        if d.get("refund_method") == "store_credit"
        else f"We are refunding {amount} to your original payment."
    )
    kept = [
        f"{_DEDUCTIONS.get(r['reason'], r['reason'])} of {money(r['amount'])}"
        for r in d.get("deductions") or []
    ]
    return done + (f" This is after deducting {' and '.join(kept)}." if kept else "")


_KINDS: dict[str, Callable[[Data], tuple[str, str]]] = {
    "order_confirmed": _confirmed,
    "order_changed": _changed,
    "order_cancelled": _cancelled,
    "item_short": _short,
    "item_backordered": _backordered,
    "shipped": _shipped,
    "delivered": _delivered,
    "refund_issued": _refund_issued,
    "return_received": _return_received,
}
