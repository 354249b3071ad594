"""The notifier's store, as a port: what the consumer (intake) and the senders (claim, record)
need of the notifications table, the customers' facts in billing_accounts and OrderCare's
outbox. The notifier depends on this module only; its SQL adapter is
persistence/notifications.py (the tables of persistence/tables.py, the engine policy of
persistence/engine.py), wired in by `ordercare notifier` (actors/cli.py).

Its statements carry names and addresses: an adapter keeps them out of errors and logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from contracts.notifications import FailureReason
from notifier.kinds import Customer, Planned, SkipReason
from notifier.mail import SendResult

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
UNSENT = (PENDING, SENDING)


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


class Intake(Protocol):
    """One transaction of the consumer: read the customer, insert the planned rows."""

    def customer(self, account_id: str | None) -> Customer | None: ...

    def insert(self, rows: Sequence[NewNotification], now: datetime) -> list[Recorded]:
        """Insert each row unless its (event_id, kind) exists; returns the inserted ones."""
        ...


class NotificationStore(Protocol):
    """The notifications table for the consumer (intake) and the senders (claim, record)."""

    def intake(self) -> AbstractContextManager[Intake]:
        """A transaction, committed when the block ends without an error."""
        ...

    def claim(self, limit: int, now: datetime, lease_seconds: float) -> list[Claimed]:
        """Due pending rows, and sending rows whose sender's lease ran out: marked `sending`,
        attempts + 1, leased, committed. Several senders never claim the same row."""
        ...

    def renew(self, c: Claimed, now: datetime, lease_seconds: float) -> bool:
        """Extend the lease just before sending; False when another sender has the row now
        (the batch took longer than the lease)."""
        ...

    def sent(self, c: Claimed, result: SendResult, now: datetime) -> bool:
        """Record an accepted e-mail and publish customer.notified, in one transaction."""
        ...

    def failed(self, c: Claimed, reason: FailureReason, result: SendResult, now: datetime) -> bool:
        """Record giving up and publish customer.notification_failed, in one transaction."""
        ...

    def retry(self, c: Claimed, result: SendResult, at: datetime) -> bool: ...

    def skipped(self, c: Claimed, reason: SkipReason, now: datetime) -> bool: ...

    def release(self, claimed: Sequence[Claimed], now: datetime) -> None:
        """Hand back rows claimed but not tried (a sender stopping): due now, attempt not counted."""
        ...

    def oldest_unsent_age(self, now: datetime) -> float:
        """Seconds since the oldest pending or sending notification was recorded; 0 if none."""
        ...

    def close(self) -> None:
        """Release the store's connections (the notifier is stopping)."""
        ...
