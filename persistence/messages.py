"""The inbox, outbox, dead letters and audit log: the rows that make delivery exactly-once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from persistence.sql import Sql, jsonb
from services.handling import AuditEntry, Context


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """An AMQP message to publish once the transaction commits."""

    exchange: str
    routing_key: str
    message_id: str
    body: bytes
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """The outcome a command got the first time."""

    outcome_type: str
    outcome: bytes


class Inbox:
    """Commands seen, keyed by (source, id); written in the transaction of their effect."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def record(
        self,
        source: str,
        message_id: str,
        *,
        type: str,
        subject: str | None,
        outcome_type: str,
        outcome: bytes,
        at: datetime,
        raw: bytes | None = None,
    ) -> bool:
        """Insert the command's record; False when it was recorded before (a duplicate)."""
        inserted = self.sql.one(
            "INSERT INTO inbox (source, message_id, type, subject, outcome_type, outcome, received_at, raw) "
            "VALUES (%(source)s, %(id)s, %(type)s, %(subject)s, %(outcome_type)s, %(outcome)s, %(at)s, "
            "%(raw)s) ON CONFLICT DO NOTHING RETURNING source",
            {
                "source": source,
                "id": message_id,
                "type": type,
                "subject": subject,
                "outcome_type": outcome_type,
                "outcome": outcome,
                "at": at,
                "raw": raw,
            },
        )
        return inserted is not None

    def find(self, source: str, message_id: str) -> StoredOutcome | None:
        row = self.sql.one(
            "SELECT outcome_type, outcome FROM inbox WHERE source = %(source)s AND message_id = %(id)s",
            {"source": source, "id": message_id},
        )
        return StoredOutcome(row[0], bytes(row[1])) if row else None


class Outbox:
    """Messages written with the change that caused them; the relay publishes them."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def add(self, messages: list[OutboundMessage], at: datetime) -> None:
        self.sql.insert(
            "INSERT INTO outbox (exchange, routing_key, message_id, body, properties, created_at, "
            "available_at, attempts)",
            "(%(exchange)s, %(routing_key)s, %(message_id)s, %(body)s, %(properties)s::jsonb, %(at)s, "
            "%(at)s, 0)",
            [
                {
                    "exchange": m.exchange,
                    "routing_key": m.routing_key,
                    "message_id": m.message_id,
                    "body": m.body,
                    "properties": jsonb(m.properties),
                    "at": at,
                }
                for m in messages
            ],
        )


class DeadLetters:
    """Inbound messages that were not even an envelope."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def add(
        self,
        *,
        reason: str,
        detail: str,
        exchange: str,
        routing_key: str,
        body: bytes,
        at: datetime,
    ) -> None:
        self.sql.run(
            "INSERT INTO dead_letters (reason, detail, exchange, routing_key, body, received_at) "
            "VALUES (%(reason)s, %(detail)s, %(exchange)s, %(routing_key)s, %(body)s, %(at)s)",
            {
                "reason": reason,
                "detail": _text(detail, 1000),
                "exchange": _text(exchange, 200),
                "routing_key": _text(routing_key, 255),
                "body": body,
                "at": at,
            },
        )


class AuditLog:
    """Append-only audit rows."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def add(self, entries: list[AuditEntry], ctx: Context) -> None:
        self.sql.insert(
            "INSERT INTO audit_log (entity_type, entity_id, action, actor_id, actor_role, source, reason, "
            "note, before, after, command_id, correlation_id, at)",
            "(%(entity_type)s, %(entity_id)s, %(action)s, %(actor_id)s, %(actor_role)s, %(source)s, "
            "%(reason)s, %(note)s, %(before)s::jsonb, %(after)s::jsonb, %(command_id)s, "
            "%(correlation_id)s, %(at)s)",
            [
                {
                    "entity_type": e.entity_type,
                    "entity_id": e.entity_id,
                    "action": e.action,
                    "actor_id": ctx.actor.id,
                    "actor_role": ctx.actor.role,
                    "source": ctx.source,
                    "reason": ctx.reason,
                    "note": ctx.note,
                    "before": _maybe(e.before),
                    "after": _maybe(e.after),
                    "command_id": ctx.command_id,
                    "correlation_id": ctx.correlation_id,
                    "at": ctx.now,
                }
                for e in entries
            ],
        )


def _maybe(value: dict[str, Any] | None) -> str | None:
    return None if value is None else jsonb(value)


def _text(value: str, limit: int) -> str:
    """Text as PostgreSQL can hold it: no NUL characters, within the column's length."""
    return value.replace("\x00", "\\0")[:limit]
