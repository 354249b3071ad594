"""Appeasements as the wire and the audit trail show them; the billing account's list."""

from __future__ import annotations

from typing import Any

from contracts.appeasements import AppeasementView, LimitExceeded, Person
from contracts.common import Actor
from services.appeasements.limits import Exceeded
from services.appeasements.model import Appeasement
from services.money import round_money
from services.ports import UnitOfWork


def person(actor: Actor) -> Person:
    return Person(id=actor.id, role=actor.role)


def appeasement_view(a: Appeasement) -> AppeasementView:
    return AppeasementView(
        appeasement_id=a.appeasement_id,
        kind=a.kind,
        status=a.status,
        account_id=a.account_id,
        order_id=a.order_id,
        line_id=a.line_id,
        currency=a.currency,
        amount=round_money(a.amount, a.currency),
        percent=a.percent,
        value=round_money(a.value, a.currency),
        settle_to=a.settle_to,
        reason=a.reason,
        note=a.note,
        ticket=a.ticket,
        offered_by=person(a.offered_by),
        offered_at=a.created_at,
        expires_at=a.expires_at,
        decided_by=person(a.decided_by) if a.decided_by else None,
        decided_at=a.decided_at,
        decision_reason=a.decision_reason,
        decision_note=a.decision_note,
        credit_memo_id=a.credit_memo_id,
    )


def limit_view(over: Exceeded, currency: str) -> LimitExceeded:
    return LimitExceeded(
        limit=over.limit,
        role=over.role,
        cap=over.cap,
        counted=round_money(over.counted, currency),
        over_by=round_money(over.over_by, currency),
        percent=over.percent,
    )


def audit_state(a: Appeasement) -> dict[str, Any]:
    """The appeasement as the audit trail keeps it (ids, money, status, people)."""
    return appeasement_view(a).model_dump(mode="json", exclude_none=True)


#: The most appeasements `billing_account.get` lists (newest first; it says how many in all).
APPEASEMENTS_SHOWN = 100


def appeasements_for_account(
    uow: UnitOfWork, account_id: str, limit: int = APPEASEMENTS_SHOWN
) -> tuple[list[AppeasementView], int]:
    """The newest appeasements of a billing account: who offered and who decided, why, the
    ticket, the value, the status and when (for `billing_account.get`); and how many in all.
    Bounded, so an account's long history never makes an answer of unbounded size."""
    found, total = uow.appeasements.for_account(account_id, limit)
    return [appeasement_view(a) for a in found], total
