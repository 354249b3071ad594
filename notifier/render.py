"""The plain-text e-mail of each kind, from its template data: what the embedded demo prints
where a real deployment renders a SendGrid dynamic template. English and German (a locale's
language, "de-AT" as "de"); any other language is written in English."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Data = dict[str, Any]


def plain_text(kind: str, data: Data, locale: str = "en") -> str:
    """A complete, friendly e-mail: a `Subject:` line, a blank line, the body."""
    try:
        write = _KINDS[kind]
    except KeyError:
        raise ValueError(f"no plain-text e-mail for kind {kind!r}") from None
    w = _Writer(_language(locale))
    subject, body = write(data, w)
    name = data.get("customer_name")
    hello = w("hello", name=name) if name else w("hello_there")
    return f"Subject: {subject}\n\n{hello}\n\n{body.strip()}\n\n{w('regards')}\n"


def money(value: Data | None, language: str = "en") -> str:
    """{"amount": "12.30", "currency": "EUR"} -> "12.30 EUR" ("12,30 EUR" in German)."""
    if not value:
        return "-"
    amount = str(value["amount"])
    return f"{amount.replace('.', ',') if language == 'de' else amount} {value['currency']}"


def _language(locale: str) -> str:
    language = locale.strip().replace("_", "-").lower().split("-")[0]
    return language if language in _WORDS else "en"


@dataclass(frozen=True, slots=True)
class _Writer:
    """One language's words, amounts and days."""

    language: str

    def __call__(self, key: str, **values: Any) -> str:
        return _WORDS[self.language][key].format(**values)

    def money(self, value: Data | None) -> str:
        return money(value, self.language)

    def day(self, stamp: str | None) -> str:
        if not stamp:
            return self("today")
        year, month, day = stamp[:10].split("-")
        return f"{day}.{month}.{year}" if self.language == "de" else stamp[:10]


def _items(items: list[Data]) -> str:
    return "\n".join(f"  {i['quantity']} x {i['name']} ({i['sku']})" for i in items)


def _money_note(d: Data, w: _Writer) -> str:
    """What a change means for the customer's money, each part only when it applies: the
    refund, the authorised money no longer charged, what is still to be charged, and what
    the customer owes (never the authorised money)."""
    parts = []
    if d.get("refunded"):
        r = d["refunded"]
        to_credit = r.get("to") == "store_credit"
        parts.append(w("to_store_credit" if to_credit else "refunding", amount=w.money(r)))
    if d.get("no_longer_charged"):
        parts.append(w("no_longer_charged", amount=w.money(d["no_longer_charged"])))
    if d.get("still_to_charge"):
        parts.append(w("still_to_charge", amount=w.money(d["still_to_charge"])))
    if d.get("owed"):
        parts.append(w("owed", amount=w.money(d["owed"])))
    return " ".join(parts) or w("unaffected")


def _change_line(c: Data, w: _Writer) -> str:
    """ "2 x Tee (TEE) at 25.00 EUR -> 1 x Tee (TEE) at 25.00 EUR"; added or removed alike."""

    def item(i: Data | None) -> str:
        if not i:
            return w("nothing")
        price = w("at", price=w.money(i["unit_price"])) if i.get("unit_price") else ""
        return f"{i['quantity']} x {i['name']} ({i['sku']}){price}"

    if "old" not in c:
        return f"  {c['name']}: {c['old_quantity']} -> {c['new_quantity']}"
    return f"  {item(c['old'])} -> {item(c['new'])}"


def _confirmed(d: Data, w: _Writer) -> tuple[str, str]:
    t = d["totals"]
    return w("confirmed_subject", order=d["order_id"]), w(
        "confirmed_body",
        order=d["order_id"],
        items=_items(d["items"]),
        total=w.money(t["total"]),
        shipping=w.money(t["shipping"]),
        tax=w.money(t["tax"]),
    )


def _changed(d: Data, w: _Writer) -> tuple[str, str]:
    if d.get("change") == "delivery":
        new = d["new_delivery"]
        where = new.get("pickup_location_id") or (new.get("address") or {}).get("city") or ""
        key = "travel_to" if where else "travel"
        what = w(key, method=new["method"], where=where)
        if d.get("changes"):
            lines = "\n".join(_change_line(c, w) for c in d["changes"])
            what += "\n\n" + w("items_changed_too") + "\n\n" + lines
    else:
        lines = "\n".join(_change_line(c, w) for c in d["changes"])
        what = w("changed_as_agreed") + "\n\n" + lines
    totals = w("total_was", old=w.money(d["old_total"]), new=w.money(d["new_total"]))
    return w("changed_subject", order=d["order_id"]), f"{what}\n\n{totals} {_money_note(d, w)}"


