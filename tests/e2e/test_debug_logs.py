"""End to end: `ordercare worker` and `ordercare relay` at DEBUG log level print no payload.

Dramatiq's actor logs "Received args=…" at DEBUG, the arguments being the raw message: its
personal data. Run as a user would with ORDERCARE_LOG_LEVEL=DEBUG, a customer's name and
address go through the worker (accepted, rejected and unreadable), and appear in no log line.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pika
from sqlalchemy import create_engine, text

from actors.settings import Settings
from actors.topology import declare
from tests import messages as m
from tests.e2e.conftest import Processes, environment
from tests.servers import Listener, wait_for


def dead_letters(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one())
    finally:
        engine.dispose()


def test_debug_logging_never_prints_a_payload(settings: Settings, processes: Processes) -> None:
    # Given a worker and a relay logging at DEBUG
    debug = environment(settings) | {"ORDERCARE_LOG_LEVEL": "DEBUG"}
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    declare(channel, settings)  # as the worker does when it boots
    channel.confirm_delivery()
    events = Listener(settings.amqp_url, settings.events_exchange)
    worker = processes.start("worker", "--processes", "1", "--threads", "2", "--metrics-port",
                             "0", env=debug)  # fmt: skip
    relay = processes.start("relay", "--metrics-port", "0", env=debug)

    # When messages carrying a customer's personal data (a marker no code writes) are handled:
    # one accepted, one rejected (no such account to update), one not even JSON
    marker = f"zq{uuid.uuid4().hex[:12]}"
    created = m.envelope("billing_account.create", {
        "actor": m.AGENT, "account_id": "acc_marker", "name": f"Ada {marker}",
        "email": f"{marker}@example.com", "phone": "+49 30 5550 1234"})  # fmt: skip
    updated = m.envelope("billing_account.update", {
        "actor": m.AGENT, "account_id": "acc_nobody", "name": f"Grace {marker}"})  # fmt: skip
    unreadable = b'{"name": "Ada ' + marker.encode() + b'", not json'

    def publish(key: str, body: bytes) -> None:
        channel.basic_publish(settings.commands_exchange, key, body,
                              pika.BasicProperties(delivery_mode=2))  # fmt: skip

    publish(created["type"], m.body(created))
    publish(updated["type"], m.body(updated))
    publish("billing_account.create", unreadable)
    wanted = {created["id"], updated["id"]}

    def both_answered(got: list[tuple[Any, bytes]]) -> bool:
        docs = [orjson.loads(b) for _p, b in got]
        return wanted <= {d["data"]["command_id"] for d in docs if d["type"].startswith("command.")}

    outcomes = {
        d["data"]["command_id"]: d
        for d in (orjson.loads(b) for _p, b in events.collect(both_answered, 60))
        if d["type"].startswith("command.")
    }
    wait_for(lambda: dead_letters(settings) >= 1, 30, "the unreadable message to be dead-lettered")
    events.close()
    connection.close()
    assert outcomes[created["id"]]["type"] == "command.accepted"
    assert outcomes[updated["id"]]["type"] == "command.rejected"

    # Then, the processes stopped (every line written), the logs hold DEBUG lines, and the
    # marker is in none of them
    worker.stop()
    relay.stop()
    lines = [
        line
        for process in (worker, relay)
        for line in process.log.read_text(errors="replace").splitlines()
    ]
    assert any('"level":"debug"' in line for line in lines), "no DEBUG line: not at DEBUG level"
    leaked = [line for line in lines if marker in line]
    assert leaked == [], leaked
