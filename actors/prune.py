"""`ordercare prune`: remove what is past its retention window, once (the sweeper runs the
same on a schedule). The windows are settings (README, "Retention and erasure")."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from sqlalchemy import Engine

from actors.settings import Settings
from persistence.retention import RetentionWindows, prune

log = logging.getLogger("ordercare.prune")


def windows(settings: Settings) -> RetentionWindows:
    return RetentionWindows(
        inbox_days=settings.retention_inbox_days,
        raw_body_days=settings.retention_raw_body_days,
        dead_letter_days=settings.retention_dead_letter_days,
        notification_days=settings.retention_notification_days,
        audit_days=settings.retention_audit_days,
    )


def prune_once(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    stopping: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """One prune with the configured windows and batches; rows touched per step (logged)."""
    done = prune(
        engine,
        windows(settings),
        now or datetime.now(UTC),
        batch=settings.prune_batch,
        pause=settings.prune_pause_seconds,
        dry_run=dry_run,
        stopping=stopping,
    )
    log.info("pruned" if not dry_run else "would prune", extra=done)
    return done


def run_prune(settings: Settings, *, dry_run: bool, as_json: bool) -> int:
    from persistence.engine import make_engine

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        done = prune_once(engine, settings, dry_run=dry_run)
    finally:
        engine.dispose()
    if as_json:
        print(orjson.dumps({"dry_run": dry_run, **done}).decode())
    else:
        verb = "would touch" if dry_run else "touched"
        for step, count in done.items():
            print(f"{step}: {count} row(s) {verb}")
    return 0
