"""The notifier's store in SQL (the port is notifier/store.py): the notifications table (one
row per event and kind, the dedupe record), the customers' facts in billing_accounts, and
OrderCare's outbox for the two events the notifier publishes. Statements are SQLAlchemy Core
on the Table objects of persistence/tables.py, so the schema is declared once; the engine is
persistence/engine.py's, whose hidden parameters keep names and addresses out of errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert

from contracts.notifications import CustomerNotificationFailed, CustomerNotified, FailureReason
from notifier.events import NotifierEvent, outbox_row
from notifier.kinds import Customer, SkipReason
from notifier.mail import SendResult
from notifier.store import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    UNSENT,
    Claimed,
    NewNotification,
    Recorded,
)
from persistence.engine import make_engine
from persistence.tables import AccountRow, Base, NotificationRow, OutboxRow

NOTIFICATIONS = Base.metadata.tables[NotificationRow.__tablename__]
ACCOUNTS = Base.metadata.tables[AccountRow.__tablename__]
OUTBOX = Base.metadata.tables[OutboxRow.__tablename__]


def open_notification_store(
    database_url: str, events_exchange: str, *, senders: int
) -> SqlNotificationStore:
    """The store on its own engine: a connection per sender, the consumer's and the gauge's."""
    return SqlNotificationStore(make_engine(database_url, pool_size=senders + 2), events_exchange)


class SqlIntake:
    """One transaction of the consumer: read the customer, insert the planned rows."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def customer(self, account_id: str | None) -> Customer | None:
        if account_id is None:
            return None
        a = ACCOUNTS.c
        row = self.conn.execute(
            select(a.id, a.name, a.email, a.locale, a.notification_opt_outs).where(
                a.id == account_id
            )
        ).first()
        if row is None:
            return None
        return Customer(
            row.id, row.name, row.email, row.locale or "en", _kinds(row.notification_opt_outs)
        )

    def insert(self, rows: Sequence[NewNotification], now: datetime) -> list[Recorded]:
        """Insert each row unless its (event_id, kind) exists; returns the inserted ones."""
        if not rows:
            return []
        n = NOTIFICATIONS.c
        statement = (
            insert(NOTIFICATIONS)
            .values([_new_row(r, now) for r in rows])
            .on_conflict_do_nothing(index_elements=["event_id", "kind"])
            .returning(n.id, n.kind, n.status, n.reason)
        )
        return [Recorded(r.id, r.kind, r.status, r.reason) for r in self.conn.execute(statement)]


