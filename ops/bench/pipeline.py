"""OrderCare's command pipeline, end to end, against the bare shape it is built on.

    .venv/bin/python ops/bench/pipeline.py [--n 10000] [--runs 3] [--profile]
    ops/run bench [args]

For 1 and 2 worker processes x 8 threads, each run measures, on this machine:

* bare no-op: a Dramatiq actor that does nothing (RabbitmqBroker, OrderCare's middleware);
* bare psycopg: a Dramatiq actor doing one raw psycopg 3 transaction of the command's row
  shape (SELECT ... FOR UPDATE one of 1000 rows, UPDATE it, two INSERTs, COMMIT);
* OrderCare: `ordercare worker` + `ordercare relay` as a user starts them; N `order.create`
  commands published to `ordercare.commands`, timed from the first publish to the last
  `command.accepted` outcome consumed from `ordercare.events` (per-command latency: publish
  -> outcome received, correlated by `data.command_id`).

Every run starts fresh processes on a freshly created database and empty queues, warms
them up with WARMUP messages, then times N messages published as fast as pika can (an
open-loop burst: latency percentiles include the queueing of the burst).

`--profile` instead runs OrderCare's InboundProcessor in this process under cProfile on the
real PostgreSQL engine (see profile_worker.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from harness import (
    BENCH_DIR,
    VENV_BIN,
    BenchError,
    DoneCollector,
    OutcomeCollector,
    Procs,
    Publisher,
    amqp_url,
    billing_account_create,
    catalog_upsert,
    checkpoint,
    create_database,
    declare_dramatiq_queue,
    delete_queues,
    drop_database,
    ensure_vhost,
    execute_all,
    order_create,
    percentile,
    persistent,
    pg_dsn,
    pg_settings,
    run_checked,
    scalar,
    sigterm_as_interrupt,
    sqlalchemy_url,
)

DATABASE = "ordercare_bench"
VHOST = "ordercare-bench"
THREADS = 8
WARMUP = 200
COMMANDS_EXCHANGE = "ordercare.commands"
EVENTS_EXCHANGE = "ordercare.events"
CLOUDEVENTS = "application/cloudevents+json"
ORDERCARE_QUEUES = (
    "ordercare.commands",
    "ordercare.commands.DQ",
    "ordercare.commands.XQ",
    "ordercare.dead-letters",
    "ordercare.events.unrouted",
)
KINDS = ("noop", "pg", "ordercare")
KIND_TITLES = {"noop": "bare no-op", "pg": "bare psycopg", "ordercare": "OrderCare"}


@dataclass(slots=True)
class Result:
    kind: str
    procs: int
    run: int
    n: int
    seconds: float
    p50_ms: float
    p99_ms: float
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.n / self.seconds


def _latency(published: Sequence[float], received: Sequence[float]) -> tuple[float, float]:
    lat = sorted(r - p for p, r in zip(published, received, strict=True))
    return percentile(lat, 0.50) * 1000, percentile(lat, 0.99) * 1000


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bench:
    def __init__(
        self, n: int, runs: int, procs_list: Sequence[int], kinds: Sequence[str] = KINDS
    ) -> None:
        self.kinds = kinds
        self.n = n
        self.runs = runs
        self.procs_list = procs_list
        self.workdir = Path(tempfile.mkdtemp(prefix="ordercare-bench-"))
        self.procs = Procs()
        self.url = amqp_url(VHOST)
        self.env = dict(os.environ)
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.env.update(
            ORDERCARE_DATABASE_URL=sqlalchemy_url(DATABASE),
            ORDERCARE_AMQP_URL=self.url,
            BENCH_AMQP_URL=self.url,
            BENCH_PG_DSN=pg_dsn(DATABASE),
            PATH=f"{VENV_BIN}{os.pathsep}{self.env.get('PATH', '')}",
        )
        self.results: list[Result] = []
        # The bench process publishes and consumes at once: hand the GIL over often so the
        # consumer threads timestamp arrivals promptly while the publisher is busy.
        sys.setswitchinterval(0.0005)

    # --- orchestration ---------------------------------------------------------------------

    def run(self) -> None:
        ensure_vhost(VHOST)
        os.environ["BENCH_AMQP_URL"] = self.url
        for run in range(1, self.runs + 1):
            for procs in self.procs_list:
                for kind in self.kinds:
                    _log(
                        f"-- run {run}/{self.runs}: {KIND_TITLES[kind]}, {procs} proc(s) x {THREADS}"
                    )
                    started = time.perf_counter()
                    result = self._measure(kind, procs, run)
                    self.results.append(result)
                    _log(
                        f"   {result.rate:8.0f} msg/s  p50 {result.p50_ms:7.1f} ms  "
                        f"p99 {result.p99_ms:7.1f} ms  ({time.perf_counter() - started:.0f}s "
                        f"with setup) {'; '.join(result.notes)}"
                    )

    def _measure(self, kind: str, procs: int, run: int) -> Result:
        """One measurement; a failure (e.g. a process that died) is retried once."""
        for attempt in (1, 2):
            try:
                if kind == "ordercare":
                    return self.ordercare(procs, run)
                return self.bare(kind, procs, run)
            except BenchError as exc:
                if attempt == 2:
                    raise
                _log(f"   attempt failed, retrying once: {exc}")
            finally:
                self.procs.stop_all()
        raise AssertionError("unreachable")

    def _reset_broker(self) -> None:
        from bare_actors import NOOP_QUEUE, PG_QUEUE

        bare = [q + s for q in (NOOP_QUEUE, PG_QUEUE) for s in ("", ".DQ", ".XQ")]
        delete_queues(self.url, [*ORDERCARE_QUEUES, *bare])

    def _wait(
        self, what: str, until: Callable[[float, Callable[[], None]], None], timeout: float
    ) -> None:
        try:
            until(timeout, self.procs.check)
        except BenchError as exc:
            raise BenchError(f"{what}: {exc}") from None

    # --- the bare shape --------------------------------------------------------------------

    def bare(self, kind: str, procs: int, run: int) -> Result:
        import bare_actors

        self._reset_broker()
        drop_database(DATABASE)
        create_database(DATABASE)
        if kind == "pg":
            execute_all(DATABASE, bare_actors.SCHEMA)
        actor = bare_actors.noop if kind == "noop" else bare_actors.pg_transaction
        queue = actor.queue_name
        declare_dramatiq_queue(self.url, queue)

        total = WARMUP + self.n
        payload = orjson.dumps(order_create()).decode()
        bodies = [actor.message(i, f"m{run}-{i}", payload).encode() for i in range(total)]
        props = [persistent()] * total
        sock = self.workdir / f"done-{kind}-{procs}-{run}.sock"
        done = DoneCollector(sock, total)
        publisher = Publisher(self.url)
        env = dict(self.env, BENCH_DONE_SOCKET=str(sock))
        try:
            self.procs.start(
                "dramatiq",
                [
                    str(VENV_BIN / "dramatiq"),
                    "bare_actors",
                    "--path",
                    str(BENCH_DIR),
                    "--processes",
                    str(procs),
                    "--threads",
                    str(THREADS),
                    "--queues",
                    queue,
                ],
                env,
                self.workdir / f"bare-{kind}-{procs}-{run}.log",
            )
            publisher.publish("", queue, bodies[:WARMUP], props[:WARMUP])
            self._wait("bare warm-up", lambda t, c: done.wait_count(WARMUP, t, c), 120)
            if kind == "pg":
                checkpoint(DATABASE)
            published = publisher.publish("", queue, bodies[WARMUP:], props[WARMUP:])
            self._wait("bare run", lambda t, c: done.wait_count(total, t, c), max(120, self.n / 20))
            received = done.received[WARMUP:]
        finally:
            publisher.close()
            self.procs.stop_all()
            done.close()
        p50, p99 = _latency(published, received)
        result = Result(kind, procs, run, self.n, max(received) - published[0], p50, p99)
        if kind == "pg":
            rows = scalar(DATABASE, "SELECT count(*) FROM bench_inbox")
            if rows != total:
                raise BenchError(f"bench_inbox has {rows} rows, expected {total}")
            result.notes.append(f"{rows} inbox rows checked")
        return result

    # --- OrderCare -------------------------------------------------------------------------

    def ordercare(self, procs: int, run: int) -> Result:
        ordercare = str(VENV_BIN / "ordercare")
        self._reset_broker()
        drop_database(DATABASE)
        run_checked([ordercare, "db", "upgrade"], self.env, "ordercare db upgrade")
        run_checked([ordercare, "broker", "setup"], self.env, "ordercare broker setup")
        outcomes = OutcomeCollector(
            self.url, EVENTS_EXCHANGE, ["command.accepted", "command.rejected"]
        )
        publisher = Publisher(self.url)
        try:
            tag = f"{procs}-{run}"
            self.procs.start(
                "relay",
                [ordercare, "relay", "--metrics-port", "0"],
                self.env,
                self.workdir / f"relay-{tag}.log",
            )
            self.procs.start(
                "worker",
                [
                    ordercare,
                    "worker",
                    "--processes",
                    str(procs),
                    "--threads",
                    str(THREADS),
                    "--metrics-port",
                    "0",
                ],
                # `ordercare worker` wipes and refills this folder (multiprocess metrics).
                dict(self.env, PROMETHEUS_MULTIPROC_DIR=str(self.workdir / "metrics")),
                self.workdir / f"worker-{tag}.log",
            )
            # Seed the catalogue and the billing account, then warm up with orders.
            self._send(publisher, outcomes, [catalog_upsert(), billing_account_create()], "seed")
            self._send(publisher, outcomes, [order_create() for _ in range(WARMUP)], "warm-up")
            checkpoint(DATABASE)

            docs = [order_create() for _ in range(self.n)]
            ids = [d["id"] for d in docs]
            bodies = [orjson.dumps(d) for d in docs]
            props = [persistent(i, CLOUDEVENTS) for i in ids]
            outcomes.expect(ids)
            published = publisher.publish(COMMANDS_EXCHANGE, "order.create", bodies, props)
            self._wait("OrderCare run", outcomes.wait, max(180, self.n / 10))
        finally:
            publisher.close()
            self.procs.stop_all()
            outcomes.close()
        got = [outcomes.outcomes[i] for i in ids]
        received = [o.received for o in got]
        p50, p99 = _latency(published, received)
        result = Result("ordercare", procs, run, self.n, max(received) - published[0], p50, p99)
        rejected = Counter(o.code for o in got if o.type != "command.accepted")
        if rejected:
            result.notes.append(f"REJECTED: {dict(rejected)}")
        else:
            result.notes.append(f"all {self.n} command.accepted")
        backlog = scalar(DATABASE, "SELECT count(*) FROM outbox")
        if backlog:
            result.notes.append(f"{backlog} outbox rows left")
        return result

    def _send(
        self,
        publisher: Publisher,
        outcomes: OutcomeCollector,
        docs: list[dict[str, Any]],
        what: str,
    ) -> None:
        """Publish commands one type at a time and wait for all their outcomes: all accepted."""
        ids = [d["id"] for d in docs]
        outcomes.expect(ids)
        for doc in docs:
            publisher.publish(
                COMMANDS_EXCHANGE,
                doc["type"],
                [orjson.dumps(doc)],
                [persistent(doc["id"], CLOUDEVENTS)],
            )
        self._wait(what, outcomes.wait, 120)
        bad = Counter(
            (outcomes.outcomes[i].type, outcomes.outcomes[i].code)
            for i in ids
            if outcomes.outcomes[i].type != "command.accepted"
        )
        if bad:
            raise BenchError(f"{what}: commands rejected: {dict(bad)}")

    # --- report ----------------------------------------------------------------------------

    def report(self) -> None:
        def runs_of(kind: str, procs: int) -> list[Result]:
            return [r for r in self.results if r.kind == kind and r.procs == procs]

        def med(values: Sequence[float]) -> float:
            return statistics.median(values) if values else float("nan")

        print()
        print(
            f"OrderCare pipeline benchmark: N={self.n} messages per run, {self.runs} run(s), "
            f"median of runs; {os.cpu_count()} CPUs; warm-up {WARMUP} messages per run"
        )
        header = (
            f"{'config':<14}{'bare no-op':>13}{'bare psycopg':>15}{'OrderCare':>12}"
            f"{'OC p50':>10}{'OC p99':>10}{'OC / psycopg':>15}"
        )
        print(header)
        print(f"{'':<14}{'msg/s':>13}{'msg/s':>15}{'msg/s':>12}{'ms':>10}{'ms':>10}{'':>15}")
        print("-" * len(header))
        for procs in self.procs_list:
            noop = med([r.rate for r in runs_of("noop", procs)])
            pg = med([r.rate for r in runs_of("pg", procs)])
            oc_runs = runs_of("ordercare", procs)
            oc = med([r.rate for r in oc_runs])
            p50 = med([r.p50_ms for r in oc_runs])
            p99 = med([r.p99_ms for r in oc_runs])
            label = f"{procs} proc{'s' if procs > 1 else ''} x {THREADS}"
            print(
                f"{label:<14}{noop:>13.0f}{pg:>15.0f}{oc:>12.0f}{p50:>10.0f}{p99:>10.0f}"
                f"{oc / pg:>14.2f}x"
            )
        print()
        print("Individual runs (msg/s; p50/p99 ms from publish to completion):")
        for procs in self.procs_list:
            for kind in KINDS:
                cells = ", ".join(
                    f"{r.rate:.0f} ({r.p50_ms:.0f}/{r.p99_ms:.0f})" for r in runs_of(kind, procs)
                )
                print(f"  {procs} proc(s) {KIND_TITLES[kind]:<13} {cells}")
        notes = sorted({n for r in self.results for n in r.notes if "REJECTED" in n or "left" in n})
        for note in notes:
            print(f"  note: {note}")
        settings = pg_settings()
        print()
        print(
            "Completion: bare runs = the actor writes its index to a Unix socket after its work "
            "(after COMMIT for psycopg; inbox row count checked); OrderCare = `command.accepted` "
            "consumed from ordercare.events (published by the relay, confirmed, after the commit)."
        )
        print(
            "Throughput = N / (last completion - first publish); the N messages are published "
            "as one burst, so p50/p99 include queueing behind the burst."
        )
        print(
            "PostgreSQL "
            + ", ".join(f"{k}={v}" for k, v in settings.items())
            + f"; RabbitMQ vhost {VHOST}; logs in {self.workdir}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000, help="messages per timed run")
    parser.add_argument("--runs", type=int, default=3, help="repeat each measurement; median")
    parser.add_argument(
        "--procs", type=int, nargs="+", default=[1, 2], help="worker process counts"
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what to measure"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile OrderCare's worker in-process instead"
    )
    parser.add_argument("--profile-n", type=int, default=2000, help="orders to profile")
    args = parser.parse_args(argv)
    with sigterm_as_interrupt():
        if args.profile:
            from profile_worker import run_profile

            return run_profile(args.profile_n, DATABASE, VHOST)
        bench = Bench(args.n, args.runs, args.procs, args.kinds)
        try:
            bench.run()
        except KeyboardInterrupt:
            _log("interrupted: stopping the processes")
            bench.procs.stop_all()
            if bench.results:
                bench.report()
            return 130
        except BenchError as exc:
            _log(f"benchmark failed: {exc}")
            bench.procs.stop_all()
            return 1
        finally:
            bench.procs.stop_all()
        bench.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
