"""End to end: `ordercare notifier` as a user starts it, killed mid-send and restarted."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pika
import pytest
from sqlalchemy import Engine, create_engine, text

from actors.settings import Settings
from actors.topology import declare
from tests import servers
from tests.e2e.conftest import ORDERCARE, Processes, environment
from tests.notifier_events import cloudevent, order_created
from tests.processes import Process
from tests.sendgrid_standin import API_KEY, HANG, SendGridStandIn, running
from tests.servers import wait_for


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with running() as standin:
        yield standin


def notifier_environment(settings: Settings, sendgrid: SendGridStandIn) -> dict[str, str]:
    return environment(settings) | {
        "ORDERCARE_SENDGRID_HOST": sendgrid.url,
        "ORDERCARE_SENDGRID_API_KEY": API_KEY,
        "ORDERCARE_NOTIFIER_QUEUE": f"{settings.events_exchange}.notifier",
        "ORDERCARE_NOTIFIER_TEMPLATES": '{"order_confirmed": {"en": "d-confirmed-en"}}',
        "ORDERCARE_SENDGRID_TIMEOUT_SECONDS": "2",
        "ORDERCARE_NOTIFIER_SENDING_LEASE_SECONDS": "2.5",
        "ORDERCARE_NOTIFIER_POLL_SECONDS": "0.1",
    }


def start_notifier(processes: Processes, env: dict[str, str]) -> Process:
    """`ordercare notifier`, its log in the test's folder (a restart appends to it)."""
    return processes.start("notifier", "--metrics-port", "0", env=env)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.database_url)
    yield engine
    engine.dispose()


def given_ada_and_the_events_exchange(settings: Settings, engine: Engine) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    declare(connection.channel(), settings)
    connection.close()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO billing_accounts (id, name, email, locale, status, created_at, "
                 "updated_at) VALUES ('acc_ada', 'Ada Lovelace', 'ada@example.com', 'en', 'active', "
                 ":now, :now)"),
            {"now": datetime.now(UTC)},
        )  # fmt: skip


def publish(settings: Settings, doc: dict[str, Any]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(settings.events_exchange, doc["type"], orjson.dumps(doc),
                          pika.BasicProperties(delivery_mode=2), mandatory=True)  # fmt: skip
    connection.close()


def notification(engine: Engine, event_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, attempts FROM notifications WHERE event_id = :e"), {"e": event_id}
        ).first()
    return dict(row._mapping) if row else None


def consuming(settings: Settings) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        queue = f"{settings.events_exchange}.notifier"
        return (
            int(connection.channel().queue_declare(queue, passive=True).method.consumer_count) > 0
        )
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        connection.close()


def test_a_notifier_killed_mid_send_sends_the_email_exactly_once_after_a_restart(
    settings: Settings, sendgrid: SendGridStandIn, engine: Engine, processes: Processes
) -> None:
    # Given a running notifier, and SendGrid hanging on the next request
    given_ada_and_the_events_exchange(settings, engine)
    env = notifier_environment(settings, sendgrid)
    first = start_notifier(processes, env)
    first.wait_ready(lambda: consuming(settings), 30, "the notifier to consume")
    sendgrid.script(HANG)
    # When an order is confirmed and the notifier is SIGKILLed while SendGrid holds the send
    event = cloudevent(order_created())
    publish(settings, event)
    wait_for(lambda: sendgrid.requests, what="the send to reach SendGrid")
    first.kill()
    assert notification(engine, event["id"]) == {"status": "sending", "attempts": 1}
    # Then a restarted notifier sends it again once its lease is over: one e-mail in the end
    second = start_notifier(processes, env)
    sent = wait_for(lambda: (notification(engine, event["id"]) or {}).get("status") == "sent",
                    30, "the notification to be sent")  # fmt: skip
    assert sent
    assert notification(engine, event["id"]) == {"status": "sent", "attempts": 2}
    assert [m.to for m in sendgrid.accepted] == [["ada@example.com"]]
    with engine.connect() as conn:
        types = conn.execute(text("SELECT routing_key FROM outbox")).scalars().all()
    assert types == ["customer.notified"]
    # And SIGTERM stops it cleanly (the processes fixture prints the log on a failure)
    assert second.stop() == 0


def test_the_notifier_refuses_to_start_on_a_database_without_its_migrations(
    settings: Settings, sendgrid: SendGridStandIn
) -> None:
    name = f"oc_t_{uuid.uuid4().hex[:10]}"
    servers.admin(f'CREATE DATABASE "{name}"')
    try:
        env = notifier_environment(settings, sendgrid)
        env["ORDERCARE_DATABASE_URL"] = servers.sqlalchemy_url(name)
        done = subprocess.run([ORDERCARE, "notifier", "--metrics-port", "0"], env=env, check=False,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:
        servers.drop_database(name)
    assert done.returncode == 1
    assert "ordercare db upgrade" in done.stderr
