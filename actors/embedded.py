"""The embedded default: an in-process broker and an in-memory SQLite store, no servers.

The same processor, unit of work, outbox and relay run as in production; only the
transport is a Python object and the database is SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from actors.inbound import InboundMessage, InboundProcessor
from actors.publisher import BatchResult
from actors.relay import Relay
from actors.settings import Settings
from persistence.database import upgrade
from persistence.engine import make_engine
from persistence.outbox import OutboundMessage, OutboxStore
from persistence.repositories import ReferenceCache
from persistence.uow import SqlUnitOfWork


class InProcessBroker:
    """Collects what OrderCare publishes: events by exchange, replies by queue."""

    def __init__(self) -> None:
        self.published: list[OutboundMessage] = []

    def publish_batch(self, messages: Sequence[OutboundMessage]) -> BatchResult:
        self.published.extend(messages)
        return BatchResult(confirmed=list(range(len(messages))))

    def reply(self, message: OutboundMessage) -> None:
        self.published.append(message)

    def close(self) -> None:
        """Nothing to close."""


class EmbeddedOrderCare:
    """OrderCare in one process: `send` a command, get what was published."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine("sqlite://")
        with self.engine.connect() as conn:
            upgrade("sqlite://", conn)
            conn.commit()
        self.broker = InProcessBroker()
        cache = ReferenceCache()
        self.processor = InboundProcessor(
            settings, lambda: SqlUnitOfWork(self.engine, cache), self.broker
        )
        self.relay = Relay(
            OutboxStore(self.engine),
            lambda: self.broker,
            dead_letter_queue=settings.dead_letter_queue,
        )

    def send(
        self,
        body: bytes,
        routing_key: str,
        reply_to: str | None = None,
        correlation_id: str | None = None,
        exchange: str | None = None,
    ) -> list[OutboundMessage]:
        """Deliver one message as if published to its exchange; return what it produced."""
        start = len(self.broker.published)
        exchange = exchange or self.settings.exchange_of(routing_key)
        self.processor.process(
            InboundMessage(body, exchange, routing_key, reply_to, correlation_id)
        )
        self.relay.drain()
        return self.broker.published[start:]
