"""The plain-text e-mails the embedded demo prints, and the template chosen per locale."""

from __future__ import annotations

import pytest

from notifier.kinds import KINDS, notifications_for
from notifier.render import plain_text
from notifier.templates import template_for
from tests.notifier_events import ADA, DHL_URL, EVERY, cloudevent

TEMPLATES = {
    "order_confirmed": {"en": "d-confirmed-en", "de": "d-confirmed-de", "de-AT": "d-confirmed-at"},
    "shipped": {"fr": "d-shipped-fr"},
}


def text_of(event_type: str) -> str:
    [p] = notifications_for(cloudevent(EVERY[event_type]), ADA)
    return plain_text(p.kind, p.data)


@pytest.mark.parametrize("event_type", sorted(EVERY))
def test_every_kind_renders_a_friendly_email_to_the_customer_about_the_order(
    event_type: str,
) -> None:
    text = text_of(event_type)
    assert text.startswith("Subject: ")
    assert "Hello Ada Lovelace," in text
    assert "ord_ada_1" in text


def test_the_renderings_above_cover_every_kind_in_the_table() -> None:
    assert {KINDS[t] for t in EVERY} == set(KINDS.values())


def test_a_confirmation_lists_the_items_and_the_total_with_its_currency() -> None:
    text = text_of("order.created")
    assert "2 x Organic tee, M (TEE-ORGANIC-M)" in text
    assert "Total: 136.67 EUR" in text


def test_an_amendment_says_what_changed_and_what_is_refunded() -> None:
    text = text_of("order.amended")
    assert "136.67 EUR and is now 106.92 EUR" in text
    assert "refunding 29.75 EUR" in text


def test_a_delivery_change_mentions_what_is_owed() -> None:
    assert "Please pay the remaining 5.95 EUR." in text_of("order.delivery_changed")


def test_a_backorder_gives_the_expected_date() -> None:
    assert "by 2026-12-10" in text_of("line.backordered")


def test_a_shipment_gives_the_tracking_number_and_link() -> None:
    text = text_of("order.shipped")
    assert "00340434161094015902" in text
    assert DHL_URL in text


def test_a_refund_gives_the_amount_and_where_it_goes() -> None:
    assert "refunded 29.75 EUR for your order ord_ada_1 to your original payment" in text_of(
        "refund.settled"
    )


def test_a_received_return_lists_each_item_and_the_refund_after_the_restocking_fee() -> None:
    text = text_of("return.received")
    assert "Subject: We have received your return rma_ada_1" in text
    assert (
        "  Organic tee, M (TEE-ORGANIC-M): 2 received\n"
        "    1 accepted in full\n"
        "    1 accepted less a restocking fee\n"
        "  Grey hoodie, L (HOODIE-GREY-L): 1 received\n"
        "    1 waiting for our decision\n"
    ) in text
    assert (
        "We are refunding 53.55 EUR to your original payment. This is after deducting a "
        "restocking fee of 5.95 EUR. We will write to you again once we have decided on the rest."
    ) in text


def test_a_return_names_each_deduction_from_its_refund() -> None:
    [p] = notifications_for(cloudevent(EVERY["return.received"]), ADA)
    label = {"reason": "return_shipping", "amount": {"amount": "5.89", "currency": "EUR"}}
    data = {**p.data, "deductions": [*p.data["deductions"], label]}
    assert (
        "after deducting a restocking fee of 5.95 EUR and the return label of 5.89 EUR."
        in plain_text(p.kind, data)
    )


def test_a_decision_on_a_return_says_so_and_gives_the_refund() -> None:
    text = text_of("return.decided")
    assert "Subject: Our decision on your return rma_ada_1" in text
    assert "  Grey hoodie, L (HOODIE-GREY-L): 1 received\n    1 accepted in full" in text
    assert "We are refunding 71.28 EUR to your original payment." in text


def test_a_return_that_refunds_nothing_yet_says_why() -> None:
    [p] = notifications_for(cloudevent(EVERY["return.received"]), ADA)
    data = {**p.data, "refund": None, "deductions": []}
    assert "Nothing is refunded yet: we will write to you again" in plain_text(p.kind, data)


def test_a_return_that_leaves_a_balance_names_it() -> None:
    [p] = notifications_for(cloudevent(EVERY["return.received"]), ADA)
    data = {**p.data, "refund": None, "owed": {"amount": "3.10", "currency": "EUR"}}
    assert "Please pay the remaining 3.10 EUR of your order." in plain_text(p.kind, data)


def test_an_unknown_kind_has_no_rendering() -> None:
    with pytest.raises(ValueError, match="no plain-text e-mail"):
        plain_text("loyalty_points", {})


def test_the_template_of_the_exact_locale_is_chosen_first() -> None:
    assert template_for(TEMPLATES, "order_confirmed", "de-AT") == "d-confirmed-at"
    assert template_for(TEMPLATES, "order_confirmed", "de_at") == "d-confirmed-at"


def test_without_the_exact_locale_its_language_is_chosen() -> None:
    assert template_for(TEMPLATES, "order_confirmed", "de-CH") == "d-confirmed-de"


def test_without_the_language_english_is_chosen() -> None:
    assert template_for(TEMPLATES, "order_confirmed", "ja-JP") == "d-confirmed-en"


def test_a_kind_without_a_template_in_the_locale_language_or_english_has_none() -> None:
    assert template_for(TEMPLATES, "shipped", "de-DE") is None
    assert template_for(TEMPLATES, "delivered", "en") is None


def test_a_german_customer_reads_german_with_german_amounts_and_days() -> None:
    [p] = notifications_for(cloudevent(EVERY["order.shipped"]), ADA)
    text = plain_text(p.kind, p.data, "de-AT")
    assert text.startswith("Subject: Ihre Bestellung ord_ada_1 ist unterwegs")
    assert "am 26.11.2026 verlassen" in text and "Viele Grüße" in text
    [p] = notifications_for(cloudevent(EVERY["order.amended"]), ADA)
    assert "29,75 EUR" in plain_text(p.kind, p.data, "de")


def test_a_language_without_words_is_written_in_english() -> None:
    [p] = notifications_for(cloudevent(EVERY["order.shipped"]), ADA)
    assert plain_text(p.kind, p.data, "fr-FR") == plain_text(p.kind, p.data)
