"""`ordercare_money_total` counts goodwill granted as store credit, beside credit memos and
refunds (a discount already shows as credited and refunded through its settlement)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from actors.metrics import count_money

from .test_appeasements import ada, store_credit


def _store_credit(currency: str) -> float:
    value = REGISTRY.get_sample_value(
        "ordercare_money_total", {"kind": "store_credit", "currency": currency}
    )
    return value or 0.0


def test_a_store_credit_appeasement_is_counted_as_money_moved() -> None:
    desk = ada()
    before = _store_credit("EUR")

    granted = store_credit(desk, "15.00")
    count_money(granted.events)

    assert granted.result["status"] == "granted"
    assert _store_credit("EUR") - before == 15.0
