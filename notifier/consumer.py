"""The RabbitMQ consumer: events from the notifier's queue, acked only after their rows commit.

Manual acks with a prefetch window; a lost connection (or a missing exchange) is retried
with backoff; a database error hands the event back (nack, requeue) and pauses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
import tenacity

import amqp_nodes
from notifier.kinds import MAILINGS
from notifier.outage import Outage
from notifier.settings import NotifierSettings

log = logging.getLogger("ordercare.notifier")

#: The pause before the first reconnect, doubling up to the longest.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


def declare(channel: Any, settings: NotifierSettings) -> None:
    """The notifier's durable queue, bound to every mailed event type on the events exchange.
    The exchange is OrderCare's: only checked (passive), never created here."""
    channel.exchange_declare(settings.events_exchange, passive=True)
    arguments = {"x-queue-type": "quorum"} if settings.queue_type == "quorum" else {}
    channel.queue_declare(settings.notifier_queue, durable=True, arguments=arguments)
    for event_type in sorted(MAILINGS):
        channel.queue_bind(settings.notifier_queue, settings.events_exchange, event_type)


class Consumer:
    """Consumes until `stopping` is set, reconnecting as often as it takes."""

    def __init__(self, settings: NotifierSettings, handle: Callable[[bytes], object],
                 stopping: threading.Event,
                 beat: Callable[..., None] = lambda at=None: None) -> None:  # fmt: skip
        self.settings = settings
        self.handle = handle
        self.stopping = stopping
        #: Called at least every second while the thread is alive (liveness).
        self.beat = beat
        #: Whether a consumer is attached to the queue (readiness).
        self.consuming = False
        self.outage = Outage(log, "notifier consumer")
        #: `host:port` of the node of the current (or last) connection.
        self.node = ""

    def run(self) -> None:
        """Connect, backing off while that fails (0.5 s doubling to 30 s, cut short by
        `stopping`), and consume until the connection is lost. A loss counts as the first
        failure: it waits 0.5 s, and a connect failing after it waits 1 s, then 2 s..."""
        first_backoff = FIRST_BACKOFF_SECONDS
        while not self.stopping.is_set():
            self.beat()
            connected = self._connecting(first_backoff)(self._connect)
            if connected is None:
                break  # stopped while backing off
            connection, channel = connected
            try:
                self._consume(connection, channel)
            except Exception as exc:
                self._failed(exc, FIRST_BACKOFF_SECONDS)
            finally:
                amqp_nodes.close(connection)  # unacked deliveries go back to the queue
            self.stopping.wait(FIRST_BACKOFF_SECONDS)
            first_backoff = 2 * FIRST_BACKOFF_SECONDS

    def _connecting(self, first_backoff: float) -> tenacity.Retrying:
        return tenacity.Retrying(
            wait=tenacity.wait_exponential(multiplier=first_backoff, max=MAX_BACKOFF_SECONDS),
            sleep=self._pause_for,
            before_sleep=lambda state: self._failed(
                state.outcome.exception() if state.outcome else None, state.upcoming_sleep
            ),
        )

    def _pause_for(self, seconds: float) -> None:
        self.beat(time.time() + seconds)  # backing off, not wedged: back by then
        self.stopping.wait(seconds)  # stopping cuts it short

    def _failed(self, exc: BaseException | None, backoff: float) -> None:
        if isinstance(exc, pika.exceptions.AMQPError):
            # A connect tried every node (amqp_nodes.connect marks its failure); a loss names
            # the node consumed from.
            lost = amqp_nodes.failed_node(exc) is None and self.node
            where = self.node if lost else amqp_nodes.place(self.settings.amqp_url)
            self.outage.failed(
                f"cannot consume from {where} (broker down, or the events "
                f"exchange not declared yet: `ordercare broker setup`): "
                f"{type(exc).__name__}: {str(exc)[:300]}"
            )
        else:
            self.outage.failed(f"{type(exc).__name__}: {exc}", exc)
        log.debug("consumer retrying", extra={"backoff_s": backoff})

    def _connect(self) -> tuple[Any, Any] | None:
        """A connection and a channel ready to consume, or None once stopping."""
        if self.stopping.is_set():
            return None
        connection = amqp_nodes.connect(self.settings.amqp_url)  # the first node that answers
        self.node = amqp_nodes.node_of(connection)
        try:
            channel = connection.channel()
            if self.settings.notifier_declare:
                declare(channel, self.settings)
            channel.basic_qos(prefetch_count=self.settings.notifier_prefetch)
        except BaseException:
            amqp_nodes.close(connection)
            raise
        return connection, channel

    def _consume(self, connection: Any, channel: Any) -> None:
        """One connection's life, until it breaks or the notifier stops."""
        log.info("consuming", extra={"queue": self.settings.notifier_queue, "node": self.node})
        try:
            for method, _props, body in channel.consume(
                self.settings.notifier_queue, inactivity_timeout=0.25
            ):
                if not self.consuming:
                    self.consuming = True
                    self.outage.recovered()
                self.beat()
                if self.stopping.is_set():
                    break
                if method is not None:
                    self._deliver(connection, channel, method.delivery_tag, body)
        finally:
            self.consuming = False

    def _deliver(self, connection: Any, channel: Any, tag: int, body: bytes) -> None:
        """Ack after the rows committed; on a database error, requeue and pause."""
        try:
            self.handle(body)
        except Exception:
            log.exception("could not record an event; it goes back to the queue")
            channel.basic_nack(tag, requeue=True)
            self._pause(connection)
            return
        channel.basic_ack(tag)

    def _pause(self, connection: Any) -> None:
        """Wait a little, keeping the connection's heartbeats going, unless stopping."""
        for _ in range(8):
            if self.stopping.is_set():
                return
            self.beat()
            connection.sleep(0.25)
