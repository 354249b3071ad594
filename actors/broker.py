"""Dramatiq over RabbitMQ, consuming plain CloudEvents.

Publishers never see Dramatiq's message format: a delivery that arrives through one of
OrderCare's exchanges is wrapped, as it is, into a Dramatiq message for the actor that
drains its queue. Dramatiq's own re-enqueues (retries, delays) arrive through the default
exchange in Dramatiq's format and are decoded as usual. Only OrderCare's broker user may
publish to the default exchange (ops/rabbitmq/definitions.json), so a publisher cannot
forge an internal message.
"""

from __future__ import annotations

import base64
import logging
import re
import time
import uuid
from typing import Any

import pika
import pika.exceptions
from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer, _RabbitmqMessage
from dramatiq.common import q_name
from dramatiq.errors import ConnectionClosed, DecodeError

import amqp_nodes
from actors import health
from actors.logs import Outage
from actors.outbound import ReplyRefused, amqp_properties
from actors.screening import (
    KEPT_PREFIX_BYTES,
    clean_text,
    printable,
    tolerate_undecodable_headers,
)
from actors.settings import Settings
from actors.topology import queue_arguments

tolerate_undecodable_headers()

log = logging.getLogger("ordercare.worker")
#: The header in which `ordercare route` keeps a message's original routing key (its type).
ROUTED_TYPE = "x-ordercare-type"
#: This worker process's broker outage: one line when its consumers lose the broker, one
#: when they are back (Dramatiq's per-queue, per-retry lines are filtered, actors/logs.py).
BROKER_OUTAGE = Outage(log, "broker")


class CloudEventsBroker(RabbitmqBroker):
    """A RabbitmqBroker whose consumers accept raw CloudEvents on OrderCare's queues.

    With several nodes in ORDERCARE_AMQP_URL, every connection (a consumer's, a worker
    thread's for replies and retries) goes to the first node that accepts it, so after its
    node died a reconnect lands on a live one."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.nodes = amqp_nodes.nodes(settings.amqp_url)
        # A list of URLs: Dramatiq's consumers hand pika every node's parameters, in order.
        super().__init__(url=[node.url for node in self.nodes], **kwargs)
        self.settings = settings
        #: queue name -> the actor that handles raw messages arriving on it.
        self.raw_actors: dict[str, str] = {}
        #: queue name -> the exchange it drains (bound with "#").
        self.bindings: dict[str, str] = {}

    @property
    def consumer_class(self) -> type[_RabbitmqConsumer]:
        return CloudEventsConsumer

    @property
    def connection(self) -> Any:
        """The calling thread's connection, to the first node that accepts one."""
        connection = getattr(self.state, "connection", None)
        if connection is None:
            connection = self.state.connection = amqp_nodes.connect(self.nodes)
            self.connections.add(connection)
        return connection

    @connection.deleter
    def connection(self) -> None:
        RabbitmqBroker.connection.fdel(self)  # type: ignore[attr-defined]

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        return queue_arguments(self.settings, queue_name)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        """Dramatiq's queue of given-up messages, classic (ops/rabbitmq/definitions.json), so it
        lives on one node of a cluster. While that node is down the broker answers 404 "home
        node ... is down": the queue exists, and a worker starting then must still consume
        its inbound queues (the quorum ones, served by the nodes left). What is given up on
        meanwhile cannot be dead-lettered into it (ops/README.md, "Cluster")."""
        try:
            return super()._declare_xq_queue(queue_name)  # type: ignore[no-untyped-call]
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404 or "home node" not in str(exc.reply_text):
                raise
            del self.channel  # closed by the refusal: the next use opens another
            log.warning("the queue of given-up messages is on a node that is down; consuming "
                        "without it", extra={"queue": f"{queue_name}.XQ", "reason": exc.reply_text[:200]})  # fmt: skip
            return None

    def _declare_queue(self, queue_name: str) -> Any:
        """Declare the queue and, for an inbound queue, its binding: a queue deleted and
        declared again by Dramatiq is bound again too."""
        declared = super()._declare_queue(queue_name)  # type: ignore[no-untyped-call]
        exchange = self.bindings.get(queue_name)
        if exchange:
            # A partition's binding key is its weight in the consistent-hash exchange.
            key = "1" if queue_name in self.settings.partition_queues else "#"
            self.channel.queue_bind(queue_name, exchange, routing_key=key)
        return declared

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        """A partition queue (ordering mode) is taken one message at a time: the next of
        that partition is delivered only once this one is acked."""
        if q_name(queue_name) in self.settings.partition_queues and not queue_name.endswith(".DQ"):
            prefetch = 1
        return super().consume(queue_name, prefetch, timeout)


