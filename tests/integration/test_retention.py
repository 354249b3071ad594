"""`ordercare prune` on a migrated PostgreSQL database: what is older than its window goes,
what is newer stays, the audit log is kept unless configured, and small batches still remove
everything due."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import Engine, text

from actors.cli import main
from actors.prune import prune_once
from actors.settings import Settings
from persistence.engine import make_engine
from persistence.retention import RetentionWindows, prune

#: The rows' ages count back from now, as the CLI and the sweeper prune at the real time.
NOW = datetime.now(UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=1)
    yield engine
    engine.dispose()


def fill(engine: Engine, days_ago: list[int]) -> None:
    """One row of each pruned kind per age: inbox rows with a kept body, dead letters, finished
    and pending notifications, audit rows."""
    with engine.begin() as conn:
        for n, days in enumerate(days_ago):
            at = NOW - timedelta(days=days, minutes=1)
            params = {"n": f"m{n}-{days}", "at": at}
            conn.execute(
                text(
                    "INSERT INTO inbox (source, message_id, type, subject, outcome_type, outcome, "
                    "received_at, raw) VALUES ('test', :n, 'order.create', NULL, "
                    "'command.rejected', '\\x7b7d', :at, '\\x7b7d')"
                ),
                params,
            )
            conn.execute(
                text(
                    "INSERT INTO dead_letters (reason, detail, exchange, routing_key, body, "
                    "received_at) VALUES ('not_json', '', 'x', 'y', '\\x00', :at)"
                ),
                params,
            )
            for status in ("sent", "pending"):
                conn.execute(
                    text(
                        "INSERT INTO notifications (event_id, event_type, kind, account_id, "
                        "locale, status, attempts, next_attempt_at, data, created_at) VALUES "
                        "(:n, 'order.created', :status, 'acc', 'en', :status, 0, :at, '{}', :at)"
                    ),
                    {**params, "status": status},
                )
            conn.execute(
                text(
                    "INSERT INTO audit_log (entity_type, entity_id, action, actor_id, "
                    "actor_role, source, command_id, at) VALUES ('order', 'o', 'x', 'a', "
                    "'agent', 's', :n, :at)"
                ),
                params,
            )


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "inbox": conn.execute(text("SELECT count(*) FROM inbox")).scalar_one(),
            "raw": conn.execute(
                text("SELECT count(*) FROM inbox WHERE raw IS NOT NULL")
            ).scalar_one(),
            "dead_letters": conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one(),
            "sent": conn.execute(
                text("SELECT count(*) FROM notifications WHERE status = 'sent'")
            ).scalar_one(),
            "pending": conn.execute(
                text("SELECT count(*) FROM notifications WHERE status = 'pending'")
            ).scalar_one(),
            "audit": conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one(),
        }


AGES = [1, 6, 8, 29, 31, 89, 91, 400]


def test_rows_older_than_their_window_go_and_newer_ones_stay(engine: Engine) -> None:
    fill(engine, AGES)

    done = prune(engine, RetentionWindows(), NOW, batch=1000)

    # Kept bodies: 7 days; inbox: 30; dead letters: 30; finished notifications: 90.
    assert counts(engine) == {
        "inbox": 4,  # 1, 6, 8, 29 days old
        "raw": 2,  # 1, 6
        "dead_letters": 4,
        "sent": 6,  # all but 91 and 400
        "pending": 8,  # never pruned: the notifier still owes them
        "audit": 8,  # kept forever by default
    }
    assert done == {
        "inbox_raw_redacted": 6,
        "inbox_deleted": 4,
        "dead_letters_deleted": 4,
        "notifications_deleted": 2,
    }


def test_the_audit_log_goes_only_when_its_window_is_set(engine: Engine) -> None:
    fill(engine, AGES)

    done = prune(engine, RetentionWindows(audit_days=365), NOW)

    assert done["audit_deleted"] == 1
    assert counts(engine)["audit"] == 7


def test_small_batches_remove_everything_due_and_a_dry_run_only_counts(engine: Engine) -> None:
    fill(engine, [40] * 23 + [1] * 3)
    dry = prune(engine, RetentionWindows(), NOW, batch=5, dry_run=True)
    assert counts(engine)["inbox"] == 26
    assert dry["inbox_deleted"] == 23 and dry["inbox_raw_redacted"] == 23

    done = prune(engine, RetentionWindows(), NOW, batch=5)

    assert done == dry
    assert counts(engine)["inbox"] == 3
    assert counts(engine)["dead_letters"] == 3


def test_a_stop_between_batches_is_honoured(engine: Engine) -> None:
    fill(engine, [40] * 12)
    asked: list[int] = []

    def stopping() -> bool:
        asked.append(1)
        return len(asked) > 2  # two batches of the first step, then stop

    done = prune(engine, RetentionWindows(), NOW, batch=5, stopping=stopping)

    assert done["inbox_raw_redacted"] == 10
    assert done["inbox_deleted"] == 0
    assert counts(engine)["raw"] == 2


def test_prune_once_uses_the_settings(engine: Engine, settings: Settings) -> None:
    fill(engine, [5, 20])
    tuned = settings.model_copy(update={"retention_raw_body_days": 3, "retention_inbox_days": 10})

    done = prune_once(engine, tuned, now=NOW)

    assert done["inbox_raw_redacted"] == 2 and done["inbox_deleted"] == 1


def test_the_cli_prints_the_counts_as_json(
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ORDERCARE_DATABASE_URL", settings.database_url)
    fill(engine, [400])  # older than any window, whatever today is

    assert main(["prune", "--dry-run", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out) == {
        "dry_run": True,
        "inbox_raw_redacted": 1,
        "inbox_deleted": 1,
        "dead_letters_deleted": 1,
        "notifications_deleted": 1,
    }
    assert counts(engine)["inbox"] == 1
    assert main(["prune", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["inbox_deleted"] == 1
    assert counts(engine)["inbox"] == 0


def test_the_sweeper_prunes_on_its_schedule(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors.sweep import run_sweeper

    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # keep pytest's own handlers
    fill(engine, [400, 1])

    assert run_sweeper(settings.model_copy(update={"prune_interval_seconds": 0}), once=True,
                       interval=60) == 0  # fmt: skip
    assert counts(engine)["inbox"] == 2  # 0: the sweeper never prunes

    assert run_sweeper(settings, once=True, interval=60) == 0
    assert counts(engine)["inbox"] == 1
