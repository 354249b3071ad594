"""WAL written per command (ops/README.md, "Capacity model"): the worker's InboundProcessor
on the real PostgreSQL, in process, `pg_current_wal_lsn()` read around each series.

    ops/run sh python ops/bench/wal.py [--n 1000]

Nothing else should write to the server meanwhile (the LSN is the whole server's). The
outbox rows stay (no relay), so their deletion is measured on its own at the end.
Full-page writes are counted at the server's setting (on by default: a page's first change
after a checkpoint logs the whole page).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import psycopg
from amendments import Workload, timed_amendments
from harness import (
    billing_account_create,
    catalog_upsert,
    drop_database,
    order_create,
    pg_dsn,
    reference_data,
)
from profile_worker import InProcessWorker, multiprocess_metrics

DATABASE = "ordercare_bench_wal"
VHOST = "ordercare-bench"


def lsn() -> Any:
    with psycopg.connect(pg_dsn("postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    return row[0]


def kb_between(before: Any, after: Any, count: int) -> float:
    with psycopg.connect(pg_dsn("postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT pg_wal_lsn_diff(%s, %s)", (after, before)).fetchone()
    assert row is not None
    return float(row[0]) / count / 1024


def measure(worker: InProcessWorker, label: str, docs: list[dict[str, Any]]) -> None:
    batch = worker.messages(docs)
    before = lsn()
    worker.process_all(batch)
    print(f"  {label:<34}{kb_between(before, lsn(), len(batch)):>8.1f} kB a command")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="order.create commands (default 1000)")
    parser.add_argument("--amendments", type=int, default=200, help="amendments of each size")
    args = parser.parse_args(argv)
    with multiprocess_metrics():
        worker = InProcessWorker(DATABASE, VHOST)
        try:
            worker.process_all(worker.messages([catalog_upsert(), billing_account_create()]))
            worker.process_all(worker.messages([order_create() for _ in range(50)]))
            print("WAL written per command (pg_current_wal_lsn before and after each series):")
            measure(worker, "order.create (2 lines)", [order_create() for _ in range(args.n)])
            workload = Workload(*reference_data(DATABASE))
            seed = [workload.catalog_upsert(), *workload.accounts()]
            seed += [workload.create(order) for order in workload.timed_orders()]
            worker.process_all(worker.messages(seed))
            for label in ("10 lines, 1 change", "200 lines, 1 change"):
                measure(worker, f"order.amend, {label}", timed_amendments(label, args.amendments))
            with psycopg.connect(pg_dsn(DATABASE), autocommit=True) as conn:
                before = lsn()
                deleted = conn.execute("DELETE FROM outbox").rowcount
            print(f"  {'deleting an outbox row':<34}{kb_between(before, lsn(), deleted):>8.2f} kB")
        finally:
            worker.close()
            drop_database(DATABASE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
