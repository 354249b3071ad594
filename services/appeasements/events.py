"""What an appeasement publishes and the audit rows it leaves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts.appeasements import DiscountedLine, OrderDiscounted
from services.appeasements.model import Appeasement
from services.appeasements.views import audit_state
from services.context import AuditEntry
from services.money import round_money
from services.orders.events import Before, changed_fields
from services.orders.model import Order
from services.orders.settlement import Settlement


def order_discounted(
    order: Order,
    appeasement: Appeasement,
    shares: dict[str, Decimal],
    before: Before,
    settlement: Settlement,
) -> OrderDiscounted:
    """The order's main event for a discount: totals, payment, settlement and the lines."""
    return OrderDiscounted(
        **changed_fields(order, appeasement.reason, before, settlement),
        appeasement_id=appeasement.appeasement_id,
        line_id=appeasement.line_id,
        discount=appeasement.amount,
        lines=[
            DiscountedLine(line_id=line.line_id, sku=line.sku, name=line.name, discount=share)
            for line in order.lines
            if (share := shares.get(line.line_id)) is not None
        ],
    )


def audit(appeasement: Appeasement, action: str, before: dict[str, Any] | None) -> list[AuditEntry]:
    """One row for the billing account, always, and one for the order it names."""
    after = audit_state(appeasement)
    entries = [AuditEntry("billing_account", appeasement.account_id, action, before, after)]
    if appeasement.order_id:
        entries.insert(0, AuditEntry("order", appeasement.order_id, action, before, after))
    return entries


def result(appeasement: Appeasement) -> dict[str, Any]:
    """What `command.accepted` says about an appeasement."""
    currency = appeasement.currency
    out: dict[str, Any] = {
        "appeasement_id": appeasement.appeasement_id,
        "kind": appeasement.kind,
        "status": appeasement.status,
        "currency": currency,
        "amount": str(round_money(appeasement.amount, currency)),
        "value": str(round_money(appeasement.value, currency)),
    }
    if appeasement.credit_memo_id:
        out["credit_memo_id"] = appeasement.credit_memo_id
    return out
