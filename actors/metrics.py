"""Prometheus metrics. Labels are bounded: message type, outcome, code, reason — never ids.

Worker processes run under Dramatiq's process model, so `ordercare worker` sets
PROMETHEUS_MULTIPROC_DIR before anything imports prometheus_client and serves the
aggregate of every process from one port (actors/metrics_server.py, actors/health.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from contracts.appeasements import AppeasementGranted

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

COMMANDS = Counter(
    "ordercare_commands_total",
    "Inbound messages by type and outcome (accepted, rejected, duplicate, dead_lettered).",
    ["type", "outcome"],
)
HANDLING = Histogram(
    "ordercare_command_handling_seconds",
    "Time to validate, apply and record one inbound message.",
    ["type"],
    buckets=_LATENCY_BUCKETS,
)
END_TO_END = Histogram(
    "ordercare_command_end_to_end_seconds",
    "From the envelope's `time` to the outcome being committed.",
    ["type"],
    buckets=_LATENCY_BUCKETS,
)
REJECTIONS = Counter("ordercare_rejections_total", "Rejected commands by code.", ["code"])
DEAD_LETTERS = Counter(
    "ordercare_dead_letters_total", "Inbound messages dead-lettered, by reason.", ["reason"]
)
RETRIES = Counter(
    "ordercare_retries_total", "Messages handed back for a retry, by error kind.", ["kind"]
)

MONEY = Counter(
    "ordercare_money_total",
    "Money moved by the commands, in major units of the currency: credited (credit memos), "
    "refunded (to the original payment or store credit), increased (net rises of totals), "
    "released (authorisation no longer captured), store_credit (goodwill granted as store "
    "credit; a discount shows as credited and refunded).",
    ["kind", "currency"],
)

RELAY_PUBLISHED = Counter(
    "ordercare_outbox_published_total", "Outbox rows confirmed by the broker."
)
RELAY_FAILED = Counter(
    "ordercare_outbox_publish_failures_total",
    "Outbox rows nacked or returned, by reason.",
    ["reason"],
)
DIRECT_PUBLISHED = Counter(
    "ordercare_direct_publish_total",
    "Outbox messages a worker published itself after its commit, by result: confirmed (its "
    "row deleted in a batch) or fallback (not confirmed: the relay publishes it after the "
    "grace period).",
    ["result"],
)
QUERY_READS = Counter(
    "ordercare_query_reads_total",
    "Queries answered, by the database that answered (replica or primary) and why: "
    "replica_current, no_replica (none configured), replica_behind (it had not caught up "
    "with the query's min_version) or replica_down (it failed).",
    ["database", "why"],
)
#: (database, why) pairs of ordercare_query_reads_total.
QUERY_READ_LABELS = (
    ("replica", "replica_current"),
    ("primary", "no_replica"),
    ("primary", "replica_behind"),
    ("primary", "replica_down"),
)
OUTBOX_BACKLOG = Gauge(
    "ordercare_outbox_backlog",
    "Rows waiting in the outbox (not counting rows in their direct-publishing grace period).",
    multiprocess_mode="max",
)
OUTBOX_AGE = Gauge(
    "ordercare_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row past its direct-publishing grace period.",
    multiprocess_mode="max",
)

SWEEP_LAST_SUCCESS = Gauge(
    "ordercare_sweep_last_success_timestamp_seconds",
    "Unix time the sweeper last finished a round (0 until its first).",
    multiprocess_mode="max",
)
SWEEP_COMMANDS = Counter(
    "ordercare_sweep_commands_total",
    "Commands the sweeper sent for due deadlines (what it expired), by command type.",
    ["type"],
)

#: Message types that may appear as a label; anything else is counted as "unknown".
KNOWN_TYPES: set[str] = set()


def type_label(message_type: str | None) -> str:
    """A bounded label for a message type."""
    return message_type if message_type in KNOWN_TYPES else "unknown"


def count_money(events: Iterable[object]) -> None:
    """Add a command's money documents to `ordercare_money_total` (after its commit)."""
    for event in events:
        if isinstance(event, AppeasementGranted) and event.appeasement.kind == "store_credit":
            granted = event.appeasement
            MONEY.labels("store_credit", granted.currency).inc(float(granted.amount))
        data = getattr(event, "settlement", None)
        if data is None:
            continue
        for memo in data.credit_memos:
            MONEY.labels("credited", memo.currency).inc(float(memo.total))
        for refund in data.refunds:
            MONEY.labels("refunded", refund.currency).inc(float(refund.amount))
        currency = event.new_totals.currency  # type: ignore[attr-defined]
        if data.direction == "increase":
            MONEY.labels("increased", currency).inc(float(data.difference))
        if data.authorization_released:
            MONEY.labels("released", currency).inc(float(data.authorization_released))


#: Every reason a message is dead-lettered for (actors/inbound.py, actors/body_screen.py).
DEAD_LETTER_REASONS = (
    "not_json",
    "not_an_envelope",
    "too_large",
    "too_complex",
    "too_deep",
    "nul_character",
    "card_number",
    "handler_error",
)
RELAY_FAILURE_REASONS = ("reply_queue_gone", "unroutable", "nacked", "unencodable", "refused")


def export_worker_zeros() -> None:
    """Export every labelled counter an alert reads at 0 from process start: a series that
    first appears at 1 has no increase(), so the first one after a restart would not alert."""
    from typing import get_args

    from contracts.outcomes import RejectionCode

    for code in get_args(RejectionCode):
        REJECTIONS.labels(code)
    for reason in DEAD_LETTER_REASONS:
        DEAD_LETTERS.labels(reason)
    for kind in ("infrastructure", "unexpected"):
        RETRIES.labels(kind)
    for result in ("confirmed", "fallback"):
        DIRECT_PUBLISHED.labels(result)
    for database, why in QUERY_READ_LABELS:
        QUERY_READS.labels(database, why)


def export_relay_zeros() -> None:
    for reason in RELAY_FAILURE_REASONS:
        RELAY_FAILED.labels(reason)


def register_types(types: Iterable[str]) -> None:
    KNOWN_TYPES.update(types)
