"""Queries served from a read replica (ORDERCARE_READ_DATABASE_URL), never staler than the
version a caller says it must see.

The "replica" here is a real PostgreSQL database frozen one change behind the primary (a
copy made before the order was cancelled): a replica that has not caught up yet, held
still. The worker's own wiring (actors/bootstrap.py's Runtime) builds the processor. The
streaming replica itself is exercised by ops/cluster.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from actors.bootstrap import Runtime
from actors.embedded import InProcessBroker
from actors.inbound import InboundMessage
from actors.settings import Settings
from tests import servers

from .test_processor_in_process import (
    AGENT,
    REPLY_TO,
    Care,
    create_order_data,
    envelope,
    outcome,
)

pytestmark = pytest.mark.integration


def reads(database: str, why: str) -> float:
    value = REGISTRY.get_sample_value(
        "ordercare_query_reads_total", {"database": database, "why": why}
    )
    return value or 0.0


class Helpdesk:
    """Sends queries to a worker process's processor; answers arrive on reply_to."""

    def __init__(self, settings: Settings) -> None:
        self.broker = InProcessBroker()
        self.runtime = Runtime(settings, self.broker)
        self.settings = settings

    def ask(self, message_type: str, **data: Any) -> dict[str, Any]:
        raw = envelope(f"q-{uuid.uuid4().hex[:8]}", message_type, {"actor": AGENT, **data})
        start = len(self.broker.published)
        exchange = self.settings.exchange_of(message_type)
        self.runtime.processor.process(InboundMessage(raw, exchange, message_type, REPLY_TO))
        [answer] = self.broker.published[start:]
        result: dict[str, Any] = orjson.loads(answer.body)["data"]
        return result

    def close(self) -> None:
        self.runtime.close()


@pytest.fixture
def behind(database_url: str) -> Iterator[tuple[Settings, str]]:
    """Ada's order at version 2 on the primary, at version 1 on a replica copy."""
    settings = Settings(database_url=database_url)
    care = Care(settings.database_url, settings).seed()
    care.command("order.create", create_order_data())
    care.app.close()  # a database is copied only while nobody is connected to it
    primary = settings.database_url.rsplit("/", 1)[1]
    replica = f"{primary}_replica"
    servers.admin(f'CREATE DATABASE "{replica}" TEMPLATE "{primary}"')
    care = Care(settings.database_url, settings)
    cancel = {"actor": AGENT, "order_id": "ord_ada_1", "reason": "customer_request"}
    cancelled = care.command("order.cancel", cancel, message_id="cmd-cancel")
    assert outcome(cancelled)["version"] == 2
    care.app.close()
    try:
        yield settings, servers.sqlalchemy_url(replica)
    finally:
        servers.drop_database(replica)


@pytest.fixture
def helpdesk_on(behind: tuple[Settings, str]) -> Iterator[Any]:
    made: list[Helpdesk] = []

    def on(read_database_url: str | None) -> Helpdesk:
        base, _ = behind
        settings = base.model_copy(
            update={"read_database_url": read_database_url, "direct_publish": False}
        )
        made.append(Helpdesk(settings))
        return made[-1]

    yield on
    for helpdesk in made:
        helpdesk.close()


def test_queries_are_answered_by_the_replica_unless_it_is_behind_the_version_asked_for(
    behind: tuple[Settings, str], helpdesk_on: Any
) -> None:
    _, replica = behind
    helpdesk = helpdesk_on(replica)
    before = {w: reads(d, w) for d, w in (("replica", "replica_current"),
                                          ("primary", "replica_behind"))}  # fmt: skip

    # No minimum: the replica answers, as far as it has got.
    plain = helpdesk.ask("order.get", order_id="ord_ada_1")
    assert (plain["result"]["version"], plain["result"]["status"]) == (1, "open")
    # The caller's own cancellation was version 2: the replica has not got there.
    fresh = helpdesk.ask("order.get", order_id="ord_ada_1", min_version=2)
    assert (fresh["result"]["version"], fresh["result"]["status"]) == (2, "cancelled")
    # A minimum the replica has reached: the replica answers.
    assert helpdesk.ask("order.get", order_id="ord_ada_1", min_version=1)["result"]["version"] == 1

    # The audit trail: with the minimum it includes the cancellation.
    trail = helpdesk.ask("audit.get", entity_type="order", entity_id="ord_ada_1", min_version=2)
    assert "order.cancelled" in [e["action"] for e in trail["result"]["entries"]]
    stale = helpdesk.ask("audit.get", entity_type="order", entity_id="ord_ada_1")
    assert "order.cancelled" not in [e["action"] for e in stale["result"]["entries"]]

    # An account version nobody has reached yet is not answered from a stale copy either:
    # the primary answers what it has.
    account = helpdesk.ask("billing_account.get", account_id="acc_ada", min_version=1)
    assert account["result"]["account_id"] == "acc_ada"
    # An order the replica does not have yet, asked for with a minimum: the primary's answer.
    missing = helpdesk.ask("order.get", order_id="ord_nowhere", min_version=1)
    assert missing["code"] == "not_found"

    assert reads("replica", "replica_current") - before["replica_current"] == 4
    assert reads("primary", "replica_behind") - before["replica_behind"] == 3


def test_a_failing_replica_hands_queries_to_the_primary_and_says_so_once(
    helpdesk_on: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1.
    helpdesk = helpdesk_on("postgresql+psycopg://postgres@127.0.0.1:1/ordercare")
    before = reads("primary", "replica_down")

    with caplog.at_level(logging.ERROR, logger="ordercare.inbound"):
        answers = [helpdesk.ask("order.get", order_id="ord_ada_1") for _ in range(3)]

    assert [a["result"]["version"] for a in answers] == [2, 2, 2]
    assert reads("primary", "replica_down") - before == 3
    outages = [
        r.getMessage() for r in caplog.records if "read replica unreachable" in r.getMessage()
    ]
    assert len(outages) == 1, outages


def test_without_a_replica_the_primary_answers(helpdesk_on: Any) -> None:
    helpdesk = helpdesk_on(None)
    before = reads("primary", "no_replica")
    answer = helpdesk.ask("order.get", order_id="ord_ada_1", min_version=2)
    assert answer["result"]["version"] == 2
    assert reads("primary", "no_replica") - before == 1


def test_a_read_database_url_of_another_driver_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="postgresql\\+psycopg://"):
        Settings(read_database_url="postgres://replica:5432/ordercare")
