"""Does a prune slow the commands flowing meanwhile? `order.create` latency with and without
`ordercare prune` deleting millions of old inbox rows at the same time.

    ops/run sh python ops/bench/prune.py                 # 10,000,000 old inbox rows
    ops/run sh python ops/bench/prune.py --rows 1000000 --rate 100 --baseline-seconds 30

It creates its own database (`ordercare_bench_prune`, dropped afterwards unless `--keep`) and
vhost, migrates it, fills the inbox with `--rows` rows received 40 days ago (one in ten with a
kept body, so the redaction step has work too) by INSERT ... SELECT generate_series, starts
`ordercare relay` and `ordercare worker` as a user would, seeds a catalogue and an account,
then publishes `order.create` at a steady `--rate`:

1. for `--baseline-seconds` with nothing else running (the baseline);
2. while `ordercare prune` runs with the configured batch and pause (ORDERCARE_PRUNE_BATCH,
   ORDERCARE_PRUNE_PAUSE_SECONDS; `--batch`, `--pause`), until it exits.

Each command's latency is publish to outcome received; it prints p50, p99 and max of each
phase, the prune's duration and its counts. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from harness import (
    VENV_BIN,
    BenchError,
    OutcomeCollector,
    Procs,
    Publisher,
    amqp_url,
    billing_account_create,
    catalog_upsert,
    create_database,
    drop_database,
    ensure_vhost,
    execute_all,
    order_create,
    persistent,
    pg_dsn,
    run_checked,
    scalar,
    sigterm_as_interrupt,
    sqlalchemy_url,
)
from measure import percentile

DATABASE = "ordercare_bench_prune"
VHOST = "ordercare-bench-prune"
COMMANDS_EXCHANGE = "ordercare.commands"
EVENTS_EXCHANGE = "ordercare.events"
CLOUDEVENTS = "application/cloudevents+json"
#: Rows one INSERT ... SELECT generate_series writes (one transaction each).
FILL_CHUNK = 1_000_000


def fill(rows: int) -> float:
    """`rows` inbox rows received 40 days ago, one in ten with a kept body; seconds taken."""
    started = time.perf_counter()
    for start in range(0, rows, FILL_CHUNK):
        end = min(rows, start + FILL_CHUNK) - 1
        execute_all(
            DATABASE,
            [
                "INSERT INTO inbox (source, message_id, type, subject, outcome_type, outcome, "
                "received_at, raw) SELECT 'bench/old', 'old-' || g, 'order.create', "
                "'ord_old_' || g, 'command.accepted', '\\x7b7d'::bytea, "
                "now() - interval '40 days' + g * interval '1 millisecond', "
                "CASE WHEN g % 10 = 0 THEN convert_to('{\"name\": \"Ada\"}', 'UTF8') END "
                f"FROM generate_series({start}, {end}) AS g"
            ],
        )
        print(f"  inbox: {end + 1:,} old rows", flush=True)
    execute_all(DATABASE, ["VACUUM ANALYZE inbox"])
    return time.perf_counter() - started


def paced(
    publisher: Publisher,
    outcomes: OutcomeCollector,
    rate: float,
    keep_going: Any,
    check: Any,
) -> list[float]:
    """Publish order.create at `rate` per second while `keep_going()`; each latency (s)."""
    sent: list[tuple[str, float]] = []
    interval = 1.0 / rate
    next_at = time.perf_counter()
    while keep_going(len(sent)):
        doc = order_create()
        outcomes.expect([doc["id"]])
        [at] = publisher.publish(
            COMMANDS_EXCHANGE,
            doc["type"],
            [orjson.dumps(doc)],
            [persistent(doc["id"], CLOUDEVENTS)],
        )
        sent.append((doc["id"], at))
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing the publisher, not waiting for a result
    outcomes.wait(120, check)
    latencies = []
    for command_id, at in sent:
        outcome = outcomes.outcomes[command_id]
        if outcome.type != "command.accepted":
            raise BenchError(f"an order.create was rejected: {outcome.code} {outcome.message}")
        latencies.append(outcome.received - at)
    return sorted(latencies)


def seed(publisher: Publisher, outcomes: OutcomeCollector, check: Any) -> None:
    """The catalogue and the account the orders need, one after the other."""
    for doc in (catalog_upsert(), billing_account_create()):
        outcomes.expect([doc["id"]])
        publisher.publish(COMMANDS_EXCHANGE, doc["type"], [orjson.dumps(doc)],
                          [persistent(doc["id"], CLOUDEVENTS)])  # fmt: skip
        outcomes.wait(60, check)


def figures(name: str, latencies: list[float]) -> str:
    ms = [x * 1000 for x in latencies]
    return (
        f"{name:<28} {len(ms):>6} commands  p50 {percentile(ms, 0.5):7.1f} ms  "
        f"p99 {percentile(ms, 0.99):7.1f} ms  max {ms[-1]:7.1f} ms"
    )


def main() -> int:
    args = _arguments()
    baseline, during, pruned_in, counts, left = measure(args)
    print()
    print(f"old inbox rows: {args.rows:,}; prune batch {args.batch}, pause {args.pause} s; "
          f"worker {args.processes} process(es) x 8 threads; {args.rate:.0f} order.create/s")  # fmt: skip
    print(f"prune took {pruned_in:.1f} s: {counts}; old rows left: {left}")
    print(figures("order.create, no prune", baseline))
    print(figures("order.create, during prune", during))
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="old inbox rows")
    parser.add_argument("--rate", type=float, default=100.0, help="order.create per second")
    parser.add_argument("--baseline-seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=1000, help="ORDERCARE_PRUNE_BATCH")
    parser.add_argument("--pause", type=float, default=0.05, help="ORDERCARE_PRUNE_PAUSE_SECONDS")
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def measure(args: argparse.Namespace) -> tuple[list[float], list[float], float, str, int]:
    """Latencies without and during a prune, the prune's seconds, counts and rows left."""
    ordercare = str(VENV_BIN / "ordercare")
    workdir = Path(tempfile.mkdtemp(prefix="ordercare-bench-prune-"))
    url = amqp_url(VHOST)
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        ORDERCARE_DATABASE_URL=sqlalchemy_url(DATABASE),
        ORDERCARE_AMQP_URL=url,
        ORDERCARE_PRUNE_BATCH=str(args.batch),
        ORDERCARE_PRUNE_PAUSE_SECONDS=str(args.pause),
        BENCH_PG_DSN=pg_dsn(DATABASE),
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    procs = Procs()
    with sigterm_as_interrupt():
        try:
            ensure_vhost(VHOST)
            drop_database(DATABASE)
            create_database(DATABASE)
            run_checked([ordercare, "db", "upgrade"], env, "ordercare db upgrade")
            run_checked([ordercare, "broker", "setup"], env, "ordercare broker setup")
            print(f"filling the inbox with {args.rows:,} rows received 40 days ago", flush=True)
            filled = fill(args.rows)
            print(f"  filled in {filled:.0f} s", flush=True)

            procs.start([ordercare, "relay", "--metrics-port", "0"], env,
                        workdir / "relay.log", name="relay")  # fmt: skip
            procs.start(
                [ordercare, "worker", "--processes", str(args.processes), "--threads", "8",
                 "--metrics-port", "0"],
                dict(env, PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics")),
                workdir / "worker.log",
                name="worker",
            )  # fmt: skip
            outcomes = OutcomeCollector(url, EVENTS_EXCHANGE, ["command.*"])
            publisher = Publisher(url)
            try:
                seed(publisher, outcomes, procs.check)
                # Warm up, then the baseline.
                paced(publisher, outcomes, args.rate, lambda n: n < 200, procs.check)
                baseline_n = int(args.rate * args.baseline_seconds)
                print(f"baseline: {baseline_n} order.create at {args.rate:.0f}/s", flush=True)
                baseline = paced(
                    publisher, outcomes, args.rate, lambda n: n < baseline_n, procs.check
                )

                print("the same while `ordercare prune` runs", flush=True)
                started = time.perf_counter()
                prune = procs.start([ordercare, "prune", "--json"], env,
                                    workdir / "prune.log", name="prune")  # fmt: skip

                def pruning(_n: int) -> bool:
                    if prune.alive():
                        return True
                    if prune.popen.returncode != 0:
                        raise BenchError(f"ordercare prune failed:\n{prune.tail()}")
                    return False

                during = paced(publisher, outcomes, args.rate, pruning, lambda: None)
                pruned_in = time.perf_counter() - started
            finally:
                publisher.close()
                outcomes.close()
            counts = prune.log.read_text().strip().splitlines()[-1]
            left = scalar(DATABASE, "SELECT count(*) FROM inbox WHERE source = 'bench/old'")
        finally:
            procs.stop_all()
            if not args.keep:
                drop_database(DATABASE)

    return baseline, during, pruned_in, counts, int(left)


if __name__ == "__main__":
    sys.exit(main())
