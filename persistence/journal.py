"""A command's record: the inbox row, with the outbox messages and audit rows of its effect,
written in one statement; and the dead letters. Together they make delivery exactly-once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from persistence.outbox import OutboundMessage, outbox_row
from persistence.sql import Sql, jsonb
from services.context import AuditEntry, Context


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


def _audit_row(e: AuditEntry, ctx: Context) -> dict[str, Any]:
    return {
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


class Journal:
    """A command's record: its inbox row and, only when the command is new, its outbox
    messages and audit rows, in one statement; a command seen before writes nothing and
    reports False."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def record(
        self,
        entry: InboxEntry,
        messages: list[OutboundMessage],
        audit: list[AuditEntry],
        ctx: Context | None = None,
        *,
        available_at: datetime | None = None,
    ) -> list[int] | None:
        """The outbox ids of `messages`, in their order; None when the command was recorded
        before (nothing written). `available_at` (default: the entry's time) is when the
        relay may take the rows: later when the worker publishes them itself first."""
        rows = [outbox_row(m, entry.at) for m in messages]
        audits = [_audit_row(e, ctx) for e in audit] if ctx is not None else []
        params: dict[str, Any] = {f"i_{k}": v for k, v in entry.fields().items()}
        params.update({f"o_{k}_{n}": v for n, row in enumerate(rows) for k, v in row.items()})
        params.update({f"a_{k}_{n}": v for n, row in enumerate(audits) for k, v in row.items()})
        params["o_available_at"] = available_at or entry.at
        inserted = self.sql.one(_journal(len(rows), len(audits)), params)
        if not (inserted and inserted[0]):
            return None
        ids = [int(i) for i in inserted[1] or ()]
        if len(ids) != len(messages):  # pragma: no cover - one statement wrote them all
            raise RuntimeError(f"{len(messages)} outbox rows written, {len(ids)} ids returned")
        return ids


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """The inbox row of a command: its key and the outcome it got."""

    source: str
    message_id: str
    type: str
    subject: str | None
    outcome_type: str
    outcome: bytes
    at: datetime
    raw: bytes | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "message_id": self.message_id,
            "type": self.type,
            "subject": self.subject,
            "outcome_type": self.outcome_type,
            "outcome": self.outcome,
            "at": self.at,
            "raw": self.raw,
        }


@cache
def _journal(messages: int, audit: int) -> str:
    """WITH i AS (INSERT INTO inbox … RETURNING), o AS (INSERT INTO outbox … WHERE EXISTS i
    RETURNING id), a AS (INSERT INTO audit_log … WHERE EXISTS i) SELECT count(*) FROM i, the
    outbox ids."""
    parts = [
        "WITH i AS (INSERT INTO inbox (source, message_id, type, subject, outcome_type, outcome, "
        "received_at, raw) VALUES (%(i_source)s, %(i_message_id)s, %(i_type)s, %(i_subject)s, "
        "%(i_outcome_type)s, %(i_outcome)s, %(i_at)s, %(i_raw)s) ON CONFLICT DO NOTHING RETURNING 1)"
    ]
    if messages:
        rows = ", ".join(
            f"(%(o_exchange_{n})s::text, %(o_routing_key_{n})s::text, %(o_message_id_{n})s::text, "
            f"%(o_body_{n})s::bytea, %(o_properties_{n})s::jsonb, %(o_at_{n})s::timestamptz)"
            for n in range(messages)
        )
        parts.append(
            ", o AS (INSERT INTO outbox (exchange, routing_key, message_id, body, properties, "
            "created_at, available_at, attempts) SELECT v.e, v.k, v.m, v.b, v.p, v.t, "
            "%(o_available_at)s::timestamptz, 0 "
            f"FROM (VALUES {rows}) AS v(e, k, m, b, p, t) WHERE EXISTS (SELECT FROM i) "
            "RETURNING id)"
        )
    if audit:
        rows = ", ".join(
            f"(%(a_entity_type_{n})s::text, %(a_entity_id_{n})s::text, %(a_action_{n})s::text, "
            f"%(a_actor_id_{n})s::text, %(a_actor_role_{n})s::text, %(a_source_{n})s::text, "
            f"%(a_reason_{n})s::text, %(a_note_{n})s::text, %(a_before_{n})s::jsonb, %(a_after_{n})s::jsonb, "
            f"%(a_command_id_{n})s::text, %(a_correlation_id_{n})s::text, %(a_at_{n})s::timestamptz)"
            for n in range(audit)
        )
        parts.append(
            ", a AS (INSERT INTO audit_log (entity_type, entity_id, action, actor_id, actor_role, "
            "source, reason, note, before, after, command_id, correlation_id, at) SELECT * "
            f"FROM (VALUES {rows}) AS v WHERE EXISTS (SELECT FROM i))"
        )
    # Ids are drawn as the VALUES rows are inserted, in their order: sorted, they match
    # `messages` one to one.
    ids = "(SELECT array_agg(id ORDER BY id) FROM o)" if messages else "NULL::bigint[]"
    return "".join(parts) + f" SELECT (SELECT count(*) FROM i), {ids}"


def _maybe(value: dict[str, Any] | None) -> str | None:
    return None if value is None else jsonb(value)


def _text(value: str, limit: int) -> str:
    """Text as PostgreSQL can hold it: no NUL characters, within the column's length."""
    return value.replace("\x00", "\\0")[:limit]