class SqlNotificationStore:
    """The notifications table for the consumer (intake) and the senders (claim, record)."""

    def __init__(self, engine: Engine, events_exchange: str) -> None:
        self.engine = engine
        self.events_exchange = events_exchange

    @contextmanager
    def intake(self) -> Iterator[SqlIntake]:
        """A transaction, committed when the block ends without an error."""
        with self.engine.begin() as conn:
            yield SqlIntake(conn)

    def claim(self, limit: int, now: datetime, lease_seconds: float) -> list[Claimed]:
        """Due pending rows, and sending rows whose sender's lease ran out: marked `sending`,
        attempts + 1, leased, committed. Several senders never claim the same row."""
        n, a = NOTIFICATIONS.c, ACCOUNTS.c
        with self.engine.begin() as conn:
            due = (
                select(n.id)
                .where(n.status.in_(UNSENT), n.next_attempt_at <= now)
                .order_by(n.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            lease = now + timedelta(seconds=lease_seconds)
            conn.execute(
                update(NOTIFICATIONS)
                .where(n.id.in_(ids))
                .values(status=SENDING, attempts=n.attempts + 1, next_attempt_at=lease)
            )
            rows = conn.execute(
                select(
                    n.id,
                    n.event_id,
                    n.event_type,
                    n.kind,
                    n.account_id,
                    n.order_id,
                    n.correlation_id,
                    n.locale,
                    n.template_id,
                    n.attempts,
                    n.created_at,
                    n.data,
                    a.email,
                    a.name,
                    a.notification_opt_outs,
                )
                .select_from(NOTIFICATIONS.outerjoin(ACCOUNTS, a.id == n.account_id))
                .where(n.id.in_(ids))
                .order_by(n.next_attempt_at, n.id)
            ).all()
        return [_claimed(r) for r in rows]

    def renew(self, c: Claimed, now: datetime, lease_seconds: float) -> bool:
        """Extend the lease just before sending; False when another sender has the row now
        (the batch took longer than the lease)."""
        until = now + timedelta(seconds=lease_seconds)
        return self._finish(c, {"next_attempt_at": until}, None, now)

    def sent(self, c: Claimed, result: SendResult, now: datetime) -> bool:
        """Record an accepted e-mail and publish customer.notified, in one transaction."""
        event = CustomerNotified(**_about(c), provider_message_id=result.message_id)
        values = {"status": SENT, "sent_at": now, "provider_message_id": result.message_id,
                  "last_status": result.status, "last_error": None}  # fmt: skip
        return self._finish(c, values, event, now)

    def failed(self, c: Claimed, reason: FailureReason, result: SendResult, now: datetime) -> bool:
        """Record giving up and publish customer.notification_failed, in one transaction."""
        event = CustomerNotificationFailed(
            **_about(c), reason=reason, status_code=result.status, error=result.error,
            attempts=c.attempts,
        )  # fmt: skip
        values = {"status": FAILED, "reason": reason, "last_status": result.status,
                  "last_error": result.error}  # fmt: skip
        return self._finish(c, values, event, now)

    def retry(self, c: Claimed, result: SendResult, at: datetime) -> bool:
        values = {"status": PENDING, "next_attempt_at": at, "last_status": result.status,
                  "last_error": result.error}  # fmt: skip
        return self._finish(c, values, None, at)

    def skipped(self, c: Claimed, reason: SkipReason, now: datetime) -> bool:
        return self._finish(c, {"status": SKIPPED, "reason": reason}, None, now)

    def release(self, claimed: Sequence[Claimed], now: datetime) -> None:
        """Hand back rows claimed but not tried (a sender stopping): due now, attempt not counted."""
        for c in claimed:
            values = {"status": PENDING, "next_attempt_at": now, "attempts": c.attempts - 1}
            self._finish(c, values, None, now)

    def close(self) -> None:
        self.engine.dispose()

    def oldest_unsent_age(self, now: datetime) -> float:
        """Seconds since the oldest pending or sending notification was recorded; 0 if none."""
        n = NOTIFICATIONS.c
        with self.engine.connect() as conn:
            oldest = conn.execute(
                select(func.min(n.created_at)).where(n.status.in_(UNSENT))
            ).scalar()
        return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0

    def _finish(self, c: Claimed, values: dict[str, Any], event: NotifierEvent | None,
                now: datetime) -> bool:  # fmt: skip
        """Update a claimed row, if this sender still owns it, and add its event to the outbox."""
        n = NOTIFICATIONS.c
        with self.engine.begin() as conn:
            owned = conn.execute(
                update(NOTIFICATIONS)
                .where(n.id == c.id, n.status == SENDING, n.attempts == c.attempts)
                .values(**values)
            ).rowcount
            if owned and event is not None:
                row = outbox_row(self.events_exchange, event, causation_id=c.event_id,
                                 correlation_id=c.correlation_id, now=now)  # fmt: skip
                conn.execute(OUTBOX.insert().values(**row))
        return bool(owned)


def _new_row(r: NewNotification, now: datetime) -> dict[str, Any]:
    p = r.planned
    return {
        "event_id": p.event_id, "event_type": p.event_type, "kind": p.kind,
        "account_id": p.account_id, "order_id": p.order_id, "correlation_id": p.correlation_id,
        "locale": p.locale[:10], "template_id": r.template_id,
        "status": SKIPPED if r.skip else PENDING, "reason": r.skip, "attempts": 0,
        "next_attempt_at": now, "data": p.data, "created_at": now,
    }  # fmt: skip


def _about(c: Claimed) -> dict[str, Any]:
    """The fields both notifier events share."""
    return {"notification_id": c.id, "event_id": c.event_id, "event_type": c.event_type,
            "kind": c.kind, "account_id": c.account_id, "order_id": c.order_id,
            "template_id": c.template_id, "locale": c.locale}  # fmt: skip


def _claimed(r: Any) -> Claimed:
    return Claimed(
        r.id, r.event_id, r.event_type, r.kind, r.account_id, r.order_id, r.correlation_id,
        r.locale, r.template_id, r.attempts, r.created_at, r.data, r.email,
        r.name or "", _kinds(r.notification_opt_outs),
    )  # fmt: skip


def _kinds(value: Any) -> frozenset[str]:
    return frozenset(str(k) for k in value) if isinstance(value, list) else frozenset()
