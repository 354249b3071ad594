"""Structured logs: one JSON object a line. Callers pass ids and codes, never personal data."""

from __future__ import annotations

import logging
import sys
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
    logging.getLogger("pika").setLevel(logging.WARNING)
    # Dramatiq's actor logs "Received args=…" at DEBUG: the payload, with personal data.
    logging.getLogger("actors.bootstrap").setLevel(max(root.level, logging.INFO))


def _redact(arg: object) -> object:
    message_id = getattr(arg, "message_id", None)
    actor = getattr(arg, "actor_name", None)
    return f"{actor}(message_id={message_id})" if message_id and actor else arg
