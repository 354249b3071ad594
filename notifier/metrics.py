"""The notifier's Prometheus metrics (port 9466). Labels are bounded: kind, outcome, cause,
event type from the mailing table — never ids, names or addresses."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from notifier.kinds import MAILINGS

NOTIFICATIONS = Counter(
    "ordercare_notifications_total",
    "Customer e-mails by kind and outcome (sent, failed, retried, skipped_<reason>).",
    ["kind", "outcome"],
)
SEND_SECONDS = Histogram(
    "ordercare_notification_send_seconds",
    "Duration of one SendGrid request, whatever its answer.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    "ordercare_notification_retries_total",
    "Sends to be tried again, by cause (rate_limited, server_error, timeout, connection_error).",
    ["cause"],
)
OLDEST_UNSENT = Gauge(
    "ordercare_notifications_oldest_unsent_seconds",
    "Age of the oldest notification still pending or sending.",
)
EVENTS = Counter(
    "ordercare_notifier_events_total",
    "Events consumed, by type and outcome (recorded, duplicate, ignored, invalid).",
    ["type", "outcome"],
)


def type_label(event_type: object) -> str:
    """An event type as a bounded label: the mailed types, else "other"."""
    return event_type if isinstance(event_type, str) and event_type in MAILINGS else "other"


def serve(port: int, host: str = "127.0.0.1") -> None:
    start_http_server(port, addr=host)


def export_zeros() -> None:
    """Every series an alert reads at 0 from process start (a series first seen at 1 has no
    increase()): each kind's failed, sent and skipped_no_template, and each retry cause."""
    for kind in sorted({m.kind for m in MAILINGS.values()}):
        for outcome in ("sent", "failed", "skipped_no_template"):
            NOTIFICATIONS.labels(kind, outcome)
    for cause in ("rate_limited", "server_error", "timeout", "connection_error"):
        RETRIES.labels(cause)
    for event_type in [*sorted(MAILINGS), "other"]:
        EVENTS.labels(event_type, "invalid")
