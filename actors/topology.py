"""The RabbitMQ topology OrderCare needs, declared idempotently by workers and relays.

Exchanges are durable topics routed by message type. The commands, warehouse and payments
exchanges each drain into a queue of the same name (Dramatiq adds `.DQ` for delayed
retries and `.XQ` for messages it gave up on), so a flood of warehouse messages never
queues in front of an agent's command. `ordercare.events` has an alternate
exchange so an event nobody is bound to yet is kept in `ordercare.events.unrouted`
instead of vanishing (for a week, by the policy in ops/rabbitmq/definitions.json).
"""

from __future__ import annotations

from typing import Any

from actors.settings import Settings


def queue_arguments(settings: Settings, queue: str) -> dict[str, Any]:
    """Arguments of an inbound queue: Dramatiq's dead-lettering plus the queue type."""
    args: dict[str, Any] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{queue}.XQ",
    }
    if settings.queue_type == "quorum":
        args["x-queue-type"] = "quorum"
    return args


def _plain_queue_arguments(settings: Settings) -> dict[str, Any]:
    return {"x-queue-type": "quorum"} if settings.queue_type == "quorum" else {}


def declare(channel: Any, settings: Settings) -> None:
    """Declare exchanges, queues and bindings on a pika channel (blocking)."""
    plain = _plain_queue_arguments(settings)
    channel.exchange_declare(settings.unrouted_queue, "fanout", durable=True)
    # Its retention (a week) is a policy in ops/rabbitmq/definitions.json, not an argument:
    # a policy can change without redeclaring the queue.
    channel.queue_declare(settings.unrouted_queue, durable=True, arguments=plain)
    channel.queue_bind(settings.unrouted_queue, settings.unrouted_queue)
    channel.exchange_declare(
        settings.events_exchange,
        "topic",
        durable=True,
        arguments={"alternate-exchange": settings.unrouted_queue},
    )
    channel.queue_declare(settings.dead_letter_queue, durable=True, arguments=plain)
    for exchange in (
        settings.commands_exchange,
        settings.warehouse_exchange,
        settings.payments_exchange,
    ):
        channel.exchange_declare(exchange, "topic", durable=True)
    for queue, exchange in settings.inbound_queues.items():
        channel.queue_declare(queue, durable=True, arguments=queue_arguments(settings, queue))
        channel.queue_bind(queue, exchange, routing_key="#")
