"""A RabbitMQ node lost under load (issue 15): the cluster of ops/cluster/cluster.py (its own
three nodes and PostgreSQL, on ports of their own), `ordercare worker` and `ordercare relay`
given all three node addresses, and the node they are connected to SIGKILLed while orders
are published before, during and after; then brought back.

Every command must have exactly one outcome, every order exist once (counted in PostgreSQL),
every event reach the events exchange (read from the notifier's queue, bound to `#`), no
message lie in an `.XQ`, and every quorum queue have its three replicas online again.

    .venv/bin/pytest -q -m cluster     # about a minute and a half; skipped without RabbitMQ's server
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from persistence.database import create_database, upgrade
from persistence.engine import make_engine
from tests import messages as m
from tests.cluster_helpers import (
    Publisher,
    cluster,
    cluster_up,
    connected_nodes,
    connections,
    count,
    drain_events,
    quorum_replicas,
)
from tests.e2e.conftest import ORDERCARE
from tests.processes import Processes
from tests.servers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

#: Ports of their own, so a cluster a developer left up on the defaults does not collide.
PORTS = {"ORDERCARE_CLUSTER_AMQP_PORT": "5691", "ORDERCARE_CLUSTER_PG_PORT": "5451",
         "ORDERCARE_CLUSTER_EPMD_PORT": "4391"}  # fmt: skip
BEFORE, DURING, AFTER = 150, 150, 100
#: After the first burst, how many commands the storefront stays ahead of the outcomes.
AHEAD = 20


@pytest.fixture
def layout(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The cluster, up for the test and removed after it (whatever happened)."""
    with cluster_up(monkeypatch, PORTS) as built:
        yield built


