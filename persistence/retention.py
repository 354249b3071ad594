"""Retention: what `ordercare prune` (and the sweeper, on a schedule) removes, in small batches.

Each step is one statement that touches at most `batch` rows chosen by an indexed age
predicate (migration 0008), in its own short transaction, with a pause between batches: a
prune holds a few hundred row locks for milliseconds at a time, never a table lock, so the
commands flowing meanwhile are not slowed (ops/bench/prune.py measures it). Rows are
chosen by `ctid` or key from a `LIMIT`ed sub-select, so a batch costs the same on a table
of ten million rows as on one of ten thousand.

What goes, and when (README, "Retention and erasure"):
- a rejected command's kept body (`inbox.raw`) is set to NULL after `raw_body_days` (the
  inbox row keeps its type, subject and outcome, which name no personal data);
- inbox rows (the idempotency record) are deleted after `inbox_days`: a command id re-sent
  later than that is a new command;
- dead letters after `dead_letter_days`;
- notifications that are finished (sent, failed, skipped) after `notification_days`;
- the audit log only when `audit_days` is set (by default it is kept forever).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from persistence.sql import Sql


@dataclass(frozen=True, slots=True)
class RetentionWindows:
    """Days each kind of record is kept; None keeps it forever."""

    inbox_days: int = 30
    raw_body_days: int = 7
    dead_letter_days: int = 30
    notification_days: int = 90
    audit_days: int | None = None


@dataclass(frozen=True, slots=True)
class _Step:
    """One kind of pruning: how to count what is due, and how to remove one batch of it."""

    name: str
    count: str
    batch: str


#: In the order they run: redaction before deletion, so a prune cut short by a stop still
#: redacted first.
STEPS: tuple[_Step, ...] = (
    _Step(
        "inbox_raw_redacted",
        "SELECT count(*) FROM inbox WHERE raw IS NOT NULL AND received_at < %(cutoff)s",
        "UPDATE inbox SET raw = NULL WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox "
        "WHERE raw IS NOT NULL AND received_at < %(cutoff)s LIMIT %(batch)s))",
    ),
    _Step(
        "inbox_deleted",
        "SELECT count(*) FROM inbox WHERE received_at < %(cutoff)s",
        "DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox "
        "WHERE received_at < %(cutoff)s LIMIT %(batch)s))",
    ),
    _Step(
        "dead_letters_deleted",
        "SELECT count(*) FROM dead_letters WHERE received_at < %(cutoff)s",
        "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters "
        "WHERE received_at < %(cutoff)s LIMIT %(batch)s)",
    ),
    _Step(
        "notifications_deleted",
        "SELECT count(*) FROM notifications WHERE created_at < %(cutoff)s "
        "AND status IN ('sent', 'failed', 'skipped')",
        "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications "
        "WHERE created_at < %(cutoff)s AND status IN ('sent', 'failed', 'skipped') "
        "LIMIT %(batch)s)",
    ),
    _Step(
        "audit_deleted",
        "SELECT count(*) FROM audit_log WHERE at < %(cutoff)s",
        "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log "
        "WHERE at < %(cutoff)s LIMIT %(batch)s)",
    ),
)


def _days(windows: RetentionWindows) -> dict[str, int | None]:
    return {
        "inbox_raw_redacted": windows.raw_body_days,
        "inbox_deleted": windows.inbox_days,
        "dead_letters_deleted": windows.dead_letter_days,
        "notifications_deleted": windows.notification_days,
        "audit_deleted": windows.audit_days,
    }


def prune(
    engine: Engine,
    windows: RetentionWindows,
    now: datetime,
    *,
    batch: int = 1000,
    pause: float = 0.0,
    dry_run: bool = False,
    stopping: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Remove (or with `dry_run` count) what is older than its window at `now`; rows touched
    per step. Each batch commits on its own; `stopping` is asked between batches."""
    done: dict[str, int] = {}
    days = _days(windows)
    for step in STEPS:
        kept_for = days[step.name]
        if kept_for is None:
            continue
        params: dict[str, object] = {"cutoff": now - timedelta(days=kept_for), "batch": batch}
        if dry_run:
            with engine.connect() as conn:
                row = Sql(conn).one(step.count, params)
                conn.rollback()
            done[step.name] = int(row[0]) if row else 0
            continue
        done[step.name] = 0
        while not stopping():
            with engine.begin() as conn:
                row = Sql(conn).one(
                    f"WITH b AS ({step.batch} RETURNING 1) SELECT count(*) FROM b", params
                )
            touched = int(row[0]) if row else 0
            done[step.name] += touched
            if touched < batch:
                break
            if pause:
                time.sleep(pause)
    return done
