"""The RabbitMQ topology OrderCare needs, declared idempotently by workers and relays.

Exchanges are durable topics routed by message type. The commands, warehouse and payments
exchanges each drain into a queue of the same name (Dramatiq adds `.DQ` for delayed
retries and `.XQ` for messages it gave up on), so a flood of warehouse messages never
queues in front of an agent's command. In ordering mode (ORDERCARE_ORDERED_PARTITIONS) each
of those queues is drained by `ordercare route` into a consistent-hash exchange
(`<exchange>.ordered`) whose partition queues (`<exchange>.ordered.<n>`) the workers
consume one message at a time. `ordercare.events` has an alternate
exchange so an event nobody is bound to yet is kept in `ordercare.events.unrouted`
instead of vanishing (for a week, by the policy in ops/rabbitmq/definitions.json).
"""

from __future__ import annotations

from typing import Any

from actors.settings import Settings

#: The exchange type of rabbitmq_consistent_hash_exchange.
CONSISTENT_HASH = "x-consistent-hash"


def queue_arguments(settings: Settings, queue: str) -> dict[str, Any]:
    """Arguments of an inbound queue: Dramatiq's dead-lettering plus the queue type."""
    args: dict[str, Any] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{queue}.XQ",
    }
    if settings.queue_type == "quorum":
        args["x-queue-type"] = "quorum"
    if queue in settings.partition_queues:
        # One consumer at a time across every worker process and host: with a prefetch of
        # one (actors/broker.py), a partition's messages apply one after the other.
        args["x-single-active-consumer"] = True
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
    for exchange in sorted(set(settings.partition_queues.values())):
        # RabbitMQ's consistent-hash exchange (a plugin shipped with it): the routing key
        # `ordercare route` gives is the order (or account) id.
        channel.exchange_declare(settings.ordered_exchange(exchange), CONSISTENT_HASH, durable=True)
    for queue, exchange in settings.partition_queues.items():
        channel.queue_declare(queue, durable=True, arguments=queue_arguments(settings, queue))
        # The binding key of a consistent-hash exchange is the queue's weight.
        channel.queue_bind(queue, settings.ordered_exchange(exchange), routing_key="1")


#: The most partitions ORDERCARE_ORDERED_PARTITIONS allows (actors/settings.py).
MAX_PARTITIONS = 64


def retire_partitions(connection: Any, settings: Settings) -> list[str]:
    """Delete the partition queues above ORDERCARE_ORDERED_PARTITIONS (all of them when
    ordering mode is off), with their delay queues, so that the consistent-hash exchange
    sends nothing to a partition no worker consumes any more. A queue still holding messages
    is left as it is and named in the returned list (stop the routers and let the workers
    drain it first)."""
    import pika.exceptions

    busy = []
    for exchange in settings.inbound_queues.values():
        for n in range(settings.ordered_partitions, MAX_PARTITIONS):
            queue = f"{settings.ordered_exchange(exchange)}.{n}"
            for name in (queue, f"{queue}.DQ"):
                channel = connection.channel()
                try:
                    held = channel.queue_declare(name, passive=True).method.message_count
                except pika.exceptions.ChannelClosedByBroker:  # 404: not there
                    continue
                if held:
                    busy.append(f"{name} ({held} messages)")
                else:
                    channel.queue_delete(name)
                channel.close()
    return busy