def test_a_node_killed_under_load_loses_nothing_and_applies_nothing_twice(
    layout: Any, tmp_path: Path
) -> None:
    urls = cluster.urls(layout)
    database_url = urls["ORDERCARE_DATABASE_URL"]
    create_database(database_url)
    upgrade(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCARE_")}
    env |= {"ORDERCARE_AMQP_URL": urls["ORDERCARE_AMQP_URL"], "ORDERCARE_DATABASE_URL": database_url,
            "ORDERCARE_QUEUE_TYPE": "quorum", "ORDERCARE_MANAGEMENT_URL": "off",
            "ORDERCARE_RELAY_POLL_SECONDS": "0.05"}  # fmt: skip
    children = Processes()
    engine = make_engine(database_url, pool_size=1)
    storefront = Publisher(cluster.amqp_url(layout, "storefront"))
    try:
        # Given a relay and a worker with the three nodes' addresses, on the first node
        children.start([ORDERCARE, "relay", "--metrics-port", "0"], env, tmp_path / "relay.log")
        worker = children.start([ORDERCARE, "worker", "--processes", "2", "--threads", "4",
                                 "--metrics-port", "0"], env, tmp_path / "worker.log")  # fmt: skip
        worker.wait_ready(lambda: connected_nodes(layout, "ordercare"), 60, "the worker to connect")
        seed = [m.catalog(), m.account()]
        for doc in seed:
            storefront.publish(doc)
        seed_ids = [doc["id"] for doc in seed]
        worker.wait_ready(lambda: count(engine, "SELECT count(*) FROM inbox WHERE message_id = "
                                               "ANY(:ids)", ids=seed_ids) == 2, 60, "the catalogue")  # fmt: skip
        orders = [m.order() for _ in range(BEFORE + DURING + AFTER)]
        ids = [doc["id"] for doc in orders]

        def outcomes() -> int:
            return count(engine, "SELECT count(*) FROM inbox WHERE message_id = ANY(:ids)", ids=ids)

        # A storefront publishing all along: paced, so that the kill falls amid its stream
        back = threading.Event()
        nodes_used: Counter[str] = Counter()

        def caught_up(target: int) -> bool:
            return outcomes() >= target

        def publish_all() -> None:
            for n, doc in enumerate(orders):
                if n == BEFORE + DURING:
                    back.wait(120)
                if n >= BEFORE:  # a burst first (a backlog at the kill), then a steady stream:
                    # at most AHEAD commands beyond the outcomes, so that it lasts past the kill
                    wait_for(partial(caught_up, n - AHEAD), 120, "outcomes to catch up")
                storefront.publish(doc)
                nodes_used[storefront.node] += 1

        victims = connected_nodes(layout, "ordercare")
        assert victims == {"oc1"}, f"OrderCare is connected to {victims}, not the first node alone"
        publishing = threading.Thread(target=publish_all, daemon=True)
        publishing.start()
        worker.wait_ready(lambda: outcomes() >= 40, 60, "the first outcomes")
        # When the node they are connected to is SIGKILLed amid the stream
        published_before, done_before = sum(nodes_used.values()), outcomes()
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        assert layout.node("oc1").kill()
        wait_for(lambda: outcomes() >= done_before + 40, 60, "outcomes after the kill")
        recovered = time.monotonic() - killed_at
        # a worker SIGKILLed and started again while oc1 is down (the .XQ queues' home) works
        worker.kill()
        children.running.remove(worker)
        worker = children.start([ORDERCARE, "worker", "--processes", "2", "--threads", "4",
                                 "--metrics-port", "0"], env, tmp_path / "worker.log")  # fmt: skip
        wait_for(lambda: outcomes() >= BEFORE + DURING, 90, "the outcomes while oc1 is down")
        assert connected_nodes(layout, "ordercare") <= {"oc2", "oc3"}
        # the relay and the direct publishers reconnected to another node, not the dead one
        live = {"127.0.0.1:5692", "127.0.0.1:5693"}
        relay_moved = connections(tmp_path / "relay.log", "relay connected", killed_wall)
        direct_moved = connections(
            tmp_path / "worker.log", "direct publisher connected", killed_wall
        )
        assert relay_moved and set(relay_moved) <= live, relay_moved
        assert direct_moved and set(direct_moved) <= live, direct_moved
        # and brought back, more orders following
        node = layout.node("oc1")
        node.await_boot(node.start(management=False))
        back.set()
        publishing.join(120)
        wait_for(lambda: outcomes() == len(orders), 90, "every outcome")
        worker.check()

        # Then every command has exactly one outcome (inbox) and one effect (one order each)
        assert published_before < BEFORE + DURING and done_before < published_before, (
            "the stream had ended before the kill: nothing was tested"
        )
        assert not publishing.is_alive() and sum(nodes_used.values()) == len(orders)
        assert nodes_used["127.0.0.1:5692"] or nodes_used["127.0.0.1:5693"], nodes_used
        with engine.connect() as conn:
            refused = conn.execute(text("SELECT message_id, outcome_type, outcome FROM inbox WHERE "
                                        "message_id = ANY(:ids) AND outcome_type <> 'command.accepted'"),
                                   {"ids": ids}).all()  # fmt: skip
        assert refused == []
        assert count(engine, "SELECT count(*) FROM orders") == len(orders)
        # every event was published: each command's one outcome event (a redelivery sends
        # the very same one again, never another) and each order's order.created
        wait_for(lambda: count(engine, "SELECT count(*) FROM outbox") == 0, 60, "an empty outbox")
        events = drain_events(cluster.amqp_url(layout, "notifier"))
        distinct = {e["id"]: e for e in events}.values()
        outcome_events = Counter(e["data"]["command_id"] for e in distinct
                                 if e["type"].startswith("command."))  # fmt: skip
        assert {outcome_events[i] for i in ids} == {1}
        created = {e["data"]["order_id"] for e in distinct if e["type"] == "order.created"}
        assert len(created) == len(orders)
        # nothing given up on, and three replicas of every quorum queue online again
        xq = [q for q in cluster.status(layout)["queues"] if q["name"].endswith(".XQ")]
        assert xq and all(q["messages"] == 0 for q in xq), xq
        wait_for(lambda: set(quorum_replicas(layout).values()) == {3}, 60,
                 "three replicas online in every quorum queue")  # fmt: skip
        duplicates = len(events) - len(distinct)
        print(f"commands {len(orders)}, outcomes {outcomes()}, orders {len(orders)}, "
              f"recovered in {recovered:.1f}s, published per node {dict(nodes_used)}, "
              f"publisher retries {storefront.retried}, "
              f"events {len(events)} ({duplicates} delivered twice)")  # fmt: skip
    except BaseException:
        print("\n".join(p.tail(40) for p in children.started))
        raise
    finally:
        storefront.close()
        children.stop_all()
        engine.dispose()


def test_the_cluster_script_refuses_busy_ports_and_cleans_a_half_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`up` checks its ports before starting anything; `down` of a folder that never fully
    started (or does not exist) succeeds."""
    root = Path(tempfile.mkdtemp(prefix="occ-"))
    monkeypatch.setenv("ORDERCARE_CLUSTER_DIR", str(root / "c"))
    monkeypatch.setenv("ORDERCARE_CLUSTER_EPMD_PORT", "4392")
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("ORDERCARE_CLUSTER_PG_PORT", str(busy.getsockname()[1]))
        layout = cluster.Layout()
        if not (cluster.RABBIT_BIN / "rabbitmq-server").exists():
            pytest.skip("RabbitMQ's server binaries are absent")
        with pytest.raises(cluster.ClusterError, match=re.escape(str(busy.getsockname()[1]))):
            cluster.up(layout, management=False)
    (root / "c" / "rabbit").mkdir(parents=True)  # a half-started folder: nothing running
    cluster.down(layout, quiet=True)
    assert not (root / "c").exists()
    cluster.down(layout, quiet=True)  # idempotent
    root.rmdir()