def _cancelled(d: Data, w: _Writer) -> tuple[str, str]:
    whole = d.get("scope") == "order"
    subject = w("cancelled_subject" if whole else "changed_subject", order=d["order_id"])
    head = w("cancelled_whole" if whole else "cancelled_part")
    return subject, (
        f"{head}\n\n{_items(d['items'])}\n\n"
        f"{w('total_now', new=w.money(d['new_total']))} {_money_note(d, w)}"
    )


def _short(d: Data, w: _Writer) -> tuple[str, str]:
    i = d["item"]
    return w("short_subject", order=d["order_id"]), (
        w("short_body", quantity=i["quantity"], name=i["name"], sku=i["sku"],
          order=d["order_id"]) + " " + w("total_now", new=w.money(d["new_total"]))
        + " " + _money_note(d, w)
    )  # fmt: skip


def _backordered(d: Data, w: _Writer) -> tuple[str, str]:
    i = d["item"]
    return w("backordered_subject", order=d["order_id"]), w(
        "backordered_body", quantity=i["quantity"], name=i["name"], sku=i["sku"],
        order=d["order_id"], expected=w.day(d["expected_date"]),
    )  # fmt: skip


def _shipped(d: Data, w: _Writer) -> tuple[str, str]:
    track = "\n\n" + w("track", url=d["tracking_url"]) if d.get("tracking_url") else ""
    return w("shipped_subject", order=d["order_id"]), w(
        "shipped_body", order=d["order_id"], day=w.day(d.get("shipped_at")),
        items=_items(d["items"]), carrier=d["carrier"], tracking=d["tracking_number"],
    ) + track  # fmt: skip


def _delivered(d: Data, w: _Writer) -> tuple[str, str]:
    return w("delivered_subject", order=d["order_id"]), w(
        "delivered_body", day=w.day(d.get("delivered_at")), items=_items(d["items"])
    )


def _refund_issued(d: Data, w: _Writer) -> tuple[str, str]:
    where = w("your_store_credit" if d.get("method") == "store_credit" else "your_payment")
    amount = w.money(d["refund"])
    return w("refund_subject", amount=amount), w(
        "refund_body", amount=amount, order=d["order_id"], where=where
    )


def _return_received(d: Data, w: _Writer) -> tuple[str, str]:
    stage = "decided" if d.get("stage") == "decided" else "received"
    ids = {"rma": d["return_id"], "order": d["order_id"]}
    items = "\n".join(_returned(i, w) for i in d["items"])
    return w(f"return_{stage}_subject", **ids), (
        f"{w(f'return_{stage}_head', **ids)}\n\n{items}\n\n{_return_money(d, w)}"
    )


#: What happened to a returned item's units, by their key in the template data.
_UNIT_OUTCOMES = ("refunded", "refunded_less_fee", "refused", "awaiting_decision", "missing")


def _returned(i: Data, w: _Writer) -> str:
    outcomes = [f"    {i[key]} {w('unit_' + key)}" for key in _UNIT_OUTCOMES if i.get(key)]
    head = f"  {i['name']} ({i['sku']}): " + w("received", count=i["received"])
    return "\n".join([head, *outcomes])


def _return_money(d: Data, w: _Writer) -> str:
    """The refund, what is owed, or why nothing is refunded yet."""
    waiting = any(i.get("awaiting_decision") for i in d["items"])
    later = " " + w("write_again") if waiting else ""
    if d.get("refund"):
        return _refunded(d, w) + later
    if d.get("owed"):
        return w("owed_on_order", amount=w.money(d["owed"])) + later
    if d.get("charge_reduced"):
        return w("charge_less", amount=w.money(d["charge_reduced"])) + later
    if waiting:
        return w("nothing_yet")
    return w("unaffected")


def _refunded(d: Data, w: _Writer) -> str:
    amount = w.money(d["refund"])
    to_credit = d.get("refund_method") == "store_credit"
    done = w("to_store_credit" if to_credit else "refunding", amount=amount)
    kept = [
        w("deduction", what=w("fee_" + r["reason"]) if "fee_" + r["reason"] in _WORDS["en"]
          else r["reason"], amount=w.money(r["amount"]))
        for r in d.get("deductions") or []
    ]  # fmt: skip
    return done + (" " + w("after_deducting", kept=w("and").join(kept)) if kept else "")


