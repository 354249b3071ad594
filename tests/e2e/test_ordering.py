"""Ordering mode, end to end: `ordercare route` and workers on single-active-consumer
partitions of RabbitMQ's consistent-hash exchange, started as README says.

A warehouse that publishes `warehouse.shipped` and at once `warehouse.delivered` for the
same order must never see the delivery refused because it overtook the shipment.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from typing import Any

import pika
import pytest

from actors.settings import Settings
from tests import messages as m
from tests.e2e.conftest import ORDERCARE, Processes, environment
from tests.e2e.test_processes import Helpdesk

pytestmark = pytest.mark.e2e

ORDERS = 60
PARTITIONS = "4"
ALL_LINES = [{"line_id": "l1", "quantity": 2}, {"line_id": "l2", "quantity": 1}]


def ordered(settings: Settings) -> dict[str, str]:
    return {**environment(settings), "ORDERCARE_ORDERED_PARTITIONS": PARTITIONS}


def outcomes_of(helpdesk: Helpdesk, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The outcome event of each of `docs`, by command id, once all have one."""
    ids = {d["id"] for d in docs}
    helpdesk.wait(lambda h: ids <= h.outcomes().keys(), 120)
    return {d["data"]["command_id"]: d for d in helpdesk.seen if d["type"].startswith("command.")}


def test_shipped_then_delivered_at_once_never_meets_not_allowed_in_state(
    settings: Settings, processes: Processes
) -> None:
    env = ordered(settings)
    setup = subprocess.run([ORDERCARE, "broker", "setup"], env=env, capture_output=True,
                           text=True, timeout=60, check=False)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    processes.start("relay", "--metrics-port", "0", env=env)
    processes.start("route", "--metrics-port", "0", env=env)
    processes.start("worker", "--processes", "2", "--threads", "4", "--metrics-port", "0", env=env)
    helpdesk = Helpdesk(settings)
    seed = [m.catalog(), m.account()]
    orders = [m.order(f"ord_seq_{n}") for n in range(ORDERS)]
    # (ordering is per order or account: the catalogue and the account come first)
    for doc in seed:
        helpdesk.publish(doc)
    outcomes_of(helpdesk, seed)
    for doc in orders:
        helpdesk.publish(doc)
    assert {o["type"] for o in outcomes_of(helpdesk, orders).values()} == {"command.accepted"}

    # When, for every order, the warehouse sends the shipment and at once the delivery
    pairs = []
    for n in range(ORDERS):
        order_id = f"ord_seq_{n}"
        pairs.append(m.warehouse("warehouse.shipped", order_id, shipment_id=f"shp_{n}",
                                 carrier="DHL", tracking_number=f"00{n}", lines=ALL_LINES,
                                 warehouse="berlin-1"))  # fmt: skip
        pairs.append(m.warehouse("warehouse.delivered", order_id, shipment_id=f"shp_{n}"))
    for doc in pairs:
        helpdesk.publish(doc)

    # Then every one applies, in the order it was published
    outcomes = outcomes_of(helpdesk, pairs)
    refused = Counter(
        outcomes[d["id"]]["data"].get("code") for d in pairs
        if outcomes[d["id"]]["type"] != "command.accepted"
    )  # fmt: skip
    assert not refused, refused
    versions = [outcomes[d["id"]]["data"]["version"] for d in pairs]
    assert versions == [2, 3] * ORDERS
    helpdesk.close()


def test_broker_setup_retires_the_partitions_above_a_lowered_count(settings: Settings) -> None:
    def setup(partitions: str) -> subprocess.CompletedProcess[str]:
        env = {**environment(settings), "ORDERCARE_ORDERED_PARTITIONS": partitions}
        return subprocess.run([ORDERCARE, "broker", "setup"], env=env, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip

    def exists(channel: Any, queue: str) -> bool:
        try:
            channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            return False
        return True

    assert setup("4").returncode == 0
    held = f"{settings.warehouse_exchange}.ordered.3"
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    connection.channel().basic_publish("", held, b"{}")

    # Lowered to 2: the empty partition 2 goes, partition 3 still holds a message and stays
    lowered = setup("2")
    assert lowered.returncode == 1
    assert held in lowered.stderr and "1 messages" in lowered.stderr
    assert not exists(connection.channel(), f"{settings.warehouse_exchange}.ordered.2")
    assert exists(connection.channel(), held)

    # Once drained it goes too; ordering mode off retires every partition
    connection.channel().queue_purge(held)
    assert setup("2").returncode == 0
    assert not exists(connection.channel(), held)
    assert setup("0").returncode == 0
    assert not exists(connection.channel(), f"{settings.commands_exchange}.ordered.0")
    connection.close()
