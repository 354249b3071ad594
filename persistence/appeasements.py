"""Appeasements in SQL: the `appeasements` table and the goodwill store-credit entries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.common import Actor
from persistence.sql import Row, Sql
from services.appeasements.model import Appeasement
from services.money import ZERO, round_money

#: What the limits count.
_LIVE = "status IN ('pending', 'granted')"

_SELECT = (
    "SELECT id, kind, account_id, order_id, line_id, currency, amount, percent, value, "
    "settle_to, reason, note, ticket, offered_by, offered_by_role, created_at, command_id, "
    "status, expires_at, decided_by, decided_by_role, decided_at, decision_reason, "
    "decision_note, credit_memo_id FROM appeasements"
)


class SqlAppeasements:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def get(self, appeasement_id: str) -> Appeasement | None:
        row = self.sql.one(f"{_SELECT} WHERE id = %(id)s", {"id": appeasement_id})
        return _appeasement(row) if row else None

    def get_for_update(self, appeasement_id: str) -> Appeasement | None:
        row = self.sql.one(f"{_SELECT} WHERE id = %(id)s FOR UPDATE", {"id": appeasement_id})
        return _appeasement(row) if row else None

    def add(self, appeasement: Appeasement) -> bool:
        inserted = self.sql.one(
            "INSERT INTO appeasements (id, kind, account_id, order_id, line_id, currency, amount, "
            "percent, value, settle_to, reason, note, ticket, offered_by, offered_by_role, "
            "created_at, command_id, status, expires_at, decided_by, decided_by_role, decided_at, "
            "decision_reason, decision_note, credit_memo_id) VALUES (%(id)s, %(kind)s, "
            "%(account_id)s, %(order_id)s, %(line_id)s, %(currency)s, %(amount)s, %(percent)s, "
            "%(value)s, %(settle_to)s, %(reason)s, %(note)s, %(ticket)s, %(offered_by)s, "
            "%(offered_by_role)s, %(created_at)s, %(command_id)s, %(status)s, %(expires_at)s, "
            "%(decided_by)s, %(decided_by_role)s, %(decided_at)s, %(decision_reason)s, "
            "%(decision_note)s, %(credit_memo_id)s) ON CONFLICT DO NOTHING RETURNING id",
            _values(appeasement),
        )
        return inserted is not None

    def save(self, appeasement: Appeasement) -> None:
        self.sql.run(
            "UPDATE appeasements SET status = %(status)s, value = %(value)s, decided_by = "
            "%(decided_by)s, decided_by_role = %(decided_by_role)s, decided_at = %(decided_at)s, "
            "decision_reason = %(decision_reason)s, decision_note = %(decision_note)s, "
            "credit_memo_id = %(credit_memo_id)s WHERE id = %(id)s",
            _values(appeasement),
        )

    def on_order(self, order_id: str, excluding: str | None = None) -> Decimal:
        rows = self.sql.all(
            f"SELECT value FROM appeasements WHERE order_id = %(order_id)s AND {_LIVE} "
            "AND id <> %(excluding)s",
            {"order_id": order_id, "excluding": excluding or ""},
        )
        return _sum(rows)

    def offered_since(self, actor_id: str, currency: str, since: datetime) -> Decimal:
        rows = self.sql.all(
            "SELECT value FROM appeasements WHERE offered_by = %(actor)s AND created_at > "
            f"%(since)s AND currency = %(currency)s AND {_LIVE}",
            {"actor": actor_id, "since": since, "currency": currency},
        )
        return _sum(rows)

    def hold_offerer(self, actor_id: str) -> None:
        # A transaction-scoped advisory lock: two offers by one person apply one at a time,
        # so both cannot pass the per-day limit.
        self.sql.run(
            "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))",
            {"key": f"appeasement-offerer:{actor_id}"},
        )

    def for_account(self, account_id: str, limit: int) -> tuple[list[Appeasement], int]:
        rows = self.sql.all(
            f"{_SELECT} WHERE account_id = %(account_id)s ORDER BY created_at DESC, id DESC "
            "LIMIT %(limit)s",
            {"account_id": account_id, "limit": limit},
        )
        if len(rows) < limit:
            return [_appeasement(row) for row in rows], len(rows)
        total = self.sql.one(
            "SELECT count(*) FROM appeasements WHERE account_id = %(account_id)s",
            {"account_id": account_id},
        )
        return [_appeasement(row) for row in rows], int(total[0]) if total else len(rows)

    def add_store_credit(
        self,
        account_id: str,
        currency: str,
        amount: Decimal,
        reference: str,
        at: datetime,
        command_id: str,
    ) -> None:
        self.sql.run(
            "INSERT INTO store_credit_entries (account_id, currency, amount, reason, reference, "
            "created_at, command_id) VALUES (%(account_id)s, %(currency)s, %(amount)s, "
            "'appeasement', %(ref)s, %(at)s, %(cmd)s)",
            {
                "account_id": account_id,
                "currency": currency,
                "amount": amount,
                "ref": reference,
                "at": at,
                "cmd": command_id,
            },
        )


def _values(a: Appeasement) -> dict[str, Any]:
    return {
        "id": a.appeasement_id,
        "kind": a.kind,
        "account_id": a.account_id,
        "order_id": a.order_id,
        "line_id": a.line_id,
        "currency": a.currency,
        "amount": a.amount,
        "percent": a.percent,
        "value": a.value,
        "settle_to": a.settle_to,
        "reason": a.reason,
        "note": a.note,
        "ticket": a.ticket,
        "offered_by": a.offered_by.id,
        "offered_by_role": a.offered_by.role,
        "created_at": a.created_at,
        "command_id": a.command_id,
        "status": a.status,
        "expires_at": a.expires_at,
        "decided_by": a.decided_by.id if a.decided_by else None,
        "decided_by_role": a.decided_by.role if a.decided_by else None,
        "decided_at": a.decided_at,
        "decision_reason": a.decision_reason,
        "decision_note": a.decision_note,
        "credit_memo_id": a.credit_memo_id,
    }


def _appeasement(row: Row) -> Appeasement:
    (id_, kind, account_id, order_id, line_id, currency, amount, percent, value, settle_to,
     reason, note, ticket, offered_by, offered_role, created_at, command_id, status,
     expires_at, decided_by, decided_role, decided_at, decision_reason, decision_note,
     credit_memo_id) = row  # fmt: skip
    return Appeasement(
        appeasement_id=id_,
        kind=kind,
        account_id=account_id,
        order_id=order_id,
        line_id=line_id,
        currency=currency,
        amount=round_money(amount, currency),
        percent=None if percent is None else percent.normalize(),
        value=round_money(value, currency),
        settle_to=settle_to,
        reason=reason,
        note=note,
        ticket=ticket,
        offered_by=Actor(id=offered_by, role=offered_role),
        created_at=created_at,
        command_id=command_id,
        status=status,
        expires_at=None if expires_at is None else expires_at,
        decided_by=Actor(id=decided_by, role=decided_role) if decided_by else None,
        decided_at=None if decided_at is None else decided_at,
        decision_reason=decision_reason,
        decision_note=decision_note,
        credit_memo_id=credit_memo_id,
    )


def _sum(rows: list[Row]) -> Decimal:
    return sum((value for (value,) in rows), ZERO)
