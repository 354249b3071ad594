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

import amqp_nodes
from actors.cli_errors import USAGE, CliFailure
from actors.settings import Settings


def complete_envelope(doc: dict[str, Any]) -> dict[str, Any]:
    """Fill in what a person writing a file by hand leaves out."""
    doc.setdefault("specversion", "1.0")
    doc.setdefault("id", str(uuid.uuid4()))
    doc.setdefault("source", "ordercare-cli")
    doc.setdefault("time", datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    return doc


#: Exit code when nobody answered: 1 means the command was rejected.
NOT_ANSWERED = 2


def read_command(file: Path) -> dict[str, Any]:
    """The JSON object in `file`; a CliFailure naming the file and the place when it is not."""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CliFailure(
            "malformed JSON",
            f"{file} line {exc.lineno} column {exc.colno}",
            f"{exc.msg}; fix the file",
            USAGE,
        ) from exc
    except UnicodeDecodeError as exc:
        raise CliFailure("not UTF-8 text", str(file), "save it as UTF-8 JSON", USAGE) from exc
    if not isinstance(doc, dict):
        raise CliFailure(
            f"the file holds a JSON {type(doc).__name__ if doc is not None else 'null'}, "
            "not an object",
            str(file),
            "write one CloudEvent as a JSON object (see ops/examples/)",
            USAGE,
        )
    return doc


def publish_and_wait(settings: Settings, file: Path, timeout: float) -> int:
    """Publish to the type's exchange with a reply queue; print the outcome. 0 accepted, 1 not,
    2 not answered (or not publishable)."""
    doc = complete_envelope(read_command(file))
    connection = amqp_nodes.connect(settings.amqp_url)
    where = f"{amqp_nodes.node_of(connection)} vhost {amqp_nodes.nodes(settings.amqp_url)[0].vhost}"
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
            raise CliFailure(
                "no queue is bound to the exchange",
                f"{exchange} on {where}",
                "start `ordercare worker` or run `ordercare broker setup`",
                NOT_ANSWERED,
            ) from None
        for method, _props, body in channel.consume(reply_to, inactivity_timeout=timeout):
            if method is None:
                raise CliFailure(
                    f"no outcome within {timeout}s for command {doc['id']}",
                    where,
                    "is a worker and a relay running? (`ordercare doctor` checks the setup)",
                    NOT_ANSWERED,
                )
            outcome = json.loads(body)
            print(json.dumps(outcome, indent=2))
            return 0 if outcome.get("type") == "command.accepted" else 1
    finally:
        connection.close()
    return 2  # pragma: no cover
