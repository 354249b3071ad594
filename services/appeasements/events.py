"""What an appeasement publishes and the audit rows it leaves."""

from __future__ import annotations

from typing import Any

from services.appeasements.model import Appeasement
from services.appeasements.views import audit_state
from services.context import AuditEntry
from services.money import round_money


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
