"""End to end: real `ordercare` processes, killed and restarted, with messages published by pika."""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pika
from sqlalchemy import text

from actors.settings import Settings
from persistence.engine import make_engine
from tests import messages as m
from tests.e2e.conftest import ORDERCARE, Processes, environment
from tests.servers import Listener, wait_for

ORDERS = 300


class Helpdesk:
    """Publishes with pika and listens to everything on the events exchange."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events = Listener(settings.amqp_url, settings.events_exchange)
        self.connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.seen: list[dict[str, Any]] = []

    def publish(self, doc: dict[str, Any]) -> None:
        """To the exchange its type is published to (a warehouse's to ordercare.warehouse)."""
        exchange = self.settings.exchange_of(doc["type"])
        self.channel.basic_publish(exchange, doc["type"], m.body(doc),
                                   pika.BasicProperties(delivery_mode=2))  # fmt: skip

    def outcomes(self) -> Counter[str]:
        return Counter(
            d["data"]["command_id"] for d in self.seen if d["type"].startswith("command.")
        )

    def wait(self, condition: Any, timeout: float = 90.0) -> None:
        """Consume events until `condition(self)` holds."""
        before = list(self.seen)

        def done(got: list[tuple[Any, bytes]]) -> bool:
            self.seen[:] = before + [orjson.loads(b) for _p, b in got]
            return bool(condition(self))

        self.events.collect(done, timeout)

    def close(self) -> None:
        self.events.close()
        self.connection.close()


def seeded(settings: Settings, processes: Processes) -> Helpdesk:
    assert run_cli(settings, "broker", "setup").returncode == 0
    helpdesk = Helpdesk(settings)
    catalog, account = m.catalog(), m.account()
    helpdesk.publish(catalog)
    helpdesk.publish(account)
    helpdesk.wait(lambda h: {catalog["id"], account["id"]} <= h.outcomes().keys(), 90)
    return helpdesk


def count_rows(settings: Settings, table: str) -> int:
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        n = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    engine.dispose()
    return n


def count_orders(settings: Settings) -> int:
    return count_rows(settings, "orders")


def test_a_worker_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    settings: Settings, processes: Processes
) -> None:
    # Given a relay and one worker process, and a stream of orders
    processes.start("relay", "--metrics-port", "0")
    worker = processes.start("worker", "--processes", "1", "--threads", "4", "--metrics-port", "0")
    helpdesk = seeded(settings, processes)
    orders = [m.order() for _ in range(ORDERS)]
    for doc in orders:
        helpdesk.publish(doc)
    # When the worker is SIGKILLed while it works through them, and a new one started
    helpdesk.wait(lambda h: len(h.outcomes()) >= 40)
    worker.kill()
    done_before = len(helpdesk.outcomes())
    processes.start("worker", "--processes", "1", "--threads", "4", "--metrics-port", "0")
    # Then every command gets exactly one outcome, and exactly one order exists per command
    ids = {doc["id"] for doc in orders}
    helpdesk.wait(lambda h: ids <= h.outcomes().keys())
    helpdesk.seen += [orjson.loads(b) for _p, b in helpdesk.events.drain(1.0)]
    distinct = Counter(
        d["data"]["command_id"]
        for d in {d["id"]: d for d in helpdesk.seen}.values()
        if d["type"].startswith("command.")
    )
    assert done_before < ORDERS + 2, "the worker finished before it was killed: nothing was tested"
    # one outcome per command: a redelivery re-sends the very same outcome event, never another
    assert {distinct[i] for i in ids} == {1}
    assert {d["type"] for d in helpdesk.seen if d["data"].get("command_id") in ids} == {
        "command.accepted"
    }
    assert count_orders(settings) == ORDERS
    helpdesk.close()


