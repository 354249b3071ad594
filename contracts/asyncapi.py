"""The AsyncAPI 3 document and per-message JSON Schemas, generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from contracts.envelope import Envelope
from contracts.registry import COMMANDS, EVENTS, ORIGINS, QUERIES

VERSION = "0.1.0"


def _mode(message_type: str) -> JsonSchemaMode:
    """Inbound messages are documented as validated, outbound ones as serialised."""
    return "validation" if message_type in COMMANDS or message_type in QUERIES else "serialization"


def message_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per message type: the `data` of its envelope."""
    schemas: dict[str, dict[str, Any]] = {"envelope": Envelope.model_json_schema()}
    models: dict[str, type[BaseModel]] = {**COMMANDS, **QUERIES, **EVENTS}
    for message_type, model in sorted(models.items()):
        schemas[message_type] = model.model_json_schema(mode=_mode(message_type))
    return schemas


def document(exchanges: dict[str, str] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document: channels per exchange, one message per type."""
    names = {
        "commands": "ordercare.commands",
        "warehouse": "ordercare.warehouse",
        "payments": "ordercare.payments",
        "events": "ordercare.events",
        **(exchanges or {}),
    }
    messages = {
        t.replace(".", "_"): _message(t, m)
        for t, m in sorted({**COMMANDS, **QUERIES, **EVENTS}.items())
    }
    inbound = {
        origin: sorted(t for t, o in ORIGINS.items() if o == origin)
        for origin in ("commands", "warehouse", "payments")
    }
    inbound["commands"] = sorted([*inbound["commands"], *QUERIES])
    publishers = {
        "commands": "Helpdesks and the storefront publish here.",
        "warehouse": "Warehouses (WMS) publish here.",
        "payments": "The payment service publishes here.",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "OrderCare",
            "version": VERSION,
            "description": "Commands and queries in, domain events and outcomes out. Every message is a "
            "CloudEvents 1.0 envelope in JSON structured mode; the routing key is its `type`. "
            "Amounts are decimal strings beside an ISO 4217 currency.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": {
            **{
                origin: _channel(names[origin], types, publishers[origin])
                for origin, types in inbound.items()
            },
            "events": _channel(
                names["events"], sorted(EVENTS), "OrderCare publishes here, routed by type."
            ),
        },
        "operations": {
            **{
                f"receive_{origin}": {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{origin}"},
                    "summary": f"OrderCare consumes what arrives on {names[origin]}.",
                }
                for origin in inbound
            },
            "publishEvent": {
                "action": "send",
                "channel": {"$ref": "#/channels/events"},
                "summary": "OrderCare publishes outcomes and domain events.",
            },
        },
        "components": {"messages": messages},
    }


def _channel(exchange: str, types: list[str], description: str) -> dict[str, Any]:
    return {
        "address": exchange,
        "description": description,
        "messages": {
            t.replace(".", "_"): {"$ref": f"#/components/messages/{t.replace('.', '_')}"}
            for t in types
        },
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": exchange, "type": "topic", "durable": True, "vhost": "/"},
            }
        },
    }


def _message(message_type: str, model: type[BaseModel]) -> dict[str, Any]:
    data = model.model_json_schema(
        mode=_mode(message_type),
        ref_template="#/components/messages/"
        + message_type.replace(".", "_")
        + "/payload/properties/data/$defs/{model}",
    )
    return {
        "name": message_type,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().splitlines()[0],
        "payload": {
            "type": "object",
            "required": ["specversion", "id", "source", "type", "data"],
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {"type": "string", "description": "Unique per message; the idempotency key."},
                "source": {"type": "string"},
                "type": {"const": message_type},
                "time": {"type": "string", "format": "date-time"},
                "subject": {"type": "string"},
                "correlationid": {"type": "string"},
                "causationid": {"type": "string"},
                "datacontenttype": {"const": "application/json"},
                "data": data,
            },
        },
    }
