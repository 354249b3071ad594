"""Queries on a real streaming replica (issue 15): ops/cluster/cluster.py's PostgreSQL primary
and its `pg_basebackup -R` standby, on ports of their own. The standby's replay is paused
(`pg_wal_replay_pause()`) to hold it behind the primary for as long as the test needs:
`order.get` answers from it as far as it has replayed, and never staler than the
`min_version` a caller states; once replay resumes, the standby answers that version itself.

    .venv/bin/pytest -q tests/e2e/test_streaming_replica.py    # about 15 s
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from actors.doctor import diagnose
from actors.settings import Settings
from persistence.database import create_database, upgrade
from tests.cluster_helpers import cluster
from tests.integration.test_processor_in_process import AGENT, Care, create_order_data, outcome
from tests.integration.test_read_replica import Helpdesk
from tests.servers import wait_for

pytestmark = pytest.mark.e2e

#: The primary's port (the standby is on the next one); its own, apart from the other tests'.
PG_PORT = "5471"


@pytest.fixture
def standby(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A primary and its streaming standby (no RabbitMQ: the test runs OrderCare in process)."""
    if not (cluster.Layout().pg_bin / "pg_basebackup").exists():
        pytest.skip("PostgreSQL's server binaries are absent")
    root = Path(tempfile.mkdtemp(prefix="ocr-"))  # short: the socket path is bounded
    monkeypatch.setenv("ORDERCARE_CLUSTER_DIR", str(root))
    monkeypatch.setenv("ORDERCARE_CLUSTER_PG_PORT", PG_PORT)
    layout = cluster.Layout()
    root.chmod(0o755)  # the postgres user must reach its folder inside
    try:
        cluster.start_postgres(layout)
        yield layout
    finally:
        cluster.down(layout, quiet=True)
        shutil.rmtree(root, ignore_errors=True)


def on_standby(layout: Any, sql: str) -> list[tuple[Any, ...]]:
    dsn = f"postgresql://postgres@127.0.0.1:{layout.pg_port + 1}/ordercare"
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def reads(database: str, why: str) -> float:
    labels = {"database": database, "why": why}
    return REGISTRY.get_sample_value("ordercare_query_reads_total", labels) or 0.0


def test_a_paused_standby_answers_as_far_as_it_has_replayed_never_below_min_version(
    standby: Any,
) -> None:
    base = "postgresql+psycopg://postgres@127.0.0.1"
    primary = f"{base}:{standby.pg_port}/ordercare"
    replica = f"{base}:{standby.pg_port + 1}/ordercare"
    create_database(primary)
    upgrade(primary)
    settings = Settings(database_url=primary, read_database_url=replica, direct_publish=False)
    care = Care(primary, settings).seed()
    assert outcome(care.command("order.create", create_order_data()))["version"] == 1

    def replayed_version() -> int | None:
        rows = on_standby(standby, "SELECT version FROM orders WHERE id = 'ord_ada_1'")
        return int(rows[0][0]) if rows else None

    wait_for(lambda: replayed_version() == 1, 30, "the standby to replay the order")
    on_standby(standby, "SELECT pg_wal_replay_pause()")
    cancel = {"actor": AGENT, "order_id": "ord_ada_1", "reason": "customer_request"}
    assert outcome(care.command("order.cancel", cancel, message_id="cmd-cancel"))["version"] == 2
    care.app.close()
    # The standby has received the cancellation's WAL, and has not applied it.
    with psycopg.connect(primary.replace("+psycopg", ""), autocommit=True) as conn:
        written = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert written is not None
    received = f"SELECT pg_last_wal_receive_lsn() >= '{written[0]}'::pg_lsn"
    wait_for(lambda: on_standby(standby, received)[0][0], 30, "the standby to receive the WAL")
    assert replayed_version() == 1

    helpdesk = Helpdesk(settings)
    try:
        behind = reads("primary", "replica_behind")
        stale = helpdesk.ask("order.get", order_id="ord_ada_1")
        assert (stale["result"]["version"], stale["result"]["status"]) == (1, "open")
        fresh = helpdesk.ask("order.get", order_id="ord_ada_1", min_version=2)
        assert (fresh["result"]["version"], fresh["result"]["status"]) == (2, "cancelled")
        assert reads("primary", "replica_behind") - behind == 1

        on_standby(standby, "SELECT pg_wal_replay_resume()")
        wait_for(lambda: replayed_version() == 2, 30, "the standby to replay the cancellation")
        current = reads("replica", "replica_current")
        caught_up = helpdesk.ask("order.get", order_id="ord_ada_1", min_version=2)
        assert caught_up["result"]["status"] == "cancelled"
        assert reads("replica", "replica_current") - current == 1
    finally:
        helpdesk.close()

    report = [line for status, line in diagnose(settings) if "read replica" in line]
    assert report and report[0].startswith("read replica reachable:"), report
    assert "a standby" in report[0]