def test_a_relay_killed_mid_stream_loses_no_event(settings: Settings, processes: Processes) -> None:
    relay = processes.start("relay", "--metrics-port", "0")
    processes.start("worker", "--processes", "1", "--threads", "4", "--metrics-port", "0")
    helpdesk = seeded(settings, processes)
    orders = [m.order() for _ in range(ORDERS)]
    for doc in orders:
        helpdesk.publish(doc)
    helpdesk.wait(lambda h: len(h.outcomes()) >= 60)
    relay.kill()
    processes.start("relay", "--metrics-port", "0")
    ids = {doc["id"] for doc in orders}
    helpdesk.wait(lambda h: ids <= h.outcomes().keys())
    helpdesk.wait(
        lambda h: len({d["id"] for d in h.seen if d["type"] == "order.created"}) >= ORDERS
    )
    created = {d["data"]["order_id"] for d in helpdesk.seen if d["type"] == "order.created"}
    assert len(created) == ORDERS == count_orders(settings)
    helpdesk.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_worker_serves_metrics_aggregated_across_its_processes(
    settings: Settings, processes: Processes
) -> None:
    port = free_port()
    processes.start("relay", "--metrics-port", "0")
    processes.start("worker", "--processes", "2", "--threads", "2", "--metrics-port", str(port))
    helpdesk = seeded(settings, processes)
    orders = [m.order() for _ in range(20)]
    for doc in orders:
        helpdesk.publish(doc)
    helpdesk.publish(m.cancel("ord_missing"))
    helpdesk.wait(lambda h: {d["id"] for d in orders} <= h.outcomes().keys())

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return str(response.read().decode())
        except ConnectionRefusedError:
            return ""  # the metrics fork says it is ready a moment before it listens
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError):
                return ""
            raise

    body = wait_for(lambda: (b := scrape()) and 'type="order.create"' in b and b, 30, "metrics")
    created = 'type="order.create"'
    line = next(
        x
        for x in body.splitlines()
        if x.startswith("ordercare_commands_total") and created in x and "accepted" in x
    )
    assert float(line.rsplit(" ", 1)[1]) == 20.0
    assert 'ordercare_rejections_total{code="not_found"}' in body
    assert "ordercare_command_end_to_end_seconds_bucket" in body
    assert "ada@example.com" not in body and "acc_ada" not in body
    helpdesk.close()


def run_cli(
    settings: Settings, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORDERCARE, *args], env=environment(settings), capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def test_publish_prints_the_outcome_and_exits_by_it(
    settings: Settings, processes: Processes, tmp_path: Path
) -> None:
    processes.start("relay", "--metrics-port", "0")
    processes.start("worker", "--processes", "1", "--threads", "2", "--metrics-port", "0")
    seeded(settings, processes).close()
    good, bad = tmp_path / "cancel-missing.json", tmp_path / "account.json"
    bad.write_text(
        orjson.dumps({"type": "order.cancel", "data": m.cancel("ord_404")["data"]}).decode()
    )
    good.write_text(
        orjson.dumps(
            {"type": "billing_account.create", "data": m.account("acc_grace")["data"]}
        ).decode()
    )
    accepted = run_cli(settings, "publish", str(good))
    rejected = run_cli(settings, "publish", str(bad))
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert orjson.loads(accepted.stdout)["data"]["result"] == {"account_id": "acc_grace"}
    assert rejected.returncode == 1
    assert orjson.loads(rejected.stdout)["data"]["code"] == "not_found"


def test_the_demo_tells_its_story_without_servers(settings: Settings) -> None:
    env = {
        k: v
        for k, v in environment(settings).items()
        if k not in ("ORDERCARE_AMQP_URL", "ORDERCARE_DATABASE_URL")
    }
    result = subprocess.run(
        [ORDERCARE, "demo"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Every step behaved as the story expects." in result.stdout
    assert "☠ dead-lettered" in result.stdout and "[version_conflict]" in result.stdout


def test_the_demo_tells_the_same_story_against_the_real_servers(settings: Settings) -> None:
    # Its Berlin shop prices EUR tax-included: it asks for that rather than change a setting.
    refused = run_cli(settings, "demo", timeout=60)
    assert refused.returncode == 2
    assert "run `ordercare market set EUR --prices tax-included`" in refused.stderr
    market = run_cli(settings, "market", "set", "EUR", "--prices", "tax-included")
    assert market.returncode == 0, market.stderr

    result = run_cli(settings, "demo", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "RabbitMQ" in result.stdout and "Every step behaved as the story expects." in result.stdout
    )


def test_a_worker_refuses_to_start_on_a_database_that_is_not_migrated(settings: Settings) -> None:
    from tests.servers import admin, sqlalchemy_url

    name = f"oc_empty_{abs(hash(settings.commands_exchange)) % 10**8}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        empty = settings.model_copy(update={"database_url": sqlalchemy_url(name)})
        result = run_cli(empty, "worker", "--processes", "1", "--metrics-port", "0")
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert result.returncode == 1
    assert "run `ordercare db upgrade`" in result.stderr
