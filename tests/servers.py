"""Real PostgreSQL databases and RabbitMQ vhosts for integration and end-to-end tests.

Each test gets its own database (cloned from a migrated template) and its own set of
exchange and queue names inside a vhost made for the test session, so tests run in any
order and leave nothing behind.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pika
import psycopg

PG_ADMIN = os.environ.get("ORDERCARE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_HOST = os.environ.get("ORDERCARE_TEST_AMQP_HOST", "127.0.0.1:5672")


def sqlalchemy_url(database: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


def admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type,unused-ignore]


def create_template() -> str:
    """A database with every migration applied, to clone per test."""
    from persistence.database import upgrade

    name = f"oc_tpl_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    upgrade(sqlalchemy_url(name))
    return name


@contextmanager
def database_from(template: str) -> Iterator[str]:
    name = f"oc_t_{uuid.uuid4().hex[:10]}"
    admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield sqlalchemy_url(name)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_database(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost() -> str:
    name = f"oc-test-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return name


def amqp_url(vhost: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}/{vhost}"


def names(prefix: str) -> dict[str, Any]:
    """Settings overrides giving a test its own exchanges and queues."""
    return {
        "commands_exchange": f"{prefix}.commands",
        "warehouse_exchange": f"{prefix}.warehouse",
        "payments_exchange": f"{prefix}.payments",
        "events_exchange": f"{prefix}.events",
        "dead_letter_queue": f"{prefix}.dead-letters",
    }


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Await `condition()` (a database row, a queue, a port: nothing to be notified by) until
    it is truthy; fail the test with `what` after `timeout` seconds. It is checked again at
    once, then after pauses that double from 5 ms to at most 200 ms, never past the deadline."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = condition()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.2)


class Listener:
    """A pika consumer of what OrderCare publishes: a queue bound to the events exchange."""

    def __init__(self, url: str, exchange: str, routing_key: str = "#") -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        if exchange:
            self.channel.queue_bind(self.queue, exchange, routing_key=routing_key)

    def drain(self, timeout: float = 0.2) -> list[tuple[Any, bytes]]:
        """Everything that arrives until the queue stays quiet for `timeout` seconds."""
        got = []
        for method, props, body in self.channel.consume(self.queue, inactivity_timeout=timeout):
            if method is None:
                break
            self.channel.basic_ack(method.delivery_tag)
            got.append((props, body))
        self.channel.cancel()
        return got

    def collect(
        self, done: Callable[[list[tuple[Any, bytes]]], bool], timeout: float = 20.0
    ) -> list[tuple[Any, bytes]]:
        """Consume until `done(messages)` holds; fail after `timeout` seconds."""
        got: list[tuple[Any, bytes]] = []
        deadline = time.monotonic() + timeout
        for method, props, body in self.channel.consume(self.queue, inactivity_timeout=0.1):
            if method is not None:
                self.channel.basic_ack(method.delivery_tag)
                got.append((props, body))
            if done(got):
                break
            if time.monotonic() > deadline:
                self.channel.cancel()
                raise AssertionError(f"timed out after {timeout}s with {len(got)} message(s)")
        self.channel.cancel()
        return got

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()
