"""OrderCare against the real RabbitMQ and PostgreSQL, in one process: a Dramatiq worker,
a relay and a pika client. `ordercare demo` uses it when servers are configured."""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
import orjson
import pika

import amqp_nodes
from actors.bootstrap import BrokerReplier, Runtime, build_broker, register_actors
from actors.demo_story import Step
from actors.relay_main import build_relay
from actors.settings import Settings
from actors.topology import declare
from persistence.database import create_database, upgrade
from persistence.engine import make_engine
from persistence.outbox import OutboxStore


class LiveOrderCare:
    """Starts a worker and a relay in-process and talks to them as a helpdesk would."""

    def __init__(self, settings: Settings, threads: int = 4, timeout: float = 15.0) -> None:
        self.settings, self.timeout = settings, timeout
        create_database(settings.database_url)
        upgrade(settings.database_url)
        self.broker = build_broker(settings)
        declare(self.broker.channel, settings)
        register_actors(self.broker, Runtime(settings, BrokerReplier(self.broker)))
        self.worker = dramatiq.Worker(
            self.broker, queues=set(settings.inbound_queues), worker_threads=threads
        )
        self.worker.start()
        self.engine = make_engine(settings.database_url, pool_size=2)
        self.relay = build_relay(settings, OutboxStore(self.engine))
        self.relay_thread = threading.Thread(target=self.relay.run, name="relay", daemon=True)
        self.relay_thread.start()
        self.client = amqp_nodes.connect(settings.amqp_url)
        self.channel = self.client.channel()
        self.replies = self.channel.queue_declare("", exclusive=True).method.queue
        self.events = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.events, settings.events_exchange, routing_key="#")

    def send(self, step: Step) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(step.body, bytes):
            return self._send_raw(step.body, step.routing_key)
        doc = step.body
        exchange = self.settings.origin_exchange(step.via) if step.via else None
        self.publish(
            orjson.dumps(doc),
            step.routing_key,
            exchange=exchange,
            reply_to=self.replies,
            correlation_id=doc["id"],
        )
        reply = self._next(self.replies, lambda m: m["data"]["command_id"] == doc["id"])
        if reply is None:
            return []
        published: list[tuple[str, dict[str, Any]]] = [("reply", reply)]
        wanted = set(reply["data"].get("event_ids", []))
        if step.routing_key.endswith(".get"):
            return published  # queries answer on reply_to only
        while True:
            event = self._next(self.events, lambda m: m.get("causationid") == doc["id"])
            if event is None:
                break
            if not event["type"].startswith("command."):
                published.append(("event", event))
                wanted.discard(event["id"])
            if not wanted and event["type"].startswith("command."):
                break
        return published

    def publish(
        self, body: bytes, routing_key: str, exchange: str | None = None, **props: Any
    ) -> None:
        self.channel.basic_publish(
            exchange or self.settings.exchange_of(routing_key),
            routing_key,
            body,
            pika.BasicProperties(delivery_mode=2, **props),
        )

    def _send_raw(self, body: bytes, routing_key: str) -> list[tuple[str, dict[str, Any]]]:
        self.publish(body, routing_key)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            method, props, got = self.channel.basic_get(self.settings.dead_letter_queue)
            if method is None:
                self.client.sleep(0.05)
                continue
            self.channel.basic_ack(method.delivery_tag)
            if got == body:
                headers = props.headers or {}
                return [
                    (
                        "dead-letter",
                        {
                            "reason": headers.get("x-ordercare-reason"),
                            "detail": headers.get("x-ordercare-detail"),
                        },
                    )
                ]
        return []

    def _next(self, queue: str, match: Any) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            method, _props, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                self.client.sleep(0.02)
                continue
            doc = orjson.loads(body)
            if match(doc):
                return doc  # type: ignore[no-any-return]
        return None

    def close(self) -> None:
        self.relay.stop()
        self.worker.stop()
        self.relay_thread.join(timeout=10)
        self.broker.close()
        self.client.close()
        self.engine.dispose()
