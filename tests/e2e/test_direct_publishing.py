"""End to end: a worker killed between its commit and its own publish (direct publishing,
issue 14). The outbox rows it committed are the relay's once their grace period is over, so
every event and the outcome still arrive, once each."""

from __future__ import annotations

import orjson

from actors.settings import Settings
from tests import messages as m
from tests.e2e.conftest import Processes, environment
from tests.e2e.test_processes import count_orders, count_rows, seeded
from tests.servers import wait_for

GRACE = "2"


def outbox_rows(settings: Settings) -> int:
    return count_rows(settings, "outbox")


def test_the_relay_publishes_what_a_worker_killed_after_its_commit_did_not(
    settings: Settings, processes: Processes
) -> None:
    env = environment(settings) | {"ORDERCARE_DIRECT_PUBLISH_GRACE_SECONDS": GRACE}
    worker_args = ("worker", "--processes", "1", "--threads", "2", "--metrics-port", "0")
    # Given the catalogue and account, answered by a worker alone (no relay runs)
    worker = processes.start(*worker_args, env=env)
    helpdesk = seeded(settings, processes)
    processes.children.stop(worker)
    # and a worker that stops itself right after its first commit, before it publishes
    frozen = processes.start(*worker_args, env=env | {"ORDERCARE_FAULT_STOP_AFTER_COMMIT": "1"})
    order = m.order()
    helpdesk.publish(order)
    wait_for(lambda: count_orders(settings) == 1, 60, "the order to be committed")
    # When it is killed there
    assert [orjson.loads(b)["type"] for _p, b in helpdesk.events.drain(1.0)] == []
    assert outbox_rows(settings) == 2  # order.created and the outcome, committed
    frozen.kill()
    # Then a relay publishes the committed events and the outcome once their grace is over
    processes.start("relay", "--metrics-port", "0", env=env)
    helpdesk.wait(lambda h: order["id"] in h.outcomes() and any(
        d["type"] == "order.created" for d in h.seen))  # fmt: skip
    # Once the relay deleted the rows it published, nothing more can come: collect the rest.
    wait_for(lambda: outbox_rows(settings) == 0, 30, "the relay to delete what it published")
    helpdesk.seen += [orjson.loads(b) for _p, b in helpdesk.events.drain(0.5)]
    mine = [d for d in helpdesk.seen if d.get("causationid") == order["id"]]
    assert sorted(d["type"] for d in mine) == ["command.accepted", "order.created"]
    [accepted] = [d for d in mine if d["type"] == "command.accepted"]
    assert accepted["data"]["event_ids"] == [d["id"] for d in mine if d["type"] == "order.created"]
    assert outbox_rows(settings) == 0
    helpdesk.close()
