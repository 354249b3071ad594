"""Structured logs: one JSON object a line. Callers pass ids and codes, never personal data."""

from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import UTC, datetime

import orjson

from services.accounts.cards import CardScan, is_identifier_key

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with its `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.args, tuple):
            # Dramatiq logs failed messages with their arguments, which carry the payload
            # (personal data): keep the actor and message id only, whatever the logger.
            record.args = tuple(_redact(arg) for arg in record.args)
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        # The last guard: an exception's text or a value logged by a library may quote
        # input; card-like digit runs never reach a log line. Identifiers (`command_id`)
        # stay as they are, so a log can be searched for them.
        scan = CardScan()
        for key, value in entry.items():
            if isinstance(value, str) and not is_identifier_key(key):
                entry[key] = scan.mask(value)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for every handler of the root logger (adding one if none)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level.upper())
    for handler in root.handlers:
        if not any(isinstance(f, ReconnectNoise) for f in handler.filters):
            handler.addFilter(ReconnectNoise())
    logging.getLogger("pika").setLevel(logging.WARNING)
    # "Retrying message … in N ms", per message and retry: an outage's messages are one
    # `Outage` line; any other error has Dramatiq's "Failed to process message" line.
    logging.getLogger("dramatiq.middleware.retries.Retries").setLevel(logging.WARNING)
    # Dramatiq's actor logs "Received args=…" at DEBUG: the payload, with personal data.
    logging.getLogger("actors.bootstrap").setLevel(max(root.level, logging.INFO))


def _redact(arg: object) -> object:
    message_id = getattr(arg, "message_id", None)
    actor = getattr(arg, "actor_name", None)
    return f"{actor}(message_id={message_id})" if message_id and actor else arg


class Outage:
    """Logs one line when an outage of a dependency starts and one, with its duration, when it
    ends — not one per retry (thread-safe; one per process and dependency)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log = logger
        self.what = what
        self.since: float | None = None
        self._lock = threading.Lock()

    def failed(self, detail: str) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        self.log.error(f"{self.what} unreachable: {detail}; retrying until it is back")

    def recovered(self, where: str = "") -> None:
        """The outage is over; `where` names what was reached (a broker node, say)."""
        with self._lock:
            if self.since is None:
                return
            took, self.since = time.monotonic() - self.since, None
        self.log.warning(f"{self.what} reachable again after {took:.1f} s"
                         + (f" ({where})" if where else ""),
                         extra={"outage_s": round(took, 1)})  # fmt: skip


#: Loggers that report each failed connection attempt (pika, per socket and per step).
_PIKA_ATTEMPTS = (
    "pika.adapters.utils.connection_workflow",
    "pika.adapters.utils.io_services_utils",
)
#: The blocking connection's own connect and close paths: its other lines (a message the
#: broker returned or nacked, a cancel or confirm gone wrong) are not outage noise.
_PIKA_BLOCKING = "pika.adapters.blocking_connection"
_PIKA_CONNECTING = frozenset({"_create_connection", "_flush_output", "close"})
#: pika's lines for one failed connection attempt (a node that is down, among several tried
#: in turn: amqp_nodes logs which one answered, `Outage` when none did).
_PIKA_BASE = "pika.adapters.base_connection"
_PIKA_ATTEMPT_FAILED = (
    "Full-stack connection workflow failed",
    "Self-initiated stack bring-up failed",
)
#: Dramatiq's per-queue, per-retry lines about a lost broker connection.
_DRAMATIQ_RECONNECTS = ("Consumer encountered a connection error", "Restarting consumer in")


class ReconnectNoise(logging.Filter):
    """Drops the lines that repeat per connection attempt, per queue or per message during a
    broker or database outage; OrderCare's own `Outage` lines say when it started and ended
    instead. Dramatiq's "Failed to process message" stays for every other error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _PIKA_ATTEMPTS:
            return False
        if record.name == _PIKA_BLOCKING:
            return record.funcName not in _PIKA_CONNECTING
        if record.name == _PIKA_BASE:
            return not str(record.msg).startswith(_PIKA_ATTEMPT_FAILED)
        if record.name.startswith("dramatiq.worker.ConsumerThread"):
            return not str(record.msg).startswith(_DRAMATIQ_RECONNECTS)
        if record.name.startswith("dramatiq.worker.WorkerThread") and record.exc_info:
            from actors.failures import is_infrastructure

            return not is_infrastructure(record.exc_info[1])  # type: ignore[arg-type]
        return True


def describe(exc: BaseException | None) -> str:
    """An error in one line: a database error by its driver's first line, without the SQL."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {text[:300]}"
