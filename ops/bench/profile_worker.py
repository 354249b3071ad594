"""`pipeline.py --profile`: where an OrderCare worker's time goes, measured in-process.

Builds the InboundProcessor exactly as actors/bootstrap.py's Runtime does (engine from
persistence.engine.make_engine on the real PostgreSQL, a ReferenceCache, SqlUnitOfWork per
message) and feeds it `order.create` messages on one thread: first un-profiled to get the
plain cost per command, then under cProfile. Finally the relay's database side is timed by
draining the outbox into a publisher that confirms everything without any I/O.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from harness import (
    amqp_url,
    billing_account_create,
    catalog_upsert,
    create_database,
    drop_database,
    order_create,
    scalar,
    sqlalchemy_url,
)

if TYPE_CHECKING:
    from actors.inbound import InboundMessage

WARMUP = 200
TOP = 25

#: Self time is attributed to the first category whose pattern matches "file:function".
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("psycopg: waiting for the server", r"psycopg.*(wait|_wait)|select\.poll|selectors|epoll"),
    ("psycopg: client side", r"psycopg"),
    ("pydantic validation/serialisation", r"pydantic"),
    ("SQLAlchemy", r"sqlalchemy"),
    ("JSON (orjson/json)", r"orjson|/json/"),
    (
        "pricing + money (services/pricing, money, Decimal)",
        r"services/pricing|services/money|decimal",
    ),
    ("prometheus_client", r"prometheus_client"),
    (
        "OrderCare code (actors, persistence, services, contracts)",
        r"/(actors|persistence|services|contracts)/",
    ),
    ("uuid / ids / datetime / logging", r"uuid|secrets|random|datetime|logging|services/ids"),
)

#: Inclusive (cumulative) time of a few entry points; these overlap each other.
ENTRY_POINTS: tuple[tuple[str, str], ...] = (
    (
        "pydantic model_validate (Envelope + CreateOrder)",
        r"pydantic/main\.py:\d+\(model_validate\)$",
    ),
    ("pydantic model_dump (events, outcomes)", r"pydantic/main\.py:\d+\(model_dump\)$"),
    (
        "SQLAlchemy Connection.execute (all statements)",
        r"sqlalchemy/engine/base\.py:\d+\(execute\)$",
    ),
    (
        "Engine.connect (pool checkout incl. pre-ping)",
        r"sqlalchemy/engine/base\.py:\d+\(connect\)$",
    ),
    ("pool pre-ping (do_ping)", r"\(do_ping\)$"),
    ("Connection.commit (COMMIT round trip)", r"sqlalchemy/engine/base\.py:\d+\(commit\)$"),
    ("order handler create_order", r"services/orders/handlers\.py:\d+\(create_order\)$"),
    ("Order.priced / price_order", r"services/pricing\.py:\d+\(price_order\)$"),
    (
        "events.order_created (event model build)",
        r"services/orders/events\.py:\d+\(order_created\)$",
    ),
    (
        "InboundProcessor._accept_in (outcome, inbox, outbox, audit, commit)",
        r"actors/inbound\.py:\d+\(_accept_in\)$",
    ),
    ("cloudevent() (orjson envelopes)", r"actors/outbound\.py:\d+\(cloudevent\)$"),
    ("prometheus metrics (observe/inc)", r"prometheus_client/metrics\.py:\d+\((observe|inc)\)$"),
)


class _NoReplies:
    def reply(self, message: Any) -> None:
        """order.create is not a query: nothing to answer directly."""


class _ConfirmAll:
    """A BatchPublisher that confirms every message without I/O (relay DB-side cost only)."""

    def publish_batch(self, messages: Sequence[Any]) -> Any:
        from actors.publisher import BatchResult

        return BatchResult(confirmed=list(range(len(messages))))

    def close(self) -> None:
        """Nothing to close."""


def _name(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    filename = re.sub(r"^.*/site-packages/", "", filename)
    filename = re.sub(r"^.*/work/main/", "", filename)
    filename = re.sub(r"^.*/lib/python3\.\d+/", "", filename)
    return f"{filename}:{line}({name})" if filename != "~" else name


def table(stats: pstats.Stats, key: str, count: int) -> str:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    index = 3 if key == "cumulative" else 2
    rows = sorted(raw.items(), key=lambda kv: kv[1][index], reverse=True)[:count]
    out = [f"{'ncalls':>10} {'tottime':>8} {'cumtime':>8} {'cum/call ms':>11}  function"]
    for func, (cc, nc, tt, ct, _callers) in rows:
        calls = f"{nc}/{cc}" if nc != cc else str(nc)
        out.append(f"{calls:>10} {tt:8.3f} {ct:8.3f} {ct / max(cc, 1) * 1000:11.3f}  {_name(func)}")
    return "\n".join(out)


def summary(
    stats: pstats.Stats,
    wall: float,
    n: int,
    entry_points: Sequence[tuple[str, str]] = ENTRY_POINTS,
) -> str:
    """Self time by library, then the inclusive time of `entry_points`, per command."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total_self = sum(v[2] for v in raw.values())
    by_cat: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
        label = _name(func)
        for cat, pattern in CATEGORIES:
            if re.search(pattern, label):
                by_cat[cat] += tt
                break
        else:
            by_cat["other (stdlib, builtins)"] += tt
    lines = [
        f"Self time by library (exclusive, sums to 100% of {total_self:.2f}s profiled; "
        f"{total_self / n * 1000:.2f} ms/command under cProfile):"
    ]
    for cat, secs in sorted(by_cat.items(), key=lambda kv: kv[1], reverse=True):
        lines.append(f"  {secs / total_self * 100:5.1f}%  {secs / n * 1000:6.3f} ms/cmd  {cat}")
    lines.append("Inclusive time of entry points (overlapping; % of the profiled loop):")
    for title, pattern in entry_points:
        # Nested matches (Connection.commit -> Transaction.commit) would count twice: take
        # the outermost, i.e. the one with the largest cumulative time.
        matched = [(v[3], v[0]) for f, v in raw.items() if re.search(pattern, _name(f))]
        cum, calls = max(matched, default=(0.0, 0))
        lines.append(
            f"  {cum / wall * 100:5.1f}%  {cum / n * 1000:6.3f} ms/cmd  "
            f"{calls / n:5.2f} calls/cmd  {title}"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def multiprocess_metrics() -> Iterator[None]:
    """As in `ordercare worker`: metrics go to multiprocess files (set before the import)."""
    metrics_dir = tempfile.mkdtemp(prefix="ordercare-bench-metrics-")
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous
        shutil.rmtree(metrics_dir, ignore_errors=True)


class InProcessWorker:
    """The InboundProcessor as actors/bootstrap.py's Runtime builds it, on a freshly created
    and migrated database, fed on this thread. Build it inside `multiprocess_metrics`."""

    def __init__(self, database: str, vhost: str) -> None:
        from sqlalchemy import event

        from actors.inbound import InboundProcessor
        from actors.settings import Settings
        from persistence.database import upgrade
        from persistence.engine import make_engine
        from persistence.repositories import ReferenceCache
        from persistence.sql import Sql
        from persistence.uow import SqlUnitOfWork

        url = sqlalchemy_url(database)
        drop_database(database)
        create_database(database)
        upgrade(url)
        self.settings = Settings(database_url=url, amqp_url=amqp_url(vhost))
        engine = make_engine(url, pool_size=self.settings.worker_threads + 2)
        self.engine = engine
        cache = ReferenceCache()
        self.processor = InboundProcessor(
            self.settings, lambda: SqlUnitOfWork(engine, cache), _NoReplies()
        )
        #: Statements so far: SQLAlchemy cursor executes (pool pre-pings not included) and
        #: the hot path's raw driver statements (persistence/sql.py), counted by a wrapper.
        self.statements = 0
        event.listen(engine, "before_cursor_execute", self._count)
        self._raw_cursor = Sql._cursor

        def counted(sql: Sql, statement: str, params: dict[str, Any] | None) -> Any:
            self.statements += 1
            return self._raw_cursor(sql, statement, params)

        setattr(Sql, "_cursor", counted)  # noqa: B010 - mypy refuses a method assignment

    def _count(self, *_args: Any) -> None:
        self.statements += 1

    def messages(self, docs: Sequence[dict[str, Any]]) -> list[InboundMessage]:
        from actors.inbound import InboundMessage

        exchange = self.settings.commands_exchange
        return [InboundMessage(orjson.dumps(d), exchange, d["type"]) for d in docs]

    def process_all(self, batch: Sequence[InboundMessage]) -> float:
        """Process every message in turn; the wall time it took."""
        started = time.perf_counter()
        for m in batch:
            self.processor.process(m)
        return time.perf_counter() - started

    def close(self) -> None:
        from persistence.sql import Sql

        setattr(Sql, "_cursor", self._raw_cursor)  # noqa: B010
        self.engine.dispose()


def run_profile(n: int, database: str, vhost: str) -> int:
    with multiprocess_metrics():
        return _run_profile(n, database, vhost)


def _run_profile(n: int, database: str, vhost: str) -> int:
    from actors.relay import Relay
    from persistence.outbox import OutboxStore

    worker = InProcessWorker(database, vhost)
    settings, engine = worker.settings, worker.engine
    messages, process_all = worker.messages, worker.process_all

    process_all(messages([catalog_upsert(), billing_account_create()]))

    counted = worker.statements
    process_all(messages([order_create() for _ in range(WARMUP)]))
    statements = worker.statements - counted

    plain_n = max(n // 2, 1)
    cpu_started = time.process_time()
    plain = process_all(messages([order_create() for _ in range(plain_n)]))
    cpu = time.process_time() - cpu_started
    print(
        f"  CPU of this process: {cpu / plain_n * 1e3:.3f} ms/command (wall {plain / plain_n * 1e3:.3f})"
    )
    batch = messages([order_create() for _ in range(n)])
    profiler = cProfile.Profile()
    profiler.enable()
    wall = process_all(batch)
    profiler.disable()

    accepted = scalar(
        database,
        "SELECT count(*) FROM inbox WHERE type = 'order.create'"
        " AND outcome_type = 'command.accepted'",
    )
    expected = WARMUP + plain_n + n
    rows = scalar(database, "SELECT count(*) FROM outbox")

    relay = Relay(OutboxStore(engine), _ConfirmAll, batch=settings.relay_batch)
    relay_started = time.perf_counter()
    drained = relay.drain()
    relay_secs = time.perf_counter() - relay_started
    worker.close()

    stats = pstats.Stats(profiler, stream=io.StringIO())
    _print_report(
        n=n,
        plain_n=plain_n,
        plain=plain,
        wall=wall,
        statements=statements / WARMUP,
        accepted=(accepted, expected),
        relay=(drained, rows, relay_secs),
        stats=stats,
    )
    return 0 if accepted == expected else 1


def _print_report(
    *,
    n: int,
    plain_n: int,
    plain: float,
    wall: float,
    statements: float,
    accepted: tuple[int, int],
    relay: tuple[int, int, float],
    stats: pstats.Stats,
    out: Callable[[str], None] = print,
) -> None:
    drained, rows, relay_secs = relay
    out("OrderCare worker profile: InboundProcessor.process(order.create), one thread, PostgreSQL")
    out(
        f"  un-profiled: {plain_n} commands in {plain:.2f}s = {plain / plain_n * 1000:.2f} ms/command "
        f"({plain_n / plain:.0f} commands/s on one thread)"
    )
    out(f"  profiled:    {n} commands in {wall:.2f}s = {wall / n * 1000:.2f} ms/command")
    out(f"  SQL statements per command (cursor executes, pre-ping not included): {statements:.1f}")
    out(f"  inbox: {accepted[0]}/{accepted[1]} order.create accepted")
    out(
        f"  relay DB side (claim + delete, publisher confirms instantly): {drained} of {rows} rows "
        f"in {relay_secs:.2f}s = {drained / max(relay_secs, 1e-9):.0f} rows/s"
    )
    out("")
    out(summary(stats, wall, n))
    out("")
    out(f"Top {TOP} by cumulative time:")
    out(table(stats, "cumulative", TOP))
    out("")
    out(f"Top {TOP} by total (self) time:")
    out(table(stats, "tottime", TOP))
