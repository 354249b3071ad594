"""From a delivered event to committed notification rows: the consumer's work, before its ack.

A redelivered event finds its rows (unique per event and kind) and records nothing new.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from notifier import metrics
from notifier.kinds import MAILINGS, InvalidEvent, Planned, account_of, notifications_for
from notifier.store import NewNotification, NotificationStore
from notifier.templates import template_for

log = logging.getLogger("ordercare.notifier")

Outcome = Literal["recorded", "duplicate", "ignored", "invalid"]


class EventIntake:
    """Records the e-mails each event asks for; wakes the senders when one is due."""

    def __init__(self, store: NotificationStore, templates: Mapping[str, Mapping[str, str]],
                 wake: threading.Event | None = None) -> None:  # fmt: skip
        self.store = store
        self.templates = templates
        self.wake = wake

    def accept(self, body: bytes) -> Outcome:
        """Commit the rows for one event body. Raises only on database errors (retry later)."""
        envelope = _json(body)
        event_type = envelope.get("type") if envelope is not None else None
        if envelope is None:
            log.error("event is not a JSON object: dropped", extra={"bytes": len(body)})
            outcome: Outcome = "invalid"
        else:
            outcome = self._record(envelope)
        metrics.EVENTS.labels(metrics.type_label(event_type), outcome).inc()
        return outcome

    def _record(self, envelope: dict[str, Any]) -> Outcome:
        if envelope.get("type") not in MAILINGS:
            return "ignored"
        try:
            with self.store.intake() as tx:
                planned = notifications_for(envelope, tx.customer(account_of(envelope)))
                inserted = tx.insert([self._templated(p) for p in planned], datetime.now(UTC))
        except InvalidEvent as exc:
            log.error("event cannot be mailed", extra=_ids(envelope) | {"error": str(exc)})
            return "invalid"
        for row in inserted:
            if row.reason is not None:
                metrics.NOTIFICATIONS.labels(row.kind, f"skipped_{row.reason}").inc()
            log.info("notification recorded", extra=_ids(envelope) | {
                "notification_id": row.id, "kind": row.kind, "status": row.status,
                "reason": row.reason})  # fmt: skip
        if self.wake is not None and any(r.reason is None for r in inserted):
            self.wake.set()
        return "recorded" if inserted else "duplicate"

    def _templated(self, p: Planned) -> NewNotification:
        template = template_for(self.templates, p.kind, p.locale)
        if p.skip is None and template is None:
            log.warning("no template for this kind and locale: recorded as skipped",
                        extra={"event_id": p.event_id, "kind": p.kind, "locale": p.locale})  # fmt: skip
            return NewNotification(p, None, "no_template")
        return NewNotification(p, template, p.skip)


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _ids(envelope: dict[str, Any]) -> dict[str, Any]:
    """What may be logged of an event: its id and type."""
    return {
        "event_id": str(envelope.get("id"))[:200],
        "event_type": str(envelope.get("type"))[:100],
    }
