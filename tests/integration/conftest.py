"""A running pipeline for integration tests: an in-process Dramatiq worker and relay on the
real RabbitMQ and PostgreSQL, and a pika client that publishes as a helpdesk would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import dramatiq
import orjson
import pika
import psycopg
import pytest

from actors.bootstrap import BrokerReplier, Runtime, build_broker, register_actors
from actors.relay_main import build_relay
from actors.settings import Settings
from actors.topology import declare
from persistence.engine import make_engine
from persistence.outbox import OutboxStore
from tests.servers import Listener


class Pipeline:
    """OrderCare's worker and relay, running; `publish` like a helpdesk, `events` to listen.
    Without `relay`, what arrives was published by the worker itself."""

    def __init__(self, settings: Settings, *, relay: bool = True) -> None:
        self.settings = settings
        self.broker = build_broker(settings)
        declare(self.broker.channel, settings)
        self.runtime = Runtime(settings, BrokerReplier(self.broker))
        register_actors(self.broker, self.runtime)
        self.events = Listener(settings.amqp_url, settings.events_exchange)
        self.worker = dramatiq.Worker(
            self.broker, queues=set(settings.inbound_queues), worker_threads=4
        )
        self.worker.start()
        self.engine = make_engine(settings.database_url, pool_size=2)
        self.store = OutboxStore(self.engine)
        self.relay = build_relay(settings, self.store) if relay else None
        self.relay_thread = threading.Thread(
            target=self.relay.run if self.relay else lambda: None, daemon=True
        )
        self.relay_thread.start()
        self.client = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        self.channel = self.client.channel()
        self.channel.confirm_delivery()

    def publish(self, body: bytes | dict[str, Any], routing_key: str | None = None, *,
                exchange: str | None = None, **props: Any) -> None:  # fmt: skip
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        key = routing_key or (body["type"] if isinstance(body, dict) else "unknown")
        self.channel.basic_publish(self.settings.exchange_of(key) if exchange is None else exchange, key, data,
                                   pika.BasicProperties(delivery_mode=2, **props),
                                   mandatory=True)  # fmt: skip  # unroutable: fail, not drop

    def outcomes_for(self, *command_ids: str, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
        """Wait for an outcome of each command id on the events exchange; the last one of each."""
        wanted = set(command_ids)
        got = self.events.collect(lambda msgs: wanted <= outcome_ids(msgs), timeout)
        return {doc["data"]["command_id"]: doc for doc in outcome_docs(got)}

    def close(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        self.worker.stop()
        self.relay_thread.join(10)
        self.broker.close()
        self.events.close()
        self.client.close()
        self.runtime.close()
        self.engine.dispose()


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[Pipeline]:
    running = Pipeline(settings)
    yield running
    running.close()


def outcome_docs(messages: list[tuple[Any, bytes]]) -> list[dict[str, Any]]:
    docs = [orjson.loads(body) for _props, body in messages]
    return [d for d in docs if d["type"].startswith("command.")]


def outcome_ids(messages: list[tuple[Any, bytes]]) -> set[str]:
    return {d["data"]["command_id"] for d in outcome_docs(messages)}


def run(
    pipeline: Pipeline, doc: dict[str, Any], **props: Any
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Publish a command; its outcome and the domain events it caused, by type, once the
    outcome and every event it lists (`event_ids`) have arrived."""
    pipeline.publish(doc, **props)

    def caused(msgs: list[tuple[Any, bytes]]) -> list[dict[str, Any]]:
        docs = [orjson.loads(b) for _p, b in msgs]
        return [d for d in docs if d.get("causationid") == doc["id"]]

    def complete(msgs: list[tuple[Any, bytes]]) -> bool:
        docs = caused(msgs)
        outcome = next((d for d in docs if d["type"].startswith("command.")), None)
        wanted = set(outcome["data"].get("event_ids", [])) if outcome else {"?"}
        return wanted <= {d["id"] for d in docs}

    docs = caused(pipeline.events.collect(complete))
    [outcome] = [d for d in docs if d["type"].startswith("command.")]
    return outcome, {d["type"]: d for d in docs if not d["type"].startswith("command.")}


def query(pipeline: Pipeline, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows from the pipeline's database, read with a connection of the test's own."""
    url = pipeline.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type,unused-ignore]
