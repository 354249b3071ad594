"""Direct publishing through the real RabbitMQ and PostgreSQL: a worker publishes its events
and outcomes right after its commit and deletes the confirmed outbox rows itself, so nothing
waits for a relay and, with a relay running, nothing is published twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from actors.settings import Settings
from tests import messages as m
from tests.integration.conftest import Pipeline, outcome_ids, query
from tests.servers import wait_for

#: Short enough for a test to outwait, long enough that the relay never races a confirm.
GRACE = 1.5


def outbox_rows(pipeline: Pipeline) -> int:
    [(n,)] = query(pipeline, "SELECT count(*) FROM outbox")
    return int(n)


def answered(command_id: str) -> Callable[[list[tuple[Any, bytes]]], bool]:
    return lambda msgs: command_id in outcome_ids(msgs)


@pytest.fixture
def direct_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"direct_publish": True, "direct_publish_grace_seconds": GRACE}
    )


@pytest.fixture
def worker_only(direct_settings: Settings) -> Iterator[Pipeline]:
    running = Pipeline(direct_settings, relay=False)
    yield running
    running.close()


def test_without_a_relay_events_arrive_and_the_outbox_empties(worker_only: Pipeline) -> None:
    # Given a worker and no relay
    got: list[tuple[Any, bytes]] = []
    # When commands are handled, one after the other
    for doc in [m.catalog(), m.account(), m.order("ord_1001")]:
        started = time.monotonic()
        worker_only.publish(doc)
        got += worker_only.events.collect(answered(doc["id"]))
        # Then each outcome arrives well inside the grace period the relay would wait
        assert time.monotonic() - started < GRACE
    got += worker_only.events.drain(0.3)
    types = Counter(orjson.loads(b)["type"] for _p, b in got)
    assert types["command.accepted"] == 3 and types["order.created"] == 1, types
    # and the confirmed rows are deleted by the worker itself
    wait_for(lambda: outbox_rows(worker_only) == 0, GRACE, "the outbox to empty")


def test_with_a_relay_no_row_is_published_twice(direct_settings: Settings) -> None:
    pipeline = Pipeline(direct_settings)
    try:
        relayed = REGISTRY.get_sample_value("ordercare_outbox_published_total") or 0.0
        orders = [m.order(f"ord_{n}") for n in range(40)]
        for doc in [m.catalog(), m.account()]:
            pipeline.publish(doc)
            pipeline.outcomes_for(doc["id"])
        for doc in orders:
            pipeline.publish(doc)
        got = pipeline.events.collect(lambda msgs: {d["id"] for d in orders} <= outcome_ids(msgs))
        # Outwait the grace period and a relay pass: anything published twice shows by then.
        got += pipeline.events.drain(GRACE + 1.0)
        ids = Counter(orjson.loads(b)["id"] for _p, b in got)
        assert len(ids) == 2 * len(orders)  # order.created and command.accepted each
        assert set(ids.values()) == {1}
        assert (REGISTRY.get_sample_value("ordercare_outbox_published_total") or 0.0) == relayed
        assert query(pipeline, "SELECT count(*) FROM outbox") == [(0,)]
    finally:
        pipeline.close()


def test_switched_off_the_relay_publishes_as_before(settings: Settings) -> None:
    pipeline = Pipeline(settings.model_copy(update={"direct_publish": False}))
    try:
        relayed = REGISTRY.get_sample_value("ordercare_outbox_published_total") or 0.0
        catalog = m.catalog()
        pipeline.publish(catalog)
        pipeline.outcomes_for(catalog["id"])
        assert pipeline.runtime.direct is None
        wait_for(
            lambda: (
                (REGISTRY.get_sample_value("ordercare_outbox_published_total") or 0.0) > relayed
            ),
            10,
            "the relay to publish",
        )
    finally:
        pipeline.close()
