"""OrderCare's command pipeline, end to end, against the bare shape it is built on.

    .venv/bin/python ops/bench/pipeline.py [--workload create|amend|all] [--n N] [--profile]
    ops/run bench [args]
    ops/run bench --rate 100 300 500 --seconds 30   (the paced mode)

For 1 and 2 worker processes x 8 threads, each run measures, on this machine:

* bare no-op: a Dramatiq actor that does nothing (RabbitmqBroker, OrderCare's middleware);
* bare psycopg: a Dramatiq actor doing one raw psycopg 3 transaction of the command's row
  shape (SELECT ... FOR UPDATE one of 1000 rows, UPDATE it, two INSERTs, COMMIT);
* OrderCare: `ordercare worker` + `ordercare relay` as a user starts them; N `order.create`
  commands published to `ordercare.commands`, timed from the first publish to the last
  `command.accepted` outcome consumed from `ordercare.events` (per-command latency: publish
  -> outcome received, correlated by `data.command_id`).
* OrderCare amend mix (`--workload amend`): the same processes; untimed, a catalogue of 50
  SKUs, 20 billing accounts and WARMUP + N orders of 1-20 lines are created through the
  pipeline (and WARMUP of them get a mixed command); then N commands, one per order, are
  published as one burst: about 60 % `order.amend` (1-3 changes), 25 %
  `order.change_delivery`, 15 % `order.cancel` (see amendments.py). More than 1 % rejected
  fails the run. Afterwards, single `order.amend` commands on a 200-line order (and, for
  comparison, a 10-line one) are timed one at a time, publish -> outcome, and once more
  in-process without the broker (amend_profile.py).

Every run starts fresh processes on a freshly created database and empty queues, warms
them up with WARMUP messages, then times N messages published as fast as pika can (an
open-loop burst: latency percentiles include the queueing of the burst).

Paced mode (`--rate R [R ...] --seconds S`): for each rate, fresh processes as above, then
order.create published at R a second for S seconds by an open-loop scheduler (publish i is
due at t0 + i/R, never held up by slow outcomes; publishes that went out an interval or more
late are counted and reported as the publisher falling behind). Reported per rate, medians
of the runs: p50/p90/p99/max publish -> outcome, the achieved publish rate, and outcomes
missing (none within OUTCOME_GRACE s of the last publish) or rejected.

Every timed burst and paced run also prints the CPU time (from /proc, Linux only) of the
worker (all its processes, and each), the relay, PostgreSQL (the benchmark database's
backends, and all postgres processes), RabbitMQ (beam.smp), this process, and the whole
machine, from just before the first publish to the last outcome (proc_cpu.py).

ORDERCARE_BENCH_DATABASE and ORDERCARE_BENCH_VHOST name the scratch database and vhost
(dropped and recreated each run; default ordercare_bench, ordercare-bench), so two checkouts
can run the benchmark at once without dropping each other's.

`--profile` instead runs OrderCare's InboundProcessor in this process under cProfile on the
real PostgreSQL engine (see profile_worker.py; with `--workload amend`, amend_profile.py).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import amendments
import orjson
import proc_cpu
from amend_profile import Timing, print_timings, time_amendments
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
    persistent,
    pg_dsn,
    pg_settings,
    reference_data,
    run_checked,
    scalar,
    sigterm_as_interrupt,
    sqlalchemy_url,
)
from measure import Latency, Paced, percentile, run_paced
from proc_cpu import CpuWindow, Group, Snapshot

_T = TypeVar("_T")

DATABASE = os.environ.get("ORDERCARE_BENCH_DATABASE", "ordercare_bench")
VHOST = os.environ.get("ORDERCARE_BENCH_VHOST", "ordercare-bench")
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
KINDS = ("noop", "pg", "ordercare", "amend")
KIND_TITLES = {
    "noop": "bare no-op",
    "pg": "bare psycopg",
    "ordercare": "OrderCare create",
    "amend": "OrderCare amend mix",
}
#: What each --workload measures: the bare shape and OrderCare's workload(s).
WORKLOADS = {
    "create": ("noop", "pg", "ordercare"),
    "amend": ("noop", "pg", "amend"),
    "all": KINDS,
}
#: Default N per timed run: the amendment workload also creates N orders, untimed.
DEFAULT_N = {"create": 10_000, "amend": 3_000, "all": 3_000}
#: Share of rejected commands above which the amendment workload itself is wrong.
MAX_REJECTED = 0.01
#: Untimed single amendments before each sequentially timed series (even: see amendments).
SEQUENTIAL_WARMUP = 2
#: Longest random pause (s) before a single timed amendment: about the relay's idle poll.
SEQUENTIAL_PAUSE = 0.06
#: Paced mode: how long (s) after the last publish an outcome may come before it is missing.
OUTCOME_GRACE = 30.0


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
    cpu: CpuWindow | None = None

    @property
    def rate(self) -> float:
        return self.n / self.seconds


@dataclass(frozen=True, slots=True)
class Sequential:
    """Single commands timed one at a time, publish -> outcome (amendments.TIMED)."""

    procs: int
    run: int
    label: str
    ms: list[float]


@dataclass(frozen=True, slots=True)
class PacedResult:
    """One paced run: order.create at `rate` a second; latencies publish -> outcome in ms."""

    procs: int
    run: int
    rate: float
    paced: Paced
    latency: Latency
    #: From when each command was due instead: what a client arriving on time would see.
    from_plan: Latency
    missing: int
    rejected: dict[str, int]
    cpu: CpuWindow


class WorkloadError(BenchError):
    """Commands the workload built were rejected: the workload (or OrderCare) is wrong."""


def _latency(published: Sequence[float], received: Sequence[float]) -> tuple[float, float]:
    lat = sorted(r - p for p, r in zip(published, received, strict=True))
    return percentile(lat, 0.50) * 1000, percentile(lat, 0.99) * 1000


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bench:
    def __init__(
        self,
        n: int,
        runs: int,
        procs_list: Sequence[int],
        kinds: Sequence[str] = KINDS,
        sequential_reps: int = 20,
        rates: Sequence[float] = (),
        seconds: float = 30.0,
        ordered_partitions: int = 0,
    ) -> None:
        self.kinds = kinds
        #: Ordering mode (README): `ordercare route` runs too, workers take the partitions.
        self.ordered_partitions = ordered_partitions
        self.rates = rates
        self.seconds = seconds
        self.sequential_reps = sequential_reps + sequential_reps % 2
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
            ORDERCARE_ORDERED_PARTITIONS=str(ordered_partitions),
        )
        self.results: list[Result] = []
        self.paced_results: list[PacedResult] = []
        self.sequential: list[Sequential] = []
        self.inprocess: tuple[list[Timing], dict[str, str]] | None = None
        self.mix_shape = ""
        # The bench process publishes and consumes at once: hand the GIL over often so the
        # consumer threads timestamp arrivals promptly while the publisher is busy.
        sys.setswitchinterval(0.0005)

    # --- orchestration ---------------------------------------------------------------------

    def run(self) -> None:
        ensure_vhost(VHOST)
        os.environ["BENCH_AMQP_URL"] = self.url
        if self.rates:
            self._run_paced()
            return
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
        if "amend" in self.kinds:
            _log("-- in-process: single amendments, InboundProcessor.process without the broker")
            self.inprocess = time_amendments(DATABASE, VHOST, self.sequential_reps)

    def _run_paced(self) -> None:
        for run in range(1, self.runs + 1):
            for procs in self.procs_list:
                for rate in self.rates:
                    _log(
                        f"-- run {run}/{self.runs}: order.create at {rate:g}/s for "
                        f"{self.seconds:g} s, {procs} proc(s) x {THREADS}"
                    )
                    result = self._retried(functools.partial(self.paced, procs, run, rate))
                    self.paced_results.append(result)
                    lat = result.latency
                    _log(
                        f"   achieved {result.paced.achieved_rate:6.1f}/s  p50 {lat.p50:6.1f}  "
                        f"p90 {lat.p90:6.1f}  p99 {lat.p99:6.1f}  max {lat.max:6.1f} ms  "
                        f"missing {result.missing}  rejected {sum(result.rejected.values())}  "
                        f"late publishes {result.paced.behind()}"
                    )

    def _measure(self, kind: str, procs: int, run: int) -> Result:
        if kind == "ordercare":
            return self._retried(lambda: self.ordercare(procs, run))
        if kind == "amend":
            return self._retried(lambda: self.amend(procs, run))
        return self._retried(lambda: self.bare(kind, procs, run))

    def _retried(self, measure: Callable[[], _T]) -> _T:
        """One measurement; a failure (e.g. a process that died) is retried once."""
        for attempt in (1, 2):
            try:
                return measure()
            except BenchError as exc:
                if attempt == 2 or isinstance(exc, WorkloadError):
                    raise
                _log(f"   attempt failed, retrying once: {exc}")
            finally:
                self.procs.stop_all()
        raise AssertionError("unreachable")

    def _reset_broker(self) -> None:
        from bare_actors import NOOP_QUEUE, PG_QUEUE

        bare = [q + s for q in (NOOP_QUEUE, PG_QUEUE) for s in ("", ".DQ", ".XQ")]
        partitions = [
            f"{COMMANDS_EXCHANGE}.ordered.{n}{s}"
            for n in range(64)  # a previous run's partitions too, whatever their number
            for s in ("", ".DQ", ".XQ")
        ]
        delete_queues(self.url, [*ORDERCARE_QUEUES, *bare, *partitions])

    def _wait(
        self, what: str, until: Callable[[float, Callable[[], None]], None], timeout: float
    ) -> None:
        try:
            until(timeout, self.procs.check)
        except BenchError as exc:
            raise BenchError(f"{what}: {exc}") from None

    # --- CPU per process -------------------------------------------------------------------

    @staticmethod
    def _snapshot() -> Snapshot:
        return proc_cpu.snapshot(lambda stat: stat.comm == "postgres")

    def _cpu(self, before: Snapshot, procs: int) -> CpuWindow:
        """CPU of each group of processes from `before` to now."""
        return proc_cpu.window(before, self._snapshot(), self._cpu_groups(procs))

    def _cpu_groups(self, procs: int) -> dict[str, Group]:
        groups: dict[str, Group] = {}
        roots = {p.name: p.popen.pid for p in self.procs.running}
        worker = roots.get("worker", roots.get("dramatiq"))
        if worker is not None:
            groups["worker, all processes"] = lambda snap: snap.tree(worker)
            groups["  worker parent"] = lambda snap: {worker} & snap.procs.keys()
            for k in range(procs):
                groups[f"  worker process {k + 1}"] = _nth_child(worker, k)
        if "relay" in roots:
            relay = roots["relay"]
            groups["relay"] = lambda snap: snap.tree(relay)
        if "route" in roots:
            route = roots["route"]
            groups["router (ordering mode)"] = lambda snap: snap.tree(route)
        groups["PostgreSQL, bench database backends"] = _backends_of(DATABASE)
        groups["PostgreSQL, all processes"] = lambda snap: snap.named("postgres")
        groups["RabbitMQ (beam.smp)"] = lambda snap: snap.named("beam.smp")
        me = os.getpid()
        groups["benchmark (publisher, collector)"] = lambda snap: {me}
        return groups

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
            before = self._snapshot()
            published = publisher.publish("", queue, bodies[WARMUP:], props[WARMUP:])
            self._wait("bare run", lambda t, c: done.wait_count(total, t, c), max(120, self.n / 20))
            cpu = self._cpu(before, procs)
            received = done.received[WARMUP:]
        finally:
            publisher.close()
            self.procs.stop_all()
            done.close()
        p50, p99 = _latency(published, received)
        result = Result(kind, procs, run, self.n, max(received) - published[0], p50, p99, cpu=cpu)
        if kind == "pg":
            rows = scalar(DATABASE, "SELECT count(*) FROM bench_inbox")
            if rows != total:
                raise BenchError(f"bench_inbox has {rows} rows, expected {total}")
            result.notes.append(f"{rows} inbox rows checked")
        return result

    # --- OrderCare -------------------------------------------------------------------------

    def _start_ordercare(self, procs: int, tag: str) -> tuple[OutcomeCollector, Publisher]:
        """A fresh database and broker, `ordercare relay` and `ordercare worker` as a user starts
        them, and the outcome collector; stop with `self.procs.stop_all()` and close both."""
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
            self._start_processes(procs, tag)
        except BaseException:
            publisher.close()
            outcomes.close()
            raise
        return outcomes, publisher

    def _start_processes(self, procs: int, tag: str) -> None:
        ordercare = str(VENV_BIN / "ordercare")
        self.procs.start(
            [ordercare, "relay", "--metrics-port", "0"],
            self.env,
            self.workdir / f"relay-{tag}.log",
            name="relay",
        )
        if self.ordered_partitions:
            self.procs.start(
                [ordercare, "route", "--metrics-port", "0"],
                self.env,
                self.workdir / f"route-{tag}.log",
                name="route",
            )
        self.procs.start(
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
            name="worker",
        )

    def _burst(
        self,
        publisher: Any,
        outcomes: Any,
        docs: list[dict[str, Any]],
        what: str,
        budget: float,
        procs: int,
    ) -> tuple[list[float], CpuWindow]:
        """Publish every command in one burst and wait for all outcomes; publish times, and
        the processes' CPU from the first publish to the last outcome."""
        ids = [d["id"] for d in docs]
        bodies = [orjson.dumps(d) for d in docs]
        props = [persistent(i, CLOUDEVENTS) for i in ids]
        outcomes.expect(ids)
        before = self._snapshot()
        published: list[float] = publisher.publish_routed(
            COMMANDS_EXCHANGE, [d["type"] for d in docs], bodies, props
        )
        self._wait(what, outcomes.wait, max(180, budget))
        return published, self._cpu(before, procs)

    def _result(
        self,
        kind: str,
        procs: int,
        run: int,
        published: list[float],
        got: list[Any],
        cpu: CpuWindow,
    ) -> Result:
        received = [o.received for o in got]
        p50, p99 = _latency(published, received)
        seconds = max(received) - published[0]
        return Result(kind, procs, run, self.n, seconds, p50, p99, cpu=cpu)

    def ordercare(self, procs: int, run: int) -> Result:
        outcomes, publisher = self._start_ordercare(procs, f"{procs}-{run}")
        try:
            # Seed the catalogue and the billing account, then warm up with orders.
            self._send(publisher, outcomes, [catalog_upsert(), billing_account_create()], "seed")
            self._send(publisher, outcomes, [order_create() for _ in range(WARMUP)], "warm-up")
            checkpoint(DATABASE)

            docs = [order_create() for _ in range(self.n)]
            published, cpu = self._burst(
                publisher, outcomes, docs, "OrderCare run", self.n / 10, procs
            )
        finally:
            publisher.close()
            self.procs.stop_all()
            outcomes.close()
        got = [outcomes.outcomes[d["id"]] for d in docs]
        result = self._result("ordercare", procs, run, published, got, cpu)
        rejected = Counter(o.code for o in got if o.type != "command.accepted")
        if rejected:
            result.notes.append(f"REJECTED: {dict(rejected)}")
        else:
            result.notes.append(f"all {self.n} command.accepted")
        backlog = scalar(DATABASE, "SELECT count(*) FROM outbox")
        if backlog:
            result.notes.append(f"{backlog} outbox rows left")
        return result

    # --- OrderCare: paced order.create ------------------------------------------------------

    def paced(self, procs: int, run: int, rate: float) -> PacedResult:
        """order.create at `rate` a second for `self.seconds`, open loop, after the warm-up;
        latency publish -> outcome per command, correlated by data.command_id."""
        outcomes, publisher = self._start_ordercare(procs, f"paced-{rate:g}-{procs}-{run}")
        try:
            self._send(publisher, outcomes, [catalog_upsert(), billing_account_create()], "seed")
            self._send(publisher, outcomes, [order_create() for _ in range(WARMUP)], "warm-up")
            checkpoint(DATABASE)

            docs = [order_create() for _ in range(max(1, round(rate * self.seconds)))]
            bodies = [orjson.dumps(d) for d in docs]
            props = [persistent(d["id"], CLOUDEVENTS) for d in docs]
            outcomes.expect([d["id"] for d in docs])

            def publish(i: int) -> float:
                [at] = publisher.publish(COMMANDS_EXCHANGE, "order.create", [bodies[i]], [props[i]])
                return at

            before = self._snapshot()
            paced = run_paced(len(docs), rate, publish)
            try:
                self._wait("paced run", outcomes.wait, OUTCOME_GRACE)
            except BenchError:
                self.procs.check()  # a process died: that fails the run (retried once)
                # Otherwise some outcomes are missing: counted below, the run is kept.
            cpu = self._cpu(before, procs)
        finally:
            publisher.close()
            self.procs.stop_all()
            outcomes.close()
        latencies, from_plan, rejected, missing = [], [], Counter[str](), 0
        for doc, at, due in zip(docs, paced.actual, paced.planned, strict=True):
            outcome = outcomes.outcomes.get(doc["id"])
            if outcome is None:
                missing += 1
                continue
            if outcome.type != "command.accepted":
                rejected[str(outcome.code)] += 1
            latencies.append((outcome.received - at) * 1000)
            from_plan.append((outcome.received - due) * 1000)
        return PacedResult(
            procs,
            run,
            rate,
            paced,
            Latency.of(latencies),
            Latency.of(from_plan),
            missing,
            dict(rejected),
            cpu,
        )

    # --- OrderCare: the amendment mix ------------------------------------------------------

    def amend(self, procs: int, run: int) -> Result:
        outcomes, publisher = self._start_ordercare(procs, f"amend-{procs}-{run}")
        try:
            workload = self._seed_amendable(publisher, outcomes)
            orders = workload.orders(WARMUP + self.n)
            self._send(publisher, outcomes, [workload.create(o) for o in orders], "seed orders")
            warm = [workload.command(o) for o in orders[:WARMUP]]
            self._send(publisher, outcomes, warm, "warm-up mix", MAX_REJECTED)
            checkpoint(DATABASE)

            docs = [workload.command(o) for o in orders[WARMUP:]]
            published, cpu = self._burst(
                publisher, outcomes, docs, "amendment mix", self.n / 5, procs
            )
            self._sequential(publisher, outcomes, procs, run)
        finally:
            publisher.close()
            self.procs.stop_all()
            outcomes.close()
        got = [outcomes.outcomes[d["id"]] for d in docs]
        result = self._result("amend", procs, run, published, got, cpu)
        result.notes.append(self._rejections(f"amend-{procs}-{run}", docs, MAX_REJECTED, outcomes))
        counts = Counter(d["type"] for d in docs)
        mix = {k.removeprefix("order."): counts[k] for k in amendments.MIX}
        result.notes.append("mix " + ", ".join(f"{k} {v}" for k, v in mix.items()))
        lines = [len(o.lines) for o in orders[WARMUP:]]
        self.mix_shape = (
            f"{', '.join(f'{v / len(docs):.0%} {k}' for k, v in mix.items())} "
            f"on orders of {min(lines)}-{max(lines)} lines (mean {statistics.mean(lines):.1f})"
        )
        backlog = scalar(DATABASE, "SELECT count(*) FROM outbox")
        if backlog:
            result.notes.append(f"{backlog} outbox rows left")
        return result

    def _seed_amendable(
        self, publisher: Publisher, outcomes: OutcomeCollector
    ) -> amendments.Workload:
        """The catalogue, the accounts and the orders of the sequential timing."""
        workload = amendments.Workload(*reference_data(DATABASE))
        self._send(publisher, outcomes, [workload.catalog_upsert(), *workload.accounts()], "seed")
        timed = [workload.create(o) for o in workload.timed_orders()]
        self._send(publisher, outcomes, timed, "seed timed orders")
        return workload

    def _sequential(
        self, publisher: Publisher, outcomes: OutcomeCollector, procs: int, run: int
    ) -> None:
        """Each TIMED amendment, one at a time, each awaited: publish -> outcome received. A
        random pause before each keeps the arrivals out of step with the relay's idle poll."""
        pauses = random.Random(amendments.SEED)
        for label in amendments.TIMED:
            docs = amendments.timed_amendments(label, SEQUENTIAL_WARMUP + self.sequential_reps)
            ms = []
            for doc in docs:
                time.sleep(pauses.uniform(0, SEQUENTIAL_PAUSE))
                outcomes.expect([doc["id"]])
                [sent] = publisher.publish(
                    COMMANDS_EXCHANGE,
                    doc["type"],
                    [orjson.dumps(doc)],
                    [persistent(doc["id"], CLOUDEVENTS)],
                )
                self._wait(label, outcomes.wait, 60)
                ms.append((outcomes.outcomes[doc["id"]].received - sent) * 1000)
            self._rejections(f"sequential-{procs}-{run}", docs, 0, outcomes)
            self.sequential.append(Sequential(procs, run, label, ms[SEQUENTIAL_WARMUP:]))

    def _rejections(
        self,
        what: str,
        docs: Sequence[dict[str, Any]],
        limit: float,
        outcomes: OutcomeCollector,
    ) -> str:
        """Count rejected commands; keep them (payload and outcome) in the work folder, show a
        few, and fail if more than `limit` of them were rejected."""
        bad = [(d, outcomes.outcomes[d["id"]]) for d in docs]
        bad = [(d, o) for d, o in bad if o.type != "command.accepted"]
        if not bad:
            return f"all {len(docs)} command.accepted"
        path = self.workdir / f"rejected-{what}.jsonl"
        with path.open("ab") as out:
            for doc, outcome in bad:
                out.write(
                    orjson.dumps({"command": doc, "code": outcome.code, "message": outcome.message})
                )
                out.write(b"\n")
        for doc, outcome in bad[:3]:
            payload = orjson.dumps(doc["data"]).decode()
            _log(f"   rejected {doc['type']} ({outcome.code}): {outcome.message}\n     {payload}")
        codes = Counter(f"{d['type']}: {o.code}" for d, o in bad)
        note = f"REJECTED {len(bad)}/{len(docs)}: {dict(codes)} (all in {path})"
        if len(bad) > limit * len(docs):
            raise WorkloadError(f"{what}: {note}")
        return note

    def _send(
        self,
        publisher: Publisher,
        outcomes: OutcomeCollector,
        docs: list[dict[str, Any]],
        what: str,
        limit: float = 0.0,
    ) -> None:
        """Publish commands and wait for all their outcomes; fail if more than `limit` of them
        were rejected (none by default)."""
        ids = [d["id"] for d in docs]
        outcomes.expect(ids)
        for start in range(0, len(docs), 500):
            chunk = docs[start : start + 500]
            publisher.publish_routed(
                COMMANDS_EXCHANGE,
                [d["type"] for d in chunk],
                [orjson.dumps(d) for d in chunk],
                [persistent(d["id"], CLOUDEVENTS) for d in chunk],
            )
        self._wait(what, outcomes.wait, max(120, len(docs) / 10))
        self._rejections(what.replace(" ", "-"), docs, limit, outcomes)

    # --- report ----------------------------------------------------------------------------

    def report(self) -> None:
        if self.rates:
            self._paced_report()
            return
        print()
        print(
            f"OrderCare pipeline benchmark: N={self.n} messages per run, {self.runs} run(s), "
            f"median of runs; {os.cpu_count()} CPUs; warm-up {WARMUP} messages per run"
        )
        if self.ordered_partitions:
            print(
                f"Ordering mode: {self.ordered_partitions} partitions per inbound exchange, "
                "`ordercare route` running (README, Ordering mode)"
            )
        if "ordercare" in self.kinds:
            self._table("ordercare", "order.create (the demo's 2-line order)")
        if "amend" in self.kinds:
            self._table("amend", f"amendment mix: {self.mix_shape or 'not measured'}")
            self._sequential_table()
        self._individual_runs()
        if self.inprocess is not None:
            print()
            print_timings(*self.inprocess)
        for kind in self.kinds:
            columns = [
                (_config(procs), [r.cpu for r in self._runs_of(kind, procs) if r.cpu])
                for procs in self.procs_list
            ]
            _cpu_table(f"{KIND_TITLES[kind]} burst", columns)
        _cpu_legend()
        settings = pg_settings()
        print()
        print(
            "Completion: bare runs = the actor writes its index to a Unix socket after its work "
            "(after COMMIT for psycopg; inbox row count checked); OrderCare = `command.accepted` "
            "consumed from ordercare.events (published after the commit by the worker itself, "
            "confirmed; by the relay when ORDERCARE_DIRECT_PUBLISH=false)."
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

    def _paced_report(self) -> None:
        print()
        print(
            f"OrderCare paced order.create: {self.seconds:g} s at each rate, {self.runs} run(s), "
            f"median of runs; {os.cpu_count()} CPUs; warm-up {WARMUP} messages per run"
        )
        if self.ordered_partitions:
            print(
                f"Ordering mode: {self.ordered_partitions} partitions per inbound exchange, "
                "`ordercare route` running (README, Ordering mode)"
            )
        print()
        print("Publish -> outcome on ordercare.events (ms), by data.command_id:")
        header = (
            f"{'config':<14}{'rate/s':>8}{'achieved/s':>12}{'p50':>8}{'p90':>8}{'p99':>8}"
            f"{'max':>8}{'missing':>9}{'rejected':>10}{'late':>6}{'lag max':>9}"
        )
        print(header)
        print("-" * len(header))
        for procs in self.procs_list:
            for rate in self.rates:
                runs = self._paced_runs(procs, rate)
                print(
                    f"{_config(procs):<14}{rate:>8g}"
                    f"{_med([r.paced.achieved_rate for r in runs]):>12.1f}"
                    f"{_med([r.latency.p50 for r in runs]):>8.1f}"
                    f"{_med([r.latency.p90 for r in runs]):>8.1f}"
                    f"{_med([r.latency.p99 for r in runs]):>8.1f}"
                    f"{_med([r.latency.max for r in runs]):>8.1f}"
                    f"{sum(r.missing for r in runs):>9}"
                    f"{sum(sum(r.rejected.values()) for r in runs):>10}"
                    f"{sum(r.paced.behind() for r in runs):>6}"
                    f"{max((max(r.paced.lags) for r in runs), default=math.nan) * 1000:>9.1f}"
                )
        print(
            "missing, rejected, late: summed over the runs; late = publishes that went out one "
            "interval (1/rate) or more after they were due (the publisher fell behind); lag max "
            "= the latest publish of all runs (ms after it was due)."
        )
        print()
        print("Individual paced runs (p50/p90/p99/max ms; achieved publishes/s):")
        for procs in self.procs_list:
            for rate in self.rates:
                cells = ", ".join(
                    f"{r.latency.p50:.1f}/{r.latency.p90:.1f}/{r.latency.p99:.1f}/"
                    f"{r.latency.max:.0f} ({r.paced.achieved_rate:.1f}/s)"
                    for r in self._paced_runs(procs, rate)
                )
                print(f"  {_config(procs):<14} {rate:>6g}/s  {cells}")
        for r in self.paced_results:
            late = r.paced.behind()
            if late:
                lag = Latency.of(x * 1000 for x in r.paced.lags)
                print(
                    f"  WARNING: the publisher fell behind (run {r.run}, {_config(r.procs)}, "
                    f"{r.rate:g}/s): {late} of {len(r.paced.actual)} publishes went out "
                    f"{1000 / r.rate:.1f} ms or more late (lag p99 {lag.p99:.1f} ms, max "
                    f"{lag.max:.1f} ms); latency counts from the actual publish (from the "
                    f"planned time: p50 {r.from_plan.p50:.1f}, p99 {r.from_plan.p99:.1f}, max "
                    f"{r.from_plan.max:.1f} ms)"
                )
            if r.missing or r.rejected:
                print(
                    f"  note: run {r.run}, {_config(r.procs)}, {r.rate:g}/s: {r.missing} "
                    f"outcome(s) missing {OUTCOME_GRACE:g} s after the last publish, "
                    f"rejected {r.rejected or 0}"
                )
        for rate in self.rates:
            columns = [
                (_config(procs), [r.cpu for r in self._paced_runs(procs, rate)])
                for procs in self.procs_list
            ]
            _cpu_table(f"order.create at {rate:g}/s", columns)
        _cpu_legend()
        print(
            "PostgreSQL "
            + ", ".join(f"{k}={v}" for k, v in pg_settings().items())
            + f"; RabbitMQ vhost {VHOST}; logs in {self.workdir}"
        )

    def _paced_runs(self, procs: int, rate: float) -> list[PacedResult]:
        return [r for r in self.paced_results if r.procs == procs and r.rate == rate]

    def _runs_of(self, kind: str, procs: int) -> list[Result]:
        return [r for r in self.results if r.kind == kind and r.procs == procs]

    def _table(self, kind: str, title: str) -> None:
        print()
        print(f"OrderCare = {title}")
        header = (
            f"{'config':<14}{'bare no-op':>13}{'bare psycopg':>15}{'OrderCare':>12}"
            f"{'OC p50':>10}{'OC p99':>10}{'OC / psycopg':>15}"
        )
        print(header)
        print(f"{'':<14}{'msg/s':>13}{'msg/s':>15}{'msg/s':>12}{'ms':>10}{'ms':>10}{'':>15}")
        print("-" * len(header))
        for procs in self.procs_list:
            noop = _med([r.rate for r in self._runs_of("noop", procs)])
            pg = _med([r.rate for r in self._runs_of("pg", procs)])
            oc_runs = self._runs_of(kind, procs)
            oc = _med([r.rate for r in oc_runs])
            p50 = _med([r.p50_ms for r in oc_runs])
            p99 = _med([r.p99_ms for r in oc_runs])
            label = f"{procs} proc{'s' if procs > 1 else ''} x {THREADS}"
            print(
                f"{label:<14}{noop:>13.0f}{pg:>15.0f}{oc:>12.0f}{p50:>10.0f}{p99:>10.0f}"
                f"{oc / pg:>14.2f}x"
            )

    def _sequential_table(self) -> None:
        if not self.sequential:
            return
        print()
        print(
            f"Single order.amend, one at a time, publish -> outcome ({self.sequential_reps} per "
            f"run after {SEQUENTIAL_WARMUP} untimed; median of the runs' median and p90; ms):"
        )
        labels = list(amendments.TIMED)
        print(f"{'config':<14}" + "".join(f"{label + ' p50/p90':>32}" for label in labels))
        for procs in self.procs_list:
            cells = []
            for label in labels:
                series = [s.ms for s in self.sequential if s.procs == procs and s.label == label]
                p50 = _med([statistics.median(ms) for ms in series])
                p90 = _med([percentile(sorted(ms), 0.90) for ms in series])
                cells.append(f"{p50:.1f} / {p90:.1f}")
            label = f"{procs} proc{'s' if procs > 1 else ''} x {THREADS}"
            print(f"{label:<14}" + "".join(f"{c:>32}" for c in cells))

    def _individual_runs(self) -> None:
        print()
        print("Individual runs (msg/s; p50/p99 ms from publish to completion):")
        for procs in self.procs_list:
            for kind in self.kinds:
                cells = ", ".join(
                    f"{r.rate:.0f} ({r.p50_ms:.0f}/{r.p99_ms:.0f})"
                    for r in self._runs_of(kind, procs)
                )
                print(f"  {procs} proc(s) {KIND_TITLES[kind]:<22} {cells}")
            for kind in ("ordercare", "amend"):
                pg = {r.run: r.rate for r in self._runs_of("pg", procs)}
                ratios = [
                    f"{r.rate / pg[r.run]:.2f}x" for r in self._runs_of(kind, procs) if r.run in pg
                ]
                title = KIND_TITLES[kind].removeprefix("OrderCare ") + " / psycopg"
                if ratios:
                    print(f"  {procs} proc(s) {title:<22} {', '.join(ratios)} (same run)")
        for procs in self.procs_list:
            for label in amendments.TIMED:
                cells = ", ".join(
                    f"{statistics.median(s.ms):.1f}/{percentile(sorted(s.ms), 0.9):.1f}"
                    for s in self.sequential
                    if s.procs == procs and s.label == label
                )
                if cells:
                    print(f"  {procs} proc(s) {label:<22} {cells} (ms p50/p90)")
        notes = sorted({n for r in self.results for n in r.notes if "REJECTED" in n or "left" in n})
        for note in notes:
            print(f"  note: {note}")


def _nth_child(root: int, k: int) -> Group:
    """The k-th child process of `root` (by pid: Dramatiq forks its worker processes first,
    in order) and all of its descendants."""

    def members(snap: Snapshot) -> set[int]:
        children = sorted(snap.children().get(root, ()))
        return snap.tree(children[k]) if k < len(children) else set()

    return members


def _backends_of(database: str) -> Group:
    """PostgreSQL backends connected to `database`: their title (the command line) is
    `postgres: <cluster>: <user> <database> <client> <activity>`."""

    def members(snap: Snapshot) -> set[int]:
        return {
            pid
            for pid, cmdline in snap.cmdlines.items()
            if snap.procs[pid].comm == "postgres" and database in cmdline.split()[2:5]
        }

    return members


def _config(procs: int) -> str:
    return f"{procs} proc{'s' if procs > 1 else ''} x {THREADS}"


#: The CPU table's rows that do not overlap: what is left of the machine's busy time is
#: everything else on it (other people's test runs, the kernel's own threads).
_DISJOINT = (
    "worker, all processes",
    "relay",
    "PostgreSQL, all processes",
    "RabbitMQ (beam.smp)",
    "benchmark (publisher, collector)",
)


def _cpu_table(title: str, columns: Sequence[tuple[str, Sequence[CpuWindow]]]) -> None:
    """Rows: groups of processes; per column (a configuration): CPU seconds and % of one
    core, each the median of the runs."""
    columns = [(name, windows) for name, windows in columns if windows]
    if not columns:
        return
    # The groups in the order they were made; the configuration with the most (the most
    # worker processes) first, so worker process 2 follows worker process 1.
    windows = sorted((w for _, ws in columns for w in ws), key=lambda w: -len(w.seconds))
    labels = list(dict.fromkeys(label for w in windows for label in w.seconds))
    print()
    print(f"CPU, {title}, first publish -> last outcome (median of runs):")
    header = f"{'process(es)':<38}" + "".join(f"{name:>20}" for name, _ in columns)
    print(header)
    print(f"{'':<38}" + f"{'CPU s':>11}{'% core':>9}" * len(columns))
    print("-" * len(header))

    def row(label: str, value: Callable[[CpuWindow], float | None]) -> None:
        cells = ""
        for _, windows in columns:
            pairs = [(v, v / w.wall * 100) for w in windows if (v := value(w)) is not None]
            if pairs:
                cells += f"{_med([s for s, _ in pairs]):>11.2f}{_med([p for _, p in pairs]):>8.0f}%"
            else:
                cells += f"{'-':>11}{'-':>9}"
        print(f"{label:<38}{cells}")

    for label in labels:
        row(label, functools.partial(_seconds_of, label))
    row("machine, all CPUs busy", lambda w: w.machine)
    row(
        "  everything else on the machine",
        lambda w: w.machine - sum(w.seconds.get(label, 0.0) for label in _DISJOINT),
    )
    walls = "".join(f"{_med([w.wall for w in ws]):>11.2f}{'':>9}" for _, ws in columns)
    print(f"{'window (wall s)':<38}{walls}")


def _seconds_of(label: str, window: CpuWindow) -> float | None:
    return window.seconds.get(label)


def _cpu_legend() -> None:
    print()
    print(
        f"CPU: user + system time from /proc/<pid>/stat (Linux only), {proc_cpu.TICKS} ticks/s, "
        "from just before the first publish to the last outcome; % core = CPU s / window, "
        f"so {os.cpu_count()} cores busy all the window is {100 * (os.cpu_count() or 1)} %. "
        "A group counts its processes and every descendant (children it reaped too). "
        "PostgreSQL and RabbitMQ are shared with anything else on the machine: "
        "'all processes' includes other databases' backends and PostgreSQL's own "
        "(WAL writer, checkpointer); the backends row counts only connections to "
        f"{DATABASE}. 'everything else' = machine busy - worker - relay - PostgreSQL all - "
        "RabbitMQ - benchmark."
    )


def _med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--workload",
        choices=list(WORKLOADS),
        default="create",
        help="OrderCare's workload: order.create (default), the amendment mix, or both",
    )
    parser.add_argument(
        "--n",
        type=int,
        help="messages per timed run (default 10000 for create, 3000 with the amendment mix)",
    )
    parser.add_argument("--runs", type=int, default=3, help="repeat each measurement; median")
    parser.add_argument(
        "--procs", type=int, nargs="+", default=[1, 2], help="worker process counts"
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, help="what to measure (default: the workload's)"
    )
    parser.add_argument(
        "--sequential-reps",
        type=int,
        default=20,
        help="timed single amendments of each kind (amend workload; rounded up to even)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile OrderCare's worker in-process instead"
    )
    parser.add_argument("--profile-n", type=int, default=2000, help="orders to profile")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        help="paced mode: order.create per second, open loop (several: one measurement each)",
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="paced mode: seconds at each rate"
    )
    parser.add_argument(
        "--ordering",
        type=int,
        default=0,
        metavar="N",
        help="ordering mode with N partitions: `ordercare route` runs, workers take the "
        "partitions (README, Ordering mode); needs rabbitmq_consistent_hash_exchange",
    )
    args = parser.parse_args(argv)
    if args.rate and (args.profile or args.workload != "create" or args.kinds):
        parser.error("--rate paces order.create alone: no --profile, --workload or --kinds")
    if args.rate and (min(args.rate) <= 0 or args.seconds <= 0):
        parser.error("--rate and --seconds must be positive")
    n = args.n or DEFAULT_N[args.workload]
    kinds = [k for k in KINDS if k in (args.kinds or WORKLOADS[args.workload])]
    with sigterm_as_interrupt():
        if args.profile and args.workload == "amend":
            from amend_profile import run_amend_profile

            return run_amend_profile(DATABASE, VHOST, args.sequential_reps)
        if args.profile:
            from profile_worker import run_profile

            return run_profile(args.profile_n, DATABASE, VHOST)
        bench = Bench(
            n,
            args.runs,
            args.procs,
            kinds,
            args.sequential_reps,
            args.rate or (),
            args.seconds,
            ordered_partitions=args.ordering,
        )
        try:
            bench.run()
        except KeyboardInterrupt:
            _log("interrupted: stopping the processes")
            bench.procs.stop_all()
            if bench.results or bench.paced_results:
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
