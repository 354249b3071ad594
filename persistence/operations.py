"""What operators read and clear: dead letters, the outbox's backlog per exchange, a
command's inbox record (`ordercare dead-letters|outbox|inbox`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from persistence.outbox import IN_GRACE
from persistence.sql import Sql


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A row of `dead_letters`; `body` is empty in listings."""

    id: int
    reason: str
    detail: str
    exchange: str
    routing_key: str
    size: int
    received_at: datetime
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Rows waiting for one exchange ('' is the default exchange: replies, dead-letter copies)."""

    exchange: str
    rows: int
    oldest: datetime
    #: Tried and failed, waiting for the next try.
    deferred: int
    most_attempts: int
    #: Never tried, inside their grace period: their worker is publishing them itself.
    in_grace: int = 0


@dataclass(frozen=True, slots=True)
class InboxRecord:
    source: str
    message_id: str
    type: str
    subject: str | None
    outcome_type: str
    outcome: bytes
    received_at: datetime


class Operations:
    """Statements of the operator commands, on one connection."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def dead_letters(self, *, reason: str | None, limit: int) -> list[DeadLetter]:
        """The newest first, without their bodies."""
        rows = self.sql.all(
            "SELECT id, reason, detail, exchange, routing_key, length(body), received_at "
            "FROM dead_letters WHERE %(reason)s::text IS NULL OR reason = %(reason)s::text "
            "ORDER BY id DESC LIMIT %(limit)s",
            {"reason": reason, "limit": limit},
        )
        return [DeadLetter(*row) for row in rows]

    def dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        row = self.sql.one(
            "SELECT id, reason, detail, exchange, routing_key, length(body), received_at, body "
            "FROM dead_letters WHERE id = %(id)s",
            {"id": dead_letter_id},
        )
        if row is None:
            return None
        i, reason, detail, exchange, routing_key, size, at, body = row
        return DeadLetter(i, reason, detail, exchange, routing_key, size, at, bytes(body))

    def dead_letter_ids(self, reason: str) -> list[int]:
        rows = self.sql.all(
            "SELECT id FROM dead_letters WHERE reason = %(reason)s ORDER BY id", {"reason": reason}
        )
        return [int(r[0]) for r in rows]

    def remove_dead_letter(self, dead_letter_id: int) -> None:
        self.sql.run("DELETE FROM dead_letters WHERE id = %(id)s", {"id": dead_letter_id})

    def purge_dead_letters(self, before: datetime) -> int:
        """Delete those received before `before`; how many."""
        row = self.sql.one(
            "WITH d AS (DELETE FROM dead_letters WHERE received_at < %(before)s RETURNING 1) "
            "SELECT count(*) FROM d",
            {"before": before},
        )
        return int(row[0]) if row else 0

    def outbox_backlog(self, now: datetime) -> list[OutboxBacklog]:
        rows = self.sql.all(
            "SELECT exchange, count(*), min(created_at), "
            "count(*) FILTER (WHERE available_at > %(now)s AND attempts > 0), max(attempts), "
            f"count(*) FILTER (WHERE {IN_GRACE}) "
            "FROM outbox GROUP BY exchange ORDER BY exchange",
            {"now": now},
        )
        return [
            OutboxBacklog(e, int(n), oldest, int(d), int(a), int(g))
            for e, n, oldest, d, a, g in rows
        ]

    def inbox(self, message_id: str, source: str | None) -> list[InboxRecord]:
        rows = self.sql.all(
            "SELECT source, message_id, type, subject, outcome_type, outcome, received_at "
            "FROM inbox WHERE message_id = %(id)s "
            "AND (%(source)s::text IS NULL OR source = %(source)s::text) ORDER BY received_at",
            {"id": message_id, "source": source},
        )
        return [InboxRecord(s, m, t, sub, ot, bytes(o), at) for s, m, t, sub, ot, o, at in rows]

    def markets(self) -> dict[str, bool]:
        """Currency -> whether its prices include tax, for the currencies set explicitly."""
        rows = self.sql.all("SELECT currency, prices_include_tax FROM markets ORDER BY currency")
        return {str(currency): bool(included) for currency, included in rows}

    def set_market(self, currency: str, prices_include_tax: bool, now: datetime) -> None:
        self.sql.run(
            "INSERT INTO markets (currency, prices_include_tax, updated_at) "
            "VALUES (%(currency)s, %(included)s, %(now)s) ON CONFLICT (currency) DO UPDATE "
            "SET prices_include_tax = EXCLUDED.prices_include_tax, updated_at = EXCLUDED.updated_at",
            {"currency": currency, "included": prices_include_tax, "now": now},
        )
