"""`ordercare publish FILE`: what a helpdesk does, from the command line."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pika
import pika.exceptions

from actors.settings import Settings


def complete_envelope(doc: dict[str, Any]) -> dict[str, Any]:
    """Fill in what a person writing a file by hand leaves out."""
    doc.setdefault("specversion", "1.0")
    doc.setdefault("id", str(uuid.uuid4()))
    doc.setdefault("source", "ordercare-cli")
    doc.setdefault("time", datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    return doc


def publish_and_wait(settings: Settings, file: Path, timeout: float) -> int:
    """Publish to the type's exchange with a reply queue; print the outcome. 0 accepted, 1 not."""
    doc = complete_envelope(json.loads(file.read_text()))
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        reply_to = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.confirm_delivery()
        props = pika.BasicProperties(
            content_type="application/cloudevents+json",
            delivery_mode=2,
            reply_to=reply_to,
            correlation_id=doc["id"],
            message_id=doc["id"],
        )
        exchange = settings.exchange_of(str(doc.get("type")))
        try:
            channel.basic_publish(
                exchange,
                str(doc.get("type")),
                orjson.dumps(doc),
                props,
                mandatory=True,
            )
        except pika.exceptions.UnroutableError:
            print(
                f"no queue is bound to {exchange}: start `ordercare worker` "
                "or run `ordercare broker setup`"
            )
            return 2
        for method, _props, body in channel.consume(reply_to, inactivity_timeout=timeout):
            if method is None:
                print(
                    f"no outcome within {timeout}s for command {doc['id']}: is a worker and a relay running?"
                )
                return 2
            outcome = json.loads(body)
            print(json.dumps(outcome, indent=2))
            return 0 if outcome.get("type") == "command.accepted" else 1
    finally:
        connection.close()
    return 2  # pragma: no cover
