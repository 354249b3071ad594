"""Issue 4 end to end, every piece a real process: a warehouse short-pick published with pika
goes through `ordercare worker` (line change, settlement, events) and `ordercare relay` to
`ordercare notifier`, which e-mails the customer once through SendGrid's stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pika
import pytest
from sqlalchemy import Engine, create_engine, text

from actors.settings import Settings
from actors.topology import declare
from tests import messages as m
from tests.e2e.conftest import Processes
from tests.e2e.test_notifier_process import consuming, notifier_environment, start_notifier
from tests.sendgrid_standin import HANG, SendGridStandIn, running, status
from tests.servers import Listener, wait_for

TEMPLATES = {"item_short": {"en": "d-short-en", "de": "d-short-de"}}


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with running() as standin:
        yield standin


class Shop:
    """Worker, relay and notifier processes; Ada (German) and her order of two tees and a
    hoodie; a pika client publishing as the helpdesk and the warehouse."""

    def __init__(self, settings: Settings, processes: Processes, sendgrid: SendGridStandIn) -> None:
        self.settings, self.sendgrid, self.processes = settings, sendgrid, processes
        self.events = Listener(settings.amqp_url, "")
        processes.start("worker", "--processes", "1", "--threads", "2", "--metrics-port", "0")
        processes.start("relay", "--metrics-port", "0")
        self.env = notifier_environment(settings, sendgrid) | {
            "ORDERCARE_NOTIFIER_TEMPLATES": orjson.dumps(TEMPLATES).decode()
        }
        self.notifier = start_notifier(processes, self.env)
        self.connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        self.channel = self.connection.channel()
        declare(self.channel, settings)  # as the worker does when it boots
        self.channel.confirm_delivery()
        self.engine: Engine = create_engine(settings.database_url)
        account = m.account()
        account["data"]["locale"] = "de-DE"
        for doc in (m.catalog(), account, m.order("ord_1001")):
            assert self.send(doc)["type"] == "command.accepted"
        self.notifier.wait_ready(lambda: consuming(settings), 30, "the notifier to consume")

    def send(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Publish to the type's exchange; the outcome, from its reply_to queue."""
        self.channel.basic_publish(
            self.settings.exchange_of(doc["type"]), doc["type"], m.body(doc),
            pika.BasicProperties(delivery_mode=2, reply_to=self.events.queue,
                                 correlation_id=doc["id"]),
        )  # fmt: skip
        got = self.events.collect(
            lambda msgs: any(p.correlation_id == doc["id"] for p, _b in msgs), 60
        )
        return next(orjson.loads(b) for p, b in got if p.correlation_id == doc["id"])

    def short_pick(self) -> dict[str, Any]:
        return m.warehouse("warehouse.short_picked", "ord_1001", line_id="l2", sku="HOODIE-GREY-L",
                           quantity=1, warehouse="berlin-1")  # fmt: skip

    def notifications(self, kind: str = "item_short") -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT event_id, status, attempts FROM notifications WHERE kind = :k"),
                {"k": kind},
            )
            return [dict(r._mapping) for r in rows]

    def mailed_skus(self) -> list[str]:
        """The item of each e-mail SendGrid accepted, in order."""
        return [mail.dynamic_template_data["item"]["sku"] for mail in self.sendgrid.accepted]

    def sent(self) -> list[dict[str, Any]]:
        return [n for n in self.notifications() if n["status"] == "sent"]

    def close(self) -> None:
        self.events.close()
        self.connection.close()
        self.engine.dispose()


@pytest.fixture
def shop(settings: Settings, processes: Processes, sendgrid: SendGridStandIn) -> Iterator[Shop]:
    running_shop = Shop(settings, processes, sendgrid)
    yield running_shop
    running_shop.close()


def test_a_short_pick_settles_the_line_and_emails_the_customer_exactly_once(shop: Shop) -> None:
    # When the warehouse reports one hoodie short
    short = shop.short_pick()
    outcome = shop.send(short)

    # Then the line is cut, the money settled, and the events published
    assert outcome["type"] == "command.accepted", outcome
    money = outcome["data"]["result"]["settlement"]
    assert (money["direction"], money["refund_due"]) == ("decrease", "71.28")
    with shop.engine.connect() as conn:
        memo_reasons = conn.execute(text("SELECT lines FROM credit_memos")).scalars().all()
    assert [line["reason"] for line in memo_reasons[0]["lines"]] == ["short_pick"]
    # And exactly one e-mail reaches SendGrid, with the German template and the facts
    wait_for(shop.sent, 30, "the item_short e-mail to be sent")
    [mail] = shop.sendgrid.accepted
    assert (mail.to, mail.template_id) == (["ada@example.com"], "d-short-de")
    data = mail.dynamic_template_data
    assert data["order_id"] == "ord_1001"
    assert data["customer_name"] == "Ada Lovelace"
    assert "71.28" in orjson.dumps(data).decode()
    assert "HOODIE-GREY-L" in orjson.dumps(data).decode()

    # When the warehouse's message is delivered again (a redelivery, same id), and then a
    # later short pick of the other line, whose e-mail follows the same path (outbox, relay,
    # notifier queue) after anything the redelivery could have caused
    again = shop.send(short)
    later = m.warehouse("warehouse.short_picked", "ord_1001", line_id="l1",
                        sku="TEE-ORGANIC-M", quantity=1, warehouse="berlin-1")  # fmt: skip
    assert shop.send(later)["type"] == "command.accepted"
    wait_for(lambda: "TEE-ORGANIC-M" in shop.mailed_skus(), 30, "the later short pick's e-mail")

    # Then the redelivery got its first outcome again, and by the time the later e-mail went
    # out no second e-mail for the hoodie was recorded or sent: one per short pick
    assert again["id"] == outcome["id"]
    assert len(shop.notifications()) == 2
    assert shop.mailed_skus() == ["HOODIE-GREY-L", "TEE-ORGANIC-M"]


def test_a_short_pick_email_waits_out_sendgrids_rate_limit(shop: Shop) -> None:
    shop.sendgrid.script(status(429, retry_after="1"))

    assert shop.send(shop.short_pick())["type"] == "command.accepted"

    wait_for(shop.sent, 30, "the item_short e-mail to be sent")
    [row] = shop.notifications()
    assert row["attempts"] == 2
    assert len(shop.sendgrid.requests) >= 2 and len(shop.sendgrid.accepted) == 1
    assert shop.sendgrid.requests[1] - shop.sendgrid.requests[0] >= 0.9  # Retry-After: 1


def test_a_notifier_killed_while_sending_the_short_pick_email_sends_it_once(shop: Shop) -> None:
    shop.sendgrid.script(HANG)

    assert shop.send(shop.short_pick())["type"] == "command.accepted"
    wait_for(lambda: shop.sendgrid.requests, 30, "the send to reach SendGrid")
    shop.notifier.kill()
    shop.notifier = start_notifier(shop.processes, shop.env)

    wait_for(shop.sent, 30, "the item_short e-mail to be sent after the restart")
    assert len(shop.sendgrid.accepted) == 1
    assert shop.notifications()[0]["attempts"] == 2
