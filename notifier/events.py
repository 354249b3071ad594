"""The notifier's own events as rows of OrderCare's outbox, which OrderCare's relay publishes.

The same shape `actors/outbound.py` gives OrderCare's events: a CloudEvents 1.0 JSON body,
routed by its type on the events exchange, the AMQP message id being the event id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from contracts.notifications import CustomerNotificationFailed, CustomerNotified

SOURCE = "ordercare/notifier"
CONTENT_TYPE = "application/cloudevents+json"

NotifierEvent = CustomerNotified | CustomerNotificationFailed


def outbox_row(
    exchange: str,
    event: NotifierEvent,
    *,
    causation_id: str,
    correlation_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The values of one `outbox` row: the event follows from (causationid) the event that
    asked for the e-mail and carries its correlationid on."""
    event_id, event_type = str(uuid.uuid4()), event.TYPE
    body = orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": SOURCE,
            "type": event_type,
            "time": now.isoformat().replace("+00:00", "Z"),
            "subject": event.order_id or event.account_id,
            "datacontenttype": "application/json",
            "correlationid": correlation_id,
            "causationid": causation_id,
            "data": event.model_dump(mode="json"),
        }
    )
    return {
        "exchange": exchange,
        "routing_key": event_type,
        "message_id": event_id,
        "body": body,
        "properties": {"content_type": CONTENT_TYPE, "type": event_type},
        "created_at": now,
        "available_at": now,
        "attempts": 0,
    }
