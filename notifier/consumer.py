"""The RabbitMQ consumer: events from the notifier's queue, acked only after their rows commit.

Manual acks with a prefetch window; a lost connection (or a missing exchange) is retried
with backoff; a database error hands the event back (nack, requeue) and pauses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions

from notifier.kinds import MAILINGS
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
                 stopping: threading.Event) -> None:  # fmt: skip
        self.settings = settings
        self.handle = handle
        self.stopping = stopping
        self.backoff = FIRST_BACKOFF_SECONDS

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._consume()
            except pika.exceptions.AMQPError as exc:
                log.warning("cannot consume (broker down, or the events exchange not declared "
                            "yet: `ordercare broker setup`); retrying",
                            extra={"error": type(exc).__name__, "detail": str(exc)[:300],
                                   "backoff_s": self.backoff})  # fmt: skip
            except Exception:
                log.exception("consumer failed; reconnecting", extra={"backoff_s": self.backoff})
            self.stopping.wait(self.backoff)
            self.backoff = min(self.backoff * 2, MAX_BACKOFF_SECONDS)

    def _consume(self) -> None:
        """One connection's life, until it breaks or the notifier stops."""
        connection = pika.BlockingConnection(pika.URLParameters(self.settings.amqp_url))
        try:
            channel = connection.channel()
            if self.settings.notifier_declare:
                declare(channel, self.settings)
            channel.basic_qos(prefetch_count=self.settings.notifier_prefetch)
            self.backoff = FIRST_BACKOFF_SECONDS  # connected: the next loss starts afresh
            log.info("consuming", extra={"queue": self.settings.notifier_queue})
            for method, _props, body in channel.consume(
                self.settings.notifier_queue, inactivity_timeout=0.25
            ):
                if self.stopping.is_set():
                    break
                if method is not None:
                    self._deliver(connection, channel, method.delivery_tag, body)
        finally:
            _close(connection)  # unacked deliveries go back to the queue

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
            connection.sleep(0.25)


def _close(connection: Any) -> None:
    try:
        if connection.is_open:
            connection.close()
    except pika.exceptions.AMQPError:
        pass  # already gone
