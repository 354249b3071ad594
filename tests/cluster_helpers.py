"""What the cluster tests share (tests/e2e/test_cluster_failover.py,
tests/e2e/test_node_lost_under_load.py): ops/cluster/cluster.py loaded as a module, a cluster
up for one test on ports of its own, a publisher that moves to a live node, and questions
asked of the cluster and of PostgreSQL."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pika
import pika.exceptions
import pytest
from sqlalchemy import text

import amqp_nodes
from tests import messages as m
from tests.servers import wait_for

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "ops" / "cluster" / "cluster.py"


def _load_cluster() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ordercare_cluster", CLUSTER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cluster = _load_cluster()


@contextmanager
def cluster_up(monkeypatch: pytest.MonkeyPatch, ports: Mapping[str, str]) -> Iterator[Any]:
    """The cluster on `ports` (ORDERCARE_CLUSTER_*_PORT), up for the test and removed after
    it, whatever happened; the test is skipped without RabbitMQ's server binaries."""
    if not (cluster.RABBIT_BIN / "rabbitmq-server").exists() or not shutil.which("epmd"):
        pytest.skip(f"RabbitMQ's server binaries are absent ({cluster.RABBIT_BIN}/rabbitmq-server, "
                    "epmd): this test starts its own three-node cluster")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="occ-"))  # short: PostgreSQL's socket path is bounded
    root.rmdir()
    monkeypatch.setenv("ORDERCARE_CLUSTER_DIR", str(root))
    for name, port in ports.items():
        monkeypatch.setenv(name, port)
    built = cluster.Layout()
    try:
        started = time.monotonic()
        cluster.up(built, management=False)
        print(f"cluster up in {time.monotonic() - started:.1f}s")
        yield built
    finally:
        started = time.monotonic()
        cluster.down(built, quiet=True)
        print(f"cluster down in {time.monotonic() - started:.1f}s")


class Publisher:
    """A publisher (storefront, helpdesk, warehouse...) publishing with confirms to the first
    live node. A publish that fails (its node died, a confirm that never came) is made again on
    a new connection, under the same id: the inbox keeps a command that reached the queue
    twice to one effect."""

    def __init__(self, url: str, patience: float = 20.0) -> None:
        self.url = url
        #: How long one publish may wait for a node to take it before the test fails.
        self.patience = patience
        self.connection: Any = None
        self.channel: Any = None
        self.retried = 0

    def publish(self, doc: dict[str, Any], exchange: str = "ordercare.commands") -> None:
        deadline = time.monotonic() + self.patience
        while True:
            if self.channel is None:
                wait_for(self._connect, max(deadline - time.monotonic(), 0.0),
                         f"a live node to publish {doc['id']} to")  # fmt: skip
            try:
                self.channel.basic_publish(exchange, doc["type"], m.body(doc),
                                           pika.BasicProperties(delivery_mode=2, message_id=doc["id"]),
                                           mandatory=True)  # fmt: skip
                return
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError):
                self.close()
                self.retried += 1
                if time.monotonic() >= deadline:
                    raise AssertionError(
                        f"no node took {doc['id']} in {self.patience:.0f}s"
                    ) from None

    def _connect(self) -> bool:
        """A confirm channel on the first node that accepts a connection, if any does now."""
        try:
            self.connection = amqp_nodes.connect(self.url)
            self.channel = self.connection.channel()
            self.channel.confirm_delivery()
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError):
            self.close()
            return False
        return True

    @property
    def node(self) -> str:
        return amqp_nodes.node_of(self.connection) if self.connection else "-"

    def close(self) -> None:
        amqp_nodes.close(self.connection)
        self.connection = self.channel = None


def connections_by_node(layout: Any) -> dict[str, list[str]]:
    """Node (short name) -> the users of the client connections open on it, asked of a
    running node."""
    asking = next(n for n in layout.nodes if n.pid() is not None)
    rows = orjson.loads(cluster.ctl(layout, asking.name, "list_connections", "user", "port",
                                    "--formatter", "json"))  # fmt: skip
    by_port = {n.amqp_port: n.short for n in layout.nodes}
    found: dict[str, list[str]] = {n.short: [] for n in layout.nodes}
    for row in rows:
        if int(row["port"]) in by_port:
            found[by_port[int(row["port"])]].append(row["user"])
    return found


def connected_nodes(layout: Any, user: str) -> set[str]:
    """The nodes (by AMQP port) `user`'s connections are open on, asked of a running node."""
    return {node for node, users in connections_by_node(layout).items() if user in users}


def count(engine: Any, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def drain_events(url: str, queue: str = "ordercare.events.notifier") -> list[dict[str, Any]]:
    """Everything in the notifier's queue (bound to `#` on the events exchange)."""
    connection = amqp_nodes.connect(url)
    channel = connection.channel()
    got = []
    for method, _props, body in channel.consume(queue, inactivity_timeout=2.0):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        got.append(orjson.loads(body))
    channel.cancel()
    connection.close()
    return got


def connections(log: Path, message: str, since: datetime) -> list[str]:
    """The nodes a process logged `message` (a connection) for since `since` (JSON lines)."""
    records = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [r["node"] for r in records
            if r.get("msg") == message and datetime.fromisoformat(r["ts"]) >= since]  # fmt: skip


def quorum_replicas(layout: Any) -> dict[str, int]:
    """Quorum queue -> replicas online."""
    report = cluster.status(layout)
    return {q["name"]: len(q.get("online") or []) for q in report["queues"]
            if q.get("type") in ("quorum", "rabbit_quorum_queue")}  # fmt: skip


def xq_messages(layout: Any) -> dict[str, Any]:
    """Each `.XQ` queue (Dramatiq's given-up messages) -> its messages."""
    return {q["name"]: q.get("messages") for q in cluster.status(layout)["queues"]
            if q["name"].endswith(".XQ")}  # fmt: skip
