"""The inbox, outbox, dead letters and audit log: the rows that make delivery exactly-once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select

from persistence.sql import insert_new
from persistence.tables import AuditRow, DeadLetterRow, InboxRow, OutboxRow
from services.handling import AuditEntry, Context

_inbox = cast(Table, InboxRow.__table__)
_outbox = cast(Table, OutboxRow.__table__)
_dead = cast(Table, DeadLetterRow.__table__)
_audit = cast(Table, AuditRow.__table__)


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

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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
        return insert_new(
            self.conn,
            _inbox,
            {
                "source": source,
                "message_id": message_id,
                "type": type,
                "subject": subject,
                "outcome_type": outcome_type,
                "outcome": outcome,
                "received_at": at,
                "raw": raw,
            },
        )

    def find(self, source: str, message_id: str) -> StoredOutcome | None:
        stmt = select(_inbox.c.outcome_type, _inbox.c.outcome).where(
            _inbox.c.source == source, _inbox.c.message_id == message_id
        )
        row = self.conn.execute(stmt).first()
        return StoredOutcome(row.outcome_type, row.outcome) if row else None


class Outbox:
    """Messages written with the change that caused them; the relay publishes them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, messages: list[OutboundMessage], at: datetime) -> None:
        if not messages:
            return
        self.conn.execute(
            _outbox.insert(),
            [
                {
                    "exchange": m.exchange,
                    "routing_key": m.routing_key,
                    "message_id": m.message_id,
                    "body": m.body,
                    "properties": m.properties,
                    "created_at": at,
                    "available_at": at,
                    "attempts": 0,
                }
                for m in messages
            ],
        )


class DeadLetters:
    """Inbound messages that were not even an envelope."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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
        self.conn.execute(
            _dead.insert(),
            {
                "reason": reason,
                "detail": detail[:1000],
                "exchange": exchange,
                "routing_key": routing_key[:255],
                "body": body,
                "received_at": at,
            },
        )


class AuditLog:
    """Append-only audit rows."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, entries: list[AuditEntry], ctx: Context) -> None:
        if not entries:
            return
        self.conn.execute(
            _audit.insert(),
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
                    "before": e.before,
                    "after": e.after,
                    "command_id": ctx.command_id,
                    "correlation_id": ctx.correlation_id,
                    "at": ctx.now,
                }
                for e in entries
            ],
        )