_KINDS: dict[str, Callable[[Data, _Writer], tuple[str, str]]] = {
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

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "hello_there": "Hello there,",
        "hello": "Hello {name},",
        "regards": "Kind regards,\nCustomer care",
        "today": "today",
        "nothing": "nothing",
        "at": " at {price}",
        "and": " and ",
        "refunding": "We are refunding {amount} to your original payment.",
        "to_store_credit": "We have added {amount} to your store credit.",
        "no_longer_charged": "{amount} will no longer be charged.",
        "still_to_charge": "{amount} will be charged to your payment method.",
        "owed": "Please pay the remaining {amount}.",
        "unaffected": "Your payment is not affected.",
        "confirmed_subject": "Your order {order} is confirmed",
        "confirmed_body": "Thank you for your order {order}. Here is what you ordered:\n\n"
        "{items}\n\nTotal: {total} (including {shipping} shipping and {tax} tax).\n\n"
        "We will let you know as soon as it ships.",
        "changed_subject": "Your order {order} has changed",
        "travel": "Your order will now travel by {method}.",
        "travel_to": "Your order will now travel by {method} to {where}.",
        "items_changed_too": "Your items changed too:",
        "changed_as_agreed": "We changed your order as agreed:",
        "total_was": "Your order total was {old} and is now {new}.",
        "total_now": "Your order total is now {new}.",
        "cancelled_subject": "Your order {order} is cancelled",
        "cancelled_whole": "Your order has been cancelled.",
        "cancelled_part": "Part of your order has been cancelled:",
        "short_subject": "An item of your order {order} is unavailable",
        "short_body": "We are sorry: we could not pick {quantity} x {name} ({sku}) for your "
        "order {order}, so we removed it.",
        "backordered_subject": "An item of your order {order} is delayed",
        "backordered_body": "{quantity} x {name} ({sku}) from your order {order} is "
        "temporarily out of stock. We expect to ship it by {expected}; the rest of your order "
        "is not held up. You need not do anything.",
        "shipped_subject": "Your order {order} is on its way",
        "shipped_body": "Good news: part or all of your order {order} left our warehouse on "
        "{day}:\n\n{items}\n\nCarrier: {carrier}, tracking number {tracking}.",
        "track": "Track it here: {url}",
        "delivered_subject": "Your order {order} was delivered",
        "delivered_body": "Your parcel was delivered on {day}:\n\n{items}\n\n"
        "We hope you enjoy it. If anything is wrong, just reply to this e-mail.",
        "refund_subject": "Your refund of {amount} is on its way",
        "refund_body": "We have refunded {amount} for your order {order} to {where}. "
        "Depending on your bank it can take a few days to show.",
        "your_store_credit": "your store credit",
        "your_payment": "your original payment",
        "return_decided_subject": "Our decision on your return {rma}",
        "return_received_subject": "We have received your return {rma}",
        "return_decided_head": "We have decided on the items of your return {rma} (order "
        "{order}) that we needed to look at more closely. Your whole return now stands as "
        "follows:",
        "return_received_head": "The parcel of your return {rma} (order {order}) has arrived. "
        "We checked every item:",
        "received": "{count} received",
        "unit_refunded": "accepted in full",
        "unit_refunded_less_fee": "accepted less a restocking fee",
        "unit_refused": "not accepted",
        "unit_awaiting_decision": "waiting for our decision",
        "unit_missing": "not in the parcel",
        "write_again": "We will write to you again once we have decided on the rest.",
        "owed_on_order": "Please pay the remaining {amount} of your order.",
        "charge_less": "We will charge you {amount} less than before.",
        "nothing_yet": "Nothing is refunded yet: we will write to you again once we have decided.",
        "deduction": "{what} of {amount}",
        "fee_restocking_fee": "a restocking fee",
        "fee_return_shipping": "the return label",
        "after_deducting": "This is after deducting {kept}.",
    },
    "de": {
        "hello_there": "Guten Tag,",
        "hello": "Hallo {name},",
        "regards": "Viele Grüße\nIhr Kundenservice",
        "today": "heute",
        "nothing": "nichts",
        "at": " zu je {price}",
        "and": " und ",
        "refunding": "Wir erstatten Ihnen {amount} auf Ihr ursprüngliches Zahlungsmittel.",
        "to_store_credit": "Wir haben Ihrem Guthaben {amount} gutgeschrieben.",
        "no_longer_charged": "{amount} werden Ihnen nicht mehr belastet.",
        "still_to_charge": "{amount} werden noch von Ihrem Zahlungsmittel abgebucht.",
        "owed": "Bitte zahlen Sie den offenen Betrag von {amount}.",
        "unaffected": "Ihre Zahlung ändert sich nicht.",
        "confirmed_subject": "Ihre Bestellung {order} ist bestätigt",
        "confirmed_body": "Vielen Dank für Ihre Bestellung {order}. Sie haben bestellt:\n\n"
        "{items}\n\nGesamtbetrag: {total} (inklusive {shipping} Versand und {tax} "
        "Steuern).\n\nWir melden uns, sobald sie versandt wird.",
        "changed_subject": "Ihre Bestellung {order} wurde geändert",
        "travel": "Ihre Bestellung wird jetzt per {method} geliefert.",
        "travel_to": "Ihre Bestellung wird jetzt per {method} nach {where} geliefert.",
        "items_changed_too": "Auch Ihre Artikel haben sich geändert:",
        "changed_as_agreed": "Wir haben Ihre Bestellung wie besprochen geändert:",
        "total_was": "Ihr Bestellbetrag war {old} und ist jetzt {new}.",
        "total_now": "Ihr Bestellbetrag ist jetzt {new}.",
        "cancelled_subject": "Ihre Bestellung {order} ist storniert",
        "cancelled_whole": "Ihre Bestellung wurde storniert.",
        "cancelled_part": "Ein Teil Ihrer Bestellung wurde storniert:",
        "short_subject": "Ein Artikel Ihrer Bestellung {order} ist nicht lieferbar",
        "short_body": "Es tut uns leid: {quantity} x {name} ({sku}) aus Ihrer Bestellung "
        "{order} konnten wir nicht kommissionieren, daher haben wir den Artikel entfernt.",
        "backordered_subject": "Ein Artikel Ihrer Bestellung {order} verzögert sich",
        "backordered_body": "{quantity} x {name} ({sku}) aus Ihrer Bestellung {order} ist "
        "vorübergehend nicht vorrätig. Wir erwarten den Versand bis {expected}; der Rest Ihrer "
        "Bestellung wird nicht aufgehalten. Sie müssen nichts tun.",
        "shipped_subject": "Ihre Bestellung {order} ist unterwegs",
        "shipped_body": "Gute Nachricht: Ihre Bestellung {order} hat unser Lager ganz oder "
        "teilweise am {day} verlassen:\n\n{items}\n\nVersanddienst: {carrier}, "
        "Sendungsnummer {tracking}.",
        "track": "Hier können Sie die Sendung verfolgen: {url}",
        "delivered_subject": "Ihre Bestellung {order} wurde zugestellt",
        "delivered_body": "Ihr Paket wurde am {day} zugestellt:\n\n{items}\n\n"
        "Viel Freude damit! Falls etwas nicht stimmt, antworten Sie einfach auf diese E-Mail.",
        "refund_subject": "Ihre Erstattung von {amount} ist unterwegs",
        "refund_body": "Wir haben {amount} für Ihre Bestellung {order} auf {where} erstattet. "
        "Je nach Bank kann es einige Tage dauern, bis der Betrag erscheint.",
        "your_store_credit": "Ihr Guthaben",
        "your_payment": "Ihr ursprüngliches Zahlungsmittel",
        "return_decided_subject": "Unsere Entscheidung zu Ihrer Rücksendung {rma}",
        "return_received_subject": "Wir haben Ihre Rücksendung {rma} erhalten",
        "return_decided_head": "Wir haben über die Artikel Ihrer Rücksendung {rma} "
        "(Bestellung {order}) entschieden, die wir genauer prüfen mussten. Ihre gesamte "
        "Rücksendung steht jetzt so:",
        "return_received_head": "Das Paket Ihrer Rücksendung {rma} (Bestellung {order}) ist "
        "angekommen. Wir haben jeden Artikel geprüft:",
        "received": "{count} erhalten",
        "unit_refunded": "voll angenommen",
        "unit_refunded_less_fee": "angenommen abzüglich einer Wiedereinlagerungsgebühr",
        "unit_refused": "nicht angenommen",
        "unit_awaiting_decision": "warten auf unsere Entscheidung",
        "unit_missing": "nicht im Paket",
        "write_again": "Wir schreiben Ihnen erneut, sobald wir über den Rest entschieden haben.",
        "owed_on_order": "Bitte zahlen Sie den offenen Betrag von {amount} für Ihre Bestellung.",
        "charge_less": "Wir belasten Ihnen {amount} weniger als zuvor.",
        "nothing_yet": "Noch wird nichts erstattet: Wir schreiben Ihnen erneut, sobald wir "
        "entschieden haben.",
        "deduction": "{what} von {amount}",
        "fee_restocking_fee": "einer Wiedereinlagerungsgebühr",
        "fee_return_shipping": "des Rücksendeetiketts",
        "after_deducting": "Dies ist nach Abzug {kept}.",
    },
}
