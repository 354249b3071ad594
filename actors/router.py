"""`ordercare route`: ordering mode's router (ORDERCARE_ORDERED_PARTITIONS > 0).

Publishers keep publishing to the inbound exchanges by type (CONTRACT.md); what decides a
message's partition, its order or account, is inside its JSON body, where RabbitMQ cannot
look. The router drains each inbound queue in order and republishes every message,
unchanged, to that exchange's consistent-hash exchange with the order (or account) id as
the routing key, its type kept in a header. RabbitMQ's consistent hashing sends one order's
messages always to the same partition queue, whose single active consumer takes them one
at a time, so they apply in the order they were published.

- In order: one channel consumes, one publishes, in delivery order; a message is acked only
  once the broker confirmed its copy, and on any failure the rest of the batch is requeued
  (back in its place), so nothing is lost and nothing overtakes.
- At least once: a router killed between confirm and ack sends that message again; the
  inbox gives the copy its first outcome, no second effect.
- One router at a time: each inbound queue is consumed `exclusive`; a second router waits
  and takes over when the first one's connection is gone.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pika
import pika.exceptions
from prometheus_client import Counter

import amqp_nodes
from actors.broker import ROUTED_TYPE
from actors.health import Heartbeats
from actors.logs import Outage
from actors.publisher import UNENCODABLE
from actors.settings import Settings
from actors.topology import declare

log = logging.getLogger("ordercare.router")
BROKER_OUTAGE = Outage(log, "broker")

ROUTED = Counter(
    "ordercare_routed_total",
    "Inbound messages moved to their partition (ordering mode), by inbound exchange.",
    ["exchange"],
)

#: The longest partition key, in bytes (an AMQP routing key is a short string: 255 at most).
MAX_KEY_BYTES = 200
#: Most deliveries a router holds unacked (its prefetch): one batch of republishes.
PREFETCH = 500
#: How long to wait before trying again after a failure or while another router is active.
RETRY_SECONDS = 2.0


def partition_key(body: bytes, limit: int) -> str:
    """The id a message is ordered by: its order; for a billing account's own commands, the
    account; else its envelope subject, else its own id (a new order without an id yet has
    nothing to be ordered after). A message that cannot be read (not JSON, over-size) goes
    by a digest of its bytes, and so does an id too long for a routing key: the worker
    rejects or dead-letters such a message anyway."""
    doc: Any = None
    if len(body) <= limit:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
    if not isinstance(doc, dict):
        return _digest(body)
    data = doc.get("data")
    data = data if isinstance(data, dict) else {}
    kind = doc.get("type")
    candidates = [data.get("order_id")]
    if isinstance(kind, str) and kind.startswith("billing_account."):
        candidates.append(data.get("account_id"))
    candidates += [doc.get("subject"), doc.get("id")]
    for value in candidates:
        if isinstance(value, str) and value:
            encoded = value.encode("utf-8", "backslashreplace")
            return value if len(encoded) <= MAX_KEY_BYTES else _digest(encoded)
    return _digest(body)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def routed_properties(properties: Any, routing_key: str) -> pika.BasicProperties:
    """The properties of a message's copy in its partition: what the worker reads of a
    delivery (actors/broker.py, `wrap`) and the original routing key (its type). The rest of a
    publisher's properties is not carried: OrderCare reads none of it, and a header pika could
    only decode as `UNDECODABLE` (actors/screening.py) could not be encoded again."""
    return pika.BasicProperties(
        delivery_mode=2,
        content_type=properties.content_type,
        reply_to=properties.reply_to,
        correlation_id=properties.correlation_id,
        message_id=properties.message_id,
        headers={ROUTED_TYPE: routing_key},
    )


@dataclass(slots=True)
class _Held:
    """A delivery waiting for its republish."""

    exchange: str
    delivery_tag: int
    routing_key: str
    properties: Any
    body: bytes


class Router:
    """Moves the inbound queues' messages to their partitions until `stop()`."""

    def __init__(
        self, settings: Settings, connect: Callable[[], pika.BlockingConnection] | None = None
    ) -> None:
        if not settings.ordered_partitions:
            raise ValueError("ordercare route needs ORDERCARE_ORDERED_PARTITIONS > 0")
        self.settings = settings
        self.connect = connect or (lambda: amqp_nodes.connect(settings.amqp_url))
        self.stopping = threading.Event()
        #: Connected and routing, or connected and standing by behind another router.
        self.connected = False
        self.standing_by = False
        self.heartbeats = Heartbeats()
        self._held: list[_Held] = []

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.heartbeats.beat("route")
            try:
                self._session()
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 403:
                    BROKER_OUTAGE.failed(f"channel closed: {exc.reply_code} {exc.reply_text}")
                elif not self.standing_by:  # ACCESS_REFUSED: another router is consuming
                    self.standing_by = True
                    log.info("another router is routing; standing by to take over")
            except pika.exceptions.AMQPError as exc:
                self.standing_by = False
                BROKER_OUTAGE.failed(f"{type(exc).__name__}: {exc}"[:300])
            finally:
                self.connected = False
            self.stopping.wait(RETRY_SECONDS)

    @property
    def ready(self) -> bool:
        """Routing, or a healthy standby: connected, refused only because another routes."""
        return self.connected or self.standing_by

    def _session(self) -> None:
        connection = self.connect()
        try:
            declare(connection.channel(), self.settings)
            inbound, out = connection.channel(), connection.channel()
            out.confirm_delivery()
            inbound.basic_qos(prefetch_count=PREFETCH)
            for queue, exchange in self.settings.inbound_queues.items():
                inbound.basic_consume(queue, self._holder(exchange), exclusive=True, auto_ack=False)
            self.connected, self.standing_by = True, False
            BROKER_OUTAGE.recovered()
            log.info("routing", extra={"partitions": self.settings.ordered_partitions})
            while not self.stopping.is_set():
                self.heartbeats.beat("route")
                connection.process_data_events(time_limit=0.05)
                if self._held:
                    self._forward(inbound, out)
        finally:
            self._held.clear()
            amqp_nodes.close(connection)

    def _holder(self, exchange: str) -> Callable[..., None]:
        def hold(_channel: Any, method: Any, properties: Any, body: bytes) -> None:
            self._held.append(
                _Held(exchange, method.delivery_tag, method.routing_key, properties, body)
            )

        return hold

    def _forward(self, inbound: Any, out: Any) -> None:
        """Republish the held deliveries in order, each confirmed before the next; ack what
        was confirmed, requeue the rest in place on the first failure."""
        held, self._held = self._held, []
        done = 0
        try:
            for message in held:
                exchange = self.settings.ordered_exchange(message.exchange)
                key = partition_key(message.body, self.settings.max_message_bytes)
                try:
                    props = routed_properties(message.properties, message.routing_key)
                    out.basic_publish(exchange, key, message.body, props, mandatory=True)
                except UNENCODABLE:
                    # A property AMQP carried in but pika cannot write out again: the copy
                    # goes without it (the worker then cannot answer on reply_to), rather
                    # than holding up every message behind it.
                    bare = pika.BasicProperties(
                        delivery_mode=2, headers={ROUTED_TYPE: message.routing_key}
                    )
                    out.basic_publish(exchange, key, message.body, bare, mandatory=True)
                ROUTED.labels(message.exchange).inc()
                done += 1
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            log.error("a partition did not take a message; requeued", extra={"error": str(exc)})
            if done:
                inbound.basic_ack(held[done - 1].delivery_tag, multiple=True)
            # Everything after it too, including what arrived meanwhile: back in place, so
            # nothing of the same order overtakes it.
            last = (self._held or held)[-1].delivery_tag
            self._held = []
            inbound.basic_nack(last, multiple=True, requeue=True)
            self.stopping.wait(RETRY_SECONDS)
            return
        inbound.basic_ack(held[-1].delivery_tag, multiple=True)
