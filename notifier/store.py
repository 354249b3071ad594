"""The notifier's record in PostgreSQL, with its own SQL (SQLAlchemy Core): the notifications
table (one row per event and kind, the dedupe record), the customers' facts in
billing_accounts, and OrderCare's outbox for the two events the notifier publishes.

Statements are Core, so they also run on SQLite (where FOR UPDATE SKIP LOCKED is left out).
The engine hides statement parameters from errors: they carry names and addresses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import StaticPool

from contracts.notifications import CustomerNotificationFailed, CustomerNotified, FailureReason
from notifier.events import NotifierEvent, outbox_row
from notifier.kinds import Customer, Planned, SkipReason
from notifier.mail import SendResult

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
UNSENT = (PENDING, SENDING)

_DOC = JSON().with_variant(JSONB(), "postgresql")
_ID = BigInteger().with_variant(Integer(), "sqlite")
_STAMP = DateTime(timezone=True)
_metadata = MetaData()

NOTIFICATIONS = Table(
    "notifications", _metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("event_id", String(200)), Column("event_type", String(100)), Column("kind", String(40)),
    Column("account_id", String(80)), Column("order_id", String(80)),
    Column("correlation_id", String(200)), Column("locale", String(10)),
    Column("template_id", String(100)), Column("status", String(10)), Column("reason", String(40)),
    Column("attempts", Integer), Column("next_attempt_at", _STAMP), Column("last_status", Integer),
    Column("last_error", String(500)), Column("provider_message_id", String(200)),
    Column("data", _DOC), Column("created_at", _STAMP), Column("sent_at", _STAMP),
)  # fmt: skip
ACCOUNTS = Table(
    "billing_accounts", _metadata,
    Column("id", String(80), primary_key=True), Column("name", String(120)),
    Column("email", String(254)), Column("locale", String(10)),
    Column("notification_opt_outs", _DOC),
)  # fmt: skip
OUTBOX = Table(
    "outbox", _metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("exchange", String(200)), Column("routing_key", String(255)),
    Column("message_id", String(200)), Column("body", LargeBinary), Column("properties", _DOC),
    Column("created_at", _STAMP), Column("available_at", _STAMP), Column("attempts", Integer),
)  # fmt: skip


def make_engine(url: str, pool_size: int = 4) -> Engine:
    """The notifier's engine (psycopg 3 on PostgreSQL; SQLite for an embedded run)."""
    if url.startswith("sqlite"):
        return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         pool_recycle=1800, hide_parameters=True,
                         connect_args={"connect_timeout": 5})  # fmt: skip


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A planned e-mail with its template chosen: pending, or skipped with its reason."""

    planned: Planned
    template_id: str | None
    skip: SkipReason | None


@dataclass(frozen=True, slots=True)
class Recorded:
    """A notifications row the intake inserted (not one found from an earlier delivery)."""

    id: int
    kind: str
    status: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A notification a sender owns until its lease ends, with the customer as it is now."""

    id: int
    event_id: str
    event_type: str
    kind: str
    account_id: str
    order_id: str | None
    correlation_id: str | None
    locale: str
    template_id: str | None
    attempts: int
    created_at: datetime
    data: dict[str, Any] = field(repr=False)
    email: str | None = field(repr=False)
    name: str = field(repr=False)
    opted_out: frozenset[str]


class Intake:
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
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        n = NOTIFICATIONS.c
        statement = (
            dialect.insert(NOTIFICATIONS)
            .values([_new_row(r, now) for r in rows])
            .on_conflict_do_nothing(index_elements=["event_id", "kind"])
            .returning(n.id, n.kind, n.status, n.reason)
        )
        return [Recorded(r.id, r.kind, r.status, r.reason) for r in self.conn.execute(statement)]


class NotificationStore:
    """The notifications table for the consumer (intake) and the senders (claim, record)."""

    def __init__(self, engine: Engine, events_exchange: str) -> None:
        self.engine = engine
        self.events_exchange = events_exchange

    @contextmanager
    def intake(self) -> Iterator[Intake]:
        """A transaction, committed when the block ends without an error."""
        with self.engine.begin() as conn:
            yield Intake(conn)

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
            )
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
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

    def oldest_unsent_age(self, now: datetime) -> float:
        """Seconds since the oldest pending or sending notification was recorded; 0 if none."""
        n = NOTIFICATIONS.c
        with self.engine.connect() as conn:
            oldest = conn.execute(
                select(func.min(n.created_at)).where(n.status.in_(UNSENT))
            ).scalar()
        return max((now - _aware(oldest)).total_seconds(), 0.0) if oldest else 0.0

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
        r.locale, r.template_id, r.attempts, _aware(r.created_at), r.data, r.email,
        r.name or "", _kinds(r.notification_opt_outs),
    )  # fmt: skip


def _kinds(value: Any) -> frozenset[str]:
    return frozenset(str(k) for k in value) if isinstance(value, list) else frozenset()


def _aware(at: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
