"""In-process timing of the sequentially timed amendments (amendments.TIMED): the worker's
InboundProcessor.process on the real PostgreSQL, no broker and no relay, so the end-to-end
figures split into handling and pipeline. `pipeline.py --profile --workload amend` adds
where the handling time goes (cProfile).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from dataclasses import dataclass

from amendments import TIMED, Workload, timed_amendments
from harness import BenchError, reference_data, scalar
from measure import percentile
from profile_worker import TOP, InProcessWorker, multiprocess_metrics, summary, table

#: Untimed amendments before each timed series (even: the quantities end where they began).
WARMUP = 4

#: Inclusive time of the steps of an amendment (overlapping).
ENTRY_POINTS: tuple[tuple[str, str], ...] = (
    ("InboundProcessor.process (all of it)", r"actors/inbound\.py:\d+\(process\)$"),
    ("pydantic model_validate (Envelope + AmendOrder)", r"pydantic/main\.py:\d+\(model_validate\)$"),
    ("load: SqlOrders.get_for_update", r"persistence/repositories\.py:\d+\(get_for_update\)$"),
    ("  order_from_row (JSON document -> aggregate)", r"persistence/mapping\.py:\d+\(order_from_row\)$"),
    ("handler amend_order (incl. load, settle, save)", r"services/orders/handlers\.py:\d+\(amend_order\)$"),
    ("  Order.amend (the edits)", r"services/orders/model\.py:\d+\(amend\)$"),
    ("  Order.settle (price again, settlement)", r"services/orders/model\.py:\d+\(settle\)$"),
    ("  price_order (all calls)", r"services/pricing\.py:\d+\(price_order\)$"),
    ("  events.describe (events, result, audit)", r"services/orders/events\.py:\d+\(describe\)$"),
    ("  events.audit_state (audit snapshot)", r"services/orders/events\.py:\d+\(audit_state\)$"),
    ("save: SqlOrders.save (document + UPDATE)", r"persistence/repositories\.py:\d+\(save\)$"),
    ("  order_to_doc (aggregate -> JSON document)", r"persistence/mapping\.py:\d+\(order_to_doc\)$"),
    ("InboundProcessor._accept_in (outcome, inbox, outbox, audit, commit)", r"actors/inbound\.py:\d+\(_accept_in\)$"),
    ("pydantic model_dump (events, outcome, audit)", r"pydantic/main\.py:\d+\(model_dump\)$"),
    ("SQLAlchemy Connection.execute (all statements)", r"sqlalchemy/engine/base\.py:\d+\(execute\)$"),
    ("Connection.commit (COMMIT round trip)", r"sqlalchemy/engine/base\.py:\d+\(commit\)$"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Timing:
    """One timed series: wall time of each command; per command, the mean CPU time, SQL
    statements, and outbox rows (events + outcome) and their bytes for the relay to publish."""

    label: str
    wall_ms: list[float]
    cpu_ms: float
    statements: float
    messages: float
    kbytes: float

    @property
    def median(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def p90(self) -> float:
        return percentile(sorted(self.wall_ms), 0.90)


def time_amendments(
    database: str, vhost: str, reps: int, profile: bool = False
) -> tuple[list[Timing], dict[str, str]]:
    """Each TIMED amendment `reps` times, one at a time; with `profile`, the same again under
    cProfile, reported per label (else only for the first label). An odd `reps` is rounded
    up: the quantities must end where they began."""
    reps += reps % 2
    with multiprocess_metrics():
        worker = InProcessWorker(database, vhost)
        try:
            workload = Workload(*reference_data(database))
            seed = [workload.catalog_upsert(), *workload.accounts()]
            seed += [workload.create(order) for order in workload.timed_orders()]
            worker.process_all(worker.messages(seed))
            timings = [_series(worker, database, label, reps) for label in TIMED]
            chosen = list(TIMED) if profile else list(TIMED)[:1]
            profiles = {label: _profiled(worker, label, reps, profile) for label in chosen}
        finally:
            worker.close()
    _check_accepted(database)
    return timings, profiles


def _series(worker: InProcessWorker, database: str, label: str, reps: int) -> Timing:
    batch = worker.messages(timed_amendments(label, WARMUP + reps))
    worker.process_all(batch[:WARMUP])
    rows, size = _outbox(database)
    statements, cpu = worker.statements, time.process_time()
    walls = [worker.process_all([m]) * 1000 for m in batch[WARMUP:]]
    cpu_ms = (time.process_time() - cpu) / reps * 1000
    rows_after, size_after = _outbox(database)
    return Timing(
        label,
        walls,
        cpu_ms,
        (worker.statements - statements) / reps,
        (rows_after - rows) / reps,
        (size_after - size) / reps / 1000,
    )


def _outbox(database: str) -> tuple[int, int]:
    """Rows and body bytes in the outbox (nothing relays them here)."""
    rows = scalar(database, "SELECT count(*) FROM outbox")
    size = scalar(database, "SELECT coalesce(sum(length(body)), 0) FROM outbox")
    return int(rows), int(size)


def _profiled(worker: InProcessWorker, label: str, reps: int, tables: bool) -> str:
    batch = worker.messages(timed_amendments(label, reps + reps % 2))
    profiler = cProfile.Profile()
    profiler.enable()
    wall = worker.process_all(batch)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    text = summary(stats, wall, len(batch), ENTRY_POINTS)
    if tables:
        text += f"\n\nTop {TOP} by cumulative time:\n{table(stats, 'cumulative', TOP)}"
        text += f"\n\nTop {TOP} by total (self) time:\n{table(stats, 'tottime', TOP)}"
    return text


def _check_accepted(database: str) -> None:
    refused = scalar(
        database, "SELECT count(*) FROM inbox WHERE outcome_type <> 'command.accepted'"
    )
    if refused:
        sample = scalar(
            database,
            "SELECT convert_from(outcome, 'UTF8') FROM inbox "
            "WHERE outcome_type <> 'command.accepted' LIMIT 1",
        )
        raise BenchError(f"in-process: {refused} command(s) not accepted, e.g. {sample}")


def print_timings(timings: list[Timing], profiles: dict[str, str]) -> None:
    print(
        "In-process (InboundProcessor.process on one thread, real PostgreSQL, no broker/relay; "
        f"{len(timings[0].wall_ms)} each, after {WARMUP} untimed):"
    )
    print(
        f"  {'amendment':<24}{'median ms':>10}{'p90 ms':>9}{'CPU ms':>9}{'SQL stmts':>11}"
        f"{'messages':>10}{'kB out':>8}"
    )
    for t in timings:
        print(
            f"  {t.label:<24}{t.median:>10.2f}{t.p90:>9.2f}{t.cpu_ms:>9.2f}{t.statements:>11.1f}"
            f"{t.messages:>10.1f}{t.kbytes:>8.1f}"
        )
    for label, text in profiles.items():
        print()
        print(f"Where the time of one amendment goes ({label}, under cProfile):")
        print(text)


def run_amend_profile(database: str, vhost: str, reps: int) -> int:
    """`pipeline.py --profile --workload amend`: timings and a full profile per amendment."""
    timings, profiles = time_amendments(database, vhost, reps, profile=True)
    print_timings(timings, profiles)
    return 0
