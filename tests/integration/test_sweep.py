"""The sweeper through RabbitMQ and PostgreSQL: an advance exchange whose return never
arrives is expired by the command the sweeper sends, and the balance is charged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.sweep import due_commands
from tests import messages as m

from .conftest import Pipeline, query, run
from .test_amendments import seed


def exchange_a_tee_for_the_hoodie(pipeline: Pipeline, order_id: str) -> None:
    seed(pipeline, order_id)
    shipped = m.warehouse(
        "warehouse.shipped", order_id, shipment_id="shp_1", carrier="DHL",
        tracking_number="JJD1", warehouse="wh_berlin",
        lines=[{"line_id": "l1", "quantity": 2}, {"line_id": "l2", "quantity": 1}],
    )  # fmt: skip
    assert run(pipeline, shipped)[0]["type"] == "command.accepted"
    exchange = m.envelope(
        "return.create",
        {"actor": m.AGENT, "order_id": order_id, "return_id": "rma_1", "reason": "wrong_size",
         "lines": [{"line_id": "l1", "quantity": 1, "reason": "wrong_size"}],
         "replacements": [{"line_id": "l1", "sku": "HOODIE-GREY-L"}]},
        subject=order_id,
    )  # fmt: skip
    outcome, events = run(pipeline, exchange)
    assert outcome["type"] == "command.accepted", outcome["data"]
    assert {"return.authorized", "exchange.created", "payment.balance_due"} <= set(events)
    # An advance exchange: the hoodie ships at once.
    replacement = m.warehouse(
        "warehouse.shipped", order_id, shipment_id="shp_2", carrier="DHL",
        tracking_number="JJD2", warehouse="wh_berlin", lines=[{"line_id": "l3", "quantity": 1}],
    )  # fmt: skip
    assert run(pipeline, replacement)[0]["type"] == "command.accepted"


def test_an_overdue_advance_exchange_is_expired_by_the_sweeper_and_its_balance_charged(
    pipeline: Pipeline,
) -> None:
    month_ago = datetime.now(UTC) - timedelta(days=31)
    processor = pipeline.runtime.processor
    processor.clock = lambda: month_ago  # the exchange was made a month ago
    exchange_a_tee_for_the_hoodie(pipeline, "ord_sweep_1")
    processor.clock = lambda: datetime.now(UTC)
    now = datetime.now(UTC)
    assert not [
        e for e in due_commands(pipeline.engine, now - timedelta(days=2))
        if e["subject"] == "ord_sweep_1"
    ]  # fmt: skip

    [expire] = [e for e in due_commands(pipeline.engine, now) if e["subject"] == "ord_sweep_1"]
    outcome, events = run(pipeline, expire)

    assert expire["type"] == "return.expire"
    assert expire["data"] == {"order_id": "ord_sweep_1", "return_id": "rma_1",
                              "actor": {"id": "sweeper", "role": "system"}}  # fmt: skip
    assert outcome["type"] == "command.accepted", outcome["data"]
    assert events["return.expired"]["data"]["rma"]["status"] == "expired"
    # The tee comes back onto the charge (25.00 + 19 % VAT) on top of the hoodie's 34.90 + VAT.
    assert events["payment.balance_due"]["data"]["balance_due"] == "71.28"
    assert query(pipeline, "SELECT count(*) FROM deadlines WHERE subject = %s", "ord_sweep_1") == [
        (0,)
    ]


def test_a_sent_deadline_is_not_sent_again_before_its_retry_time(pipeline: Pipeline) -> None:
    exchange_a_tee_for_the_hoodie(pipeline, "ord_sweep_2")
    later = datetime.now(UTC) + timedelta(days=31)

    first = [e for e in due_commands(pipeline.engine, later) if e["subject"] == "ord_sweep_2"]
    again = [e for e in due_commands(pipeline.engine, later) if e["subject"] == "ord_sweep_2"]
    retry = [
        e
        for e in due_commands(pipeline.engine, later + timedelta(minutes=11))
        if e["subject"] == "ord_sweep_2"
    ]

    assert len(first) == 1 and again == []
    assert len(retry) == 1 and retry[0]["id"] != first[0]["id"]
