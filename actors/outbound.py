"""Building the CloudEvents OrderCare publishes: events, outcomes and replies."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from persistence.outbox import OutboundMessage

CONTENT_TYPE = "application/cloudevents+json"


@dataclass(frozen=True, slots=True)
class Cause:
    """The inbound message an outbound one answers or follows from."""

    command_id: str
    correlation_id: str | None
    reply_to: str | None
    #: Bytes when the sender's correlation_id was not text (a binary UUID, say): answered as
    #: sent. None when there is none that fits an AMQP short string.
    reply_correlation_id: str | bytes | None
    #: False when the command asked that the customer not be told (no e-mail).
    notify_customer: bool = True


class ReplyRefused(Exception):
    """The broker refused a reply (it closed the connection for its reply_to): the message's
    fault, not an outage, so not retried without bound."""


def cloudevent(
    source: str, type: str, subject: str | None, data: dict[str, Any], cause: Cause, now: datetime
) -> tuple[str, bytes]:
    """A CloudEvents 1.0 JSON body with a fresh id; returns (id, body)."""
    event_id = str(uuid.uuid4())
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type,
        "time": now.isoformat().replace("+00:00", "Z"),
        "subject": subject,
        "datacontenttype": "application/json",
        "correlationid": cause.correlation_id,
        "causationid": cause.command_id,
        "data": data,
    }
    if not cause.notify_customer:
        # A CloudEvents extension attribute: the notifier records the e-mail as suppressed.
        envelope["notifycustomer"] = False
    return event_id, orjson.dumps(envelope)


def to_exchange(exchange: str, event_type: str, event_id: str, body: bytes) -> OutboundMessage:
    """An event on a topic exchange, routed by its type."""
    props = {"content_type": CONTENT_TYPE, "type": event_type}
    return OutboundMessage(exchange, event_type, event_id, body, props)


def reply_correlation(sent: str | bytes | None, command_id: str) -> str | bytes | None:
    """The correlation_id of a reply: the sender's, else the command's id when it fits an
    AMQP short string (255 bytes; an id may be 200 characters of up to 4 bytes each)."""
    if sent is not None:
        return sent
    return command_id if len(command_id.encode()) <= SHORTSTR_BYTES else None


#: The longest AMQP short string (message properties such as correlation_id), in bytes.
SHORTSTR_BYTES = 255


def to_reply(
    reply_to: str,
    correlation_id: str | bytes | None,
    event_type: str,
    event_id: str,
    body: bytes,
) -> OutboundMessage:
    """The same outcome for the sender's reply_to queue, through the default exchange."""
    props: dict[str, Any] = {"content_type": CONTENT_TYPE, "type": event_type}
    if correlation_id is None:
        pass
    elif isinstance(correlation_id, bytes):
        # Properties are stored as JSON in the outbox: bytes travel as base64 until published.
        props[_CORRELATION_BASE64] = base64.b64encode(correlation_id).decode("ascii")
    else:
        props["correlation_id"] = correlation_id
    return OutboundMessage("", reply_to, event_id, body, props)


_CORRELATION_BASE64 = "correlation_id_base64"


def amqp_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """An outbound message's stored properties as pika.BasicProperties arguments."""
    if _CORRELATION_BASE64 not in properties:
        return properties
    props = {k: v for k, v in properties.items() if k != _CORRELATION_BASE64}
    props["correlation_id"] = base64.b64decode(properties[_CORRELATION_BASE64])
    return props
