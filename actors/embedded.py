"""The embedded default: an in-process broker over a throwaway PostgreSQL database.

The same processor, unit of work, outbox and relay run as in production; only the
transport is a Python object. `embedded_order_care` creates a database with a unique name
on the server of the configured database URL, migrates it, and drops it at the end, even
when the story fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine

from actors.inbound import InboundMessage, InboundProcessor
from actors.publisher import BatchResult
from actors.relay import Relay
from actors.settings import Settings
from persistence.database import scratch_database, upgrade
from persistence.engine import make_engine
from persistence.operations import Operations
from persistence.outbox import OutboundMessage, OutboxStore
from persistence.repositories import ReferenceCache
from persistence.sql import Sql
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
    """OrderCare in process on a migrated database: `send` a command, get what was published."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(database_url, pool_size=2)
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

    def include_tax(self, currencies: frozenset[str]) -> None:
        """Make those currencies markets whose prices include tax (before the first order)."""
        with self.engine.begin() as conn:
            markets = Operations(Sql(conn))
            for currency in sorted(currencies):
                markets.set_market(currency, True, datetime.now(UTC))

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def embedded_order_care(
    settings: Settings, *, tax_included: frozenset[str] = frozenset()
) -> Iterator[EmbeddedOrderCare]:
    """OrderCare in process on a new database beside the configured one, dropped at the end;
    the currencies in `tax_included` are markets whose prices include tax."""
    with scratch_database(settings.database_url, prefix="ordercare_demo") as url:
        upgrade(url)
        care = EmbeddedOrderCare(settings, url)
        care.include_tax(tax_included)
        try:
            yield care
        finally:
            care.close()