class CloudEventsConsumer(_RabbitmqConsumer):
    """Wraps foreign deliveries into messages for the queue's raw actor."""

    broker: CloudEventsBroker

    def __init__(self, broker: CloudEventsBroker, queue_name: str, *args: Any) -> None:
        try:
            super().__init__(broker, queue_name, *args)  # type: ignore[no-untyped-call]
        except ConnectionClosed as exc:
            _attached(queue_name, False)
            _lost(amqp_nodes.place(broker.settings.amqp_url), exc)
            raise
        _attached(self.queue_name, True)
        BROKER_OUTAGE.recovered(amqp_nodes.node_of(self.connection))

    def close(self) -> None:
        _attached(self.queue_name, False)
        super().close()  # type: ignore[no-untyped-call]

    def __next__(self) -> _RabbitmqMessage | None:
        try:
            method, properties, body = next(self.iterator)
        except (
            AssertionError,
            pika.exceptions.AMQPConnectionError,
            pika.exceptions.AMQPChannelError,
        ) as e:
            _attached(self.queue_name, False)
            _lost(amqp_nodes.node_of(self.connection), e)
            if getattr(e, "reply_code", None) == 404:  # the queue is gone: declare it again
                self.broker.queues_pending.add(q_name(self.queue_name))
            raise ConnectionClosed(e) from None  # type: ignore[no-untyped-call]
        if method is None:
            return None
        message = self._message(method, properties, body)
        self.known_tags.add(method.delivery_tag)
        return _RabbitmqMessage(method.redelivered, method.delivery_tag, message)  # type: ignore[no-untyped-call]

    def _message(self, method: Any, properties: Any, body: bytes) -> Message[Any]:
        if method.exchange == "":
            try:
                return Message.decode(body)
            except DecodeError:
                pass  # not one of Dramatiq's: handle it as a foreign message
        # A foreign message on a delay queue is handled like one on its canonical queue; on a
        # queue without a raw actor, Dramatiq dead-letters it (ActorNotFound -> .XQ).
        canonical = q_name(self.queue_name)
        actor = self.broker.raw_actors.get(canonical, "ordercare.no-such-actor")
        return wrap(actor, canonical, method, properties, body, self.broker.settings)


def _attached(queue: str, attached: bool) -> None:
    """Tell the process's heartbeat (readiness) whether this queue has a consumer."""
    if health.WORKER is not None:
        health.WORKER.consuming(queue, attached)


def _lost(where: str, exc: BaseException) -> None:
    """`where`: the node the consumer was connected to, or every node when none answered."""
    cause = exc.__cause__ or exc
    reason = str(cause).strip() or type(cause).__name__
    BROKER_OUTAGE.failed(f"{where} ({type(cause).__name__}: {reason[:200]})")


#: Control characters JSON escapes as \\u00XX (tab, line feed and carriage return take two).
_ESCAPED_WIDE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def wrap(
    actor_name: str,
    queue_name: str,
    method: Any,
    properties: Any,
    body: bytes,
    settings: Settings,
) -> Message[Any]:
    """A Dramatiq message carrying an AMQP delivery's body and the properties that matter,
    every one as JSON-safe text (actors/screening.py): Dramatiq encodes the message again
    to retry it, and a field it cannot encode would lose it. An over-size body travels as
    its first bytes and its size, never whole."""
    size = len(body)
    if size > settings.max_message_bytes:
        body = body[:KEPT_PREFIX_BYTES]
    if body.isascii() and _ESCAPED_WIDE.search(body) is None:
        text, encoding = body.decode("ascii"), "utf-8"
    else:
        # Dramatiq re-encodes a retried message as ASCII JSON, where a control character
        # takes six bytes and a non-ASCII one six or twelve: a 256 KiB body could grow past
        # the broker's max_message_size on its way to the delay queue, and a retry that
        # cannot be enqueued is lost. Base64 grows it by a third, whatever it holds.
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    exchange, routing_key = method.exchange, method.routing_key
    inbound = settings.arrived_through(exchange)
    if inbound is not None:
        # Moved by `ordercare route`: handled as published, under its own type.
        exchange, routing_key = inbound, (properties.headers or {}).get(ROUTED_TYPE, "")
    reply_to, correlation_id = properties.reply_to, properties.correlation_id
    usable_reply_to = clean_text(reply_to)
    readable_correlation = clean_text(correlation_id)
    meta = {
        "encoding": encoding,
        "exchange": printable(exchange),
        "routing_key": printable(routing_key),
        "reply_to": usable_reply_to,
        "correlation_id": readable_correlation,
        "redelivered": bool(method.redelivered),
        "size": size,
        "message_id": printable(properties.message_id) or None,
    }
    if reply_to is not None and usable_reply_to is None:
        meta["unusable_reply_to"] = printable(reply_to)
    if correlation_id is not None and readable_correlation is None:
        # A binary correlation id (some clients send a UUID's 16 bytes) goes back as sent.
        raw = correlation_id if isinstance(correlation_id, bytes) else str(correlation_id).encode()
        meta["correlation_id_base64"] = base64.b64encode(raw).decode("ascii")
    return Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=(text,),
        kwargs=meta,
        options={},
        message_id=str(uuid.uuid4()),
        message_timestamp=int(time.time() * 1000),
    )


def unwrap(text: str, encoding: str) -> bytes:
    """The delivery's original bytes."""
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def publish_reply(
    broker: RabbitmqBroker, exchange: str, routing_key: str, body: bytes, properties: dict[str, Any]
) -> None:
    """Publish on the calling thread's channel (a query's answer), reconnecting once when the
    connection went stale while the thread was idle (its heartbeats are not serviced then)."""
    try:
        _publish(broker, exchange, routing_key, body, properties)
    except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError):
        del broker.connection
        try:
            _publish(broker, exchange, routing_key, body, properties)
        except (
            pika.exceptions.ConnectionClosedByBroker,
            pika.exceptions.ChannelClosedByBroker,
        ) as exc:
            # A fresh connection closed at once by the broker for this publish: its reply_to
            # (a forged direct reply-to name, say) is refused, the broker is up.
            del broker.connection
            raise ReplyRefused(f"the broker refused a reply to {routing_key[:100]}: {exc}") from exc


def _publish(
    broker: RabbitmqBroker, exchange: str, routing_key: str, body: bytes, properties: dict[str, Any]
) -> None:
    broker.channel.basic_publish(
        exchange=exchange,
        routing_key=routing_key,
        body=body,
        properties=pika.BasicProperties(**amqp_properties(properties)),
    )
