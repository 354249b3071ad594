"""The notifier against the real RabbitMQ and PostgreSQL, and SendGrid's stand-in: events
published as OrderCare's relay publishes them, e-mails as SendGrid receives them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pika
import pika.exceptions
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from actors.settings import Settings
from actors.topology import declare
from notifier.main import Notifier
from notifier.settings import NotifierSettings
from persistence.notifications import open_notification_store
from tests import servers
from tests.notifier_events import cloudevent, order_created, order_delivered, order_shipped
from tests.sendgrid_standin import API_KEY, HANG, SendGridStandIn, running, status
from tests.servers import wait_for

TEMPLATES = {
    "order_confirmed": {"en": "d-confirmed-en", "de": "d-confirmed-de"},
    "shipped": {"en": "d-shipped-en"},
}
FROM_IDENTITY = "The from address does not match a verified Sender Identity."


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with running() as standin:
        yield standin


class Running:
    """OrderCare's exchanges, Ada's account, a notifier running in threads, and a pika
    client publishing to the events exchange as OrderCare's relay does."""

    def __init__(self, settings: Settings, sendgrid: SendGridStandIn, **overrides: Any) -> None:
        self.settings = settings
        self.engine: Engine = create_engine(settings.database_url)
        self.connect()
        declare(self.channel, settings)
        self.notifier_settings = NotifierSettings(**{
            "amqp_url": settings.amqp_url, "database_url": settings.database_url,
            "events_exchange": settings.events_exchange,
            "notifier_queue": f"{settings.events_exchange}.notifier", "sendgrid_api_key": API_KEY,
            "sendgrid_host": sendgrid.url, "notifier_templates": TEMPLATES,
            "notifier_poll_seconds": 0.05, "notifier_retry_base_seconds": 0.05,
            "notifier_retry_cap_seconds": 0.1, "notifier_senders": 2,
            "sendgrid_timeout_seconds": 2.0, "notifier_sending_lease_seconds": 5.0, **overrides,
        })  # fmt: skip
        store = open_notification_store(
            settings.database_url,
            settings.events_exchange,
            senders=self.notifier_settings.notifier_senders,
        )
        self.notifier = Notifier(self.notifier_settings, store)
        self.notifier.start()
        wait_for(self._consuming, what="the notifier to consume its queue")

    def account(self, email: str | None = "ada@example.com", opted_out: list[str] | None = None,
                locale: str = "de-DE") -> None:  # fmt: skip
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO billing_accounts (id, name, email, locale, status, created_at, "
                     "updated_at, notification_opt_outs) VALUES ('acc_ada', 'Ada Lovelace', :email, "
                     ":locale, 'active', :now, :now, CAST(:opt_outs AS jsonb))"),
                {"email": email, "locale": locale, "now": now,
                 "opt_outs": orjson.dumps(opted_out or []).decode()},
            )  # fmt: skip

    def connect(self) -> None:
        self.client = pika.BlockingConnection(pika.URLParameters(self.settings.amqp_url))
        self.channel = self.client.channel()
        self.channel.confirm_delivery()

    def publish(self, doc: dict[str, Any] | bytes, routing_key: str | None = None) -> None:
        body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
        key = routing_key or (doc["type"] if isinstance(doc, dict) else "")
        props = pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2)
        self.channel.basic_publish(self.settings.events_exchange, key, body, props, mandatory=True)

    def rows(self, event_id: str | None = None) -> list[dict[str, Any]]:
        where = " WHERE event_id = :e" if event_id else ""
        with self.engine.connect() as conn:
            result = conn.execute(
                text(f"SELECT * FROM notifications{where} ORDER BY id"), {"e": event_id}
            )
            return [dict(r._mapping) for r in result]

    def row(self, event_id: str, *statuses: str) -> dict[str, Any]:
        """The event's one notification, once it has reached one of `statuses`."""

        def reached() -> dict[str, Any] | None:
            rows = self.rows(event_id)
            return rows[0] if rows and rows[0]["status"] in statuses else None

        found: dict[str, Any] = wait_for(reached, what=f"a notification {'/'.join(statuses)}")
        assert len(self.rows(event_id)) == 1
        return found

    def outbox(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(row, CloudEvent) of every outbox row."""
        with self.engine.connect() as conn:
            rows = [
                dict(r._mapping) for r in conn.execute(text("SELECT * FROM outbox ORDER BY id"))
            ]
        return [(r, orjson.loads(r["body"])) for r in rows]

    def close(self) -> None:
        self.notifier.stop()
        if self.client.is_open:
            self.client.close()
        self.engine.dispose()

    def _consuming(self) -> bool:
        channel = self.client.channel()
        try:
            queue = self.notifier_settings.notifier_queue
            return int(channel.queue_declare(queue, passive=True).method.consumer_count) > 0
        except pika.exceptions.ChannelClosedByBroker:
            return False
        finally:
            if channel.is_open:
                channel.close()


@pytest.fixture
def start(settings: Settings, sendgrid: SendGridStandIn) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def starting(**overrides: Any) -> Running:
        started.append(Running(settings, sendgrid, **overrides))
        return started[-1]

    yield starting
    for running_ in started:
        running_.close()


def test_an_order_confirmation_is_mailed_once_in_the_customers_language_with_the_facts(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    # Given Ada, who reads German, and a running notifier
    world = start()
    world.account()
    # When OrderCare publishes that her order was created
    event = cloudevent(order_created())
    world.publish(event)
    # Then one e-mail goes to her with the German template and her order's facts
    row = world.row(event["id"], "sent")
    [mail] = sendgrid.accepted
    assert (mail.to, mail.template_id) == (["ada@example.com"], "d-confirmed-de")
    assert mail.dynamic_template_data["customer_name"] == "Ada Lovelace"
    assert mail.dynamic_template_data["totals"]["total"] == {"amount": "136.67", "currency": "EUR"}
    assert mail.body["custom_args"] == {"notification_id": str(row["id"]), "event_id": event["id"]}
    assert (row["kind"], row["attempts"], row["locale"]) == ("order_confirmed", 1, "de-DE")
    assert row["provider_message_id"] == mail.message_id
    # And customer.notified is in OrderCare's outbox, without her address
    [(out, notified)] = wait_for(world.outbox, what="customer.notified in the outbox")
    assert (out["exchange"], out["routing_key"], out["message_id"]) == (
        world.settings.events_exchange, "customer.notified", notified["id"])  # fmt: skip
    assert out["properties"] == {
        "content_type": "application/cloudevents+json",
        "type": "customer.notified",
    }
    assert (notified["source"], notified["causationid"], notified["correlationid"]) == (
        "ordercare/notifier", event["id"], "ticket-4411")  # fmt: skip
    assert notified["data"] == {
        "notification_id": row["id"], "event_id": event["id"], "event_type": "order.created",
        "kind": "order_confirmed", "account_id": "acc_ada", "order_id": "ord_ada_1",
        "template_id": "d-confirmed-de", "locale": "de-DE", "provider_message_id": mail.message_id,
    }  # fmt: skip
    assert b"ada@example.com" not in out["body"]


def test_a_redelivered_event_finds_its_record_and_sends_nothing_new(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account()
    event = cloudevent(order_created())
    world.publish(event)
    world.row(event["id"], "sent")
    # When the same event arrives again, followed by another one
    world.publish(event)
    later = cloudevent(order_shipped())
    world.publish(later)
    world.row(later["id"], "sent")
    # Then the first was not mailed again: one row, one e-mail
    assert [m.template_id for m in sendgrid.accepted] == ["d-confirmed-de", "d-shipped-en"]
    assert len(world.rows(event["id"])) == 1


def test_a_rate_limited_send_waits_for_retry_after_and_is_then_sent_once(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account()
    sendgrid.script(status(429, "Too many requests", retry_after="1"))
    event = cloudevent(order_created())
    world.publish(event)
    row = world.row(event["id"], "sent")
    [mail] = sendgrid.accepted
    first, second = sendgrid.requests
    assert second - first >= 0.95  # Retry-After: 1, not the 0.05 s backoff
    assert (row["attempts"], row["provider_message_id"]) == (2, mail.message_id)
    [(_out, notified)] = wait_for(world.outbox, what="customer.notified")
    assert (notified["type"], notified["data"]["provider_message_id"]) == (
        "customer.notified", mail.message_id)  # fmt: skip


def test_server_errors_until_the_bound_fail_and_publish_notification_failed(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start(notifier_max_attempts=3)
    world.account()
    sendgrid.script(status(500), status(503), status(500))
    event = cloudevent(order_created())
    world.publish(event)
    row = world.row(event["id"], "failed")
    assert (row["reason"], row["attempts"], row["last_status"]) == ("retries_exhausted", 3, 500)
    assert sendgrid.accepted == []
    [(out, failed)] = wait_for(world.outbox, what="customer.notification_failed")
    assert out["routing_key"] == "customer.notification_failed"
    assert (failed["causationid"], failed["data"]["notification_id"]) == (event["id"], row["id"])
    assert failed["data"] | {"error": None} == failed["data"] | {
        "reason": "retries_exhausted", "status_code": 500, "attempts": 3, "kind": "order_confirmed",
        "error": None}  # fmt: skip


def test_a_refused_request_fails_at_once_with_sendgrids_reason(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account()
    sendgrid.script(status(400, FROM_IDENTITY))
    event = cloudevent(order_created())
    world.publish(event)
    row = world.row(event["id"], "failed")
    assert (row["reason"], row["attempts"], row["last_status"]) == ("rejected", 1, 400)
    assert FROM_IDENTITY in row["last_error"]
    [(_out, failed)] = wait_for(world.outbox, what="customer.notification_failed")
    assert (failed["data"]["reason"], failed["data"]["status_code"]) == ("rejected", 400)
    assert FROM_IDENTITY in failed["data"]["error"]
    assert len(sendgrid.requests) == 1


def test_a_wrong_api_key_fails_at_once_as_unauthorised(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start(sendgrid_api_key="SG.revoked")
    world.account()
    event = cloudevent(order_created())
    world.publish(event)
    row = world.row(event["id"], "failed")
    assert (row["reason"], row["last_status"]) == ("rejected", 401)
    assert "authorization grant is invalid" in row["last_error"]


def test_a_send_that_times_out_is_tried_again(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start(sendgrid_timeout_seconds=0.3, notifier_sending_lease_seconds=2.0)
    world.account()
    sendgrid.script(HANG)
    event = cloudevent(order_created())
    world.publish(event)
    row = world.row(event["id"], "sent")
    assert (row["attempts"], len(sendgrid.accepted)) == (2, 1)


def test_a_customer_without_an_email_address_is_recorded_as_skipped_no_email(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account(email=None)
    event = cloudevent(order_created())
    world.publish(event)
    row = world.row(event["id"], "skipped")
    assert (row["reason"], row["attempts"]) == ("no_email", 0)
    assert sendgrid.requests == []


def test_a_customer_who_opted_out_of_the_kind_is_recorded_as_skipped_opted_out(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account(opted_out=["order_confirmed"])
    event = cloudevent(order_created())
    world.publish(event)
    assert world.row(event["id"], "skipped")["reason"] == "opted_out"
    shipped = cloudevent(order_shipped())  # other kinds still reach her
    world.publish(shipped)
    world.row(shipped["id"], "sent")
    assert [m.template_id for m in sendgrid.accepted] == ["d-shipped-en"]


def test_an_agents_notify_customer_false_is_recorded_as_skipped_suppressed_by_agent(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account()
    event = cloudevent(order_created(), notifycustomer=False)
    world.publish(event)
    assert world.row(event["id"], "skipped")["reason"] == "suppressed_by_agent"
    assert sendgrid.requests == []


def test_a_kind_without_a_template_is_recorded_as_skipped_no_template(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account()
    event = cloudevent(order_delivered())
    world.publish(event)
    assert world.row(event["id"], "skipped")["reason"] == "no_template"
    assert sendgrid.requests == []


def test_sandbox_mode_reaches_sendgrid_and_the_validated_mail_counts_as_sent(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start(sendgrid_sandbox_mode=True)
    world.account()
    event = cloudevent(order_created())
    world.publish(event)
    row = world.row(event["id"], "sent")
    [mail] = sendgrid.accepted
    assert mail.body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert row["provider_message_id"] is None


def test_an_unreadable_event_is_dropped_without_holding_up_the_next(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account()
    world.publish(b"{not json", "order.created")
    broken = cloudevent(order_created())
    broken["data"]["totals"] = None
    world.publish(broken)
    event = cloudevent(order_shipped())
    world.publish(event)
    world.row(event["id"], "sent")
    assert [r["event_id"] for r in world.rows()] == [event["id"]]
    assert len(sendgrid.accepted) == 1


def test_no_name_or_address_reaches_the_logs_even_at_debug(
    start: Callable[..., Running], sendgrid: SendGridStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = start()
    world.account()
    sendgrid.script(status(500), status(400, FROM_IDENTITY))
    event, shipped = cloudevent(order_created()), cloudevent(order_shipped())
    world.publish(event)
    world.row(event["id"], "failed")
    world.publish(shipped)
    world.row(shipped["id"], "sent")
    assert "notification failed" in caplog.text
    for personal in ("ada@example.com", "Ada Lovelace", "Invalidenstra", "10115", API_KEY):
        assert personal not in caplog.text


def test_an_event_that_cannot_be_recorded_goes_back_to_the_queue_and_is_recorded_later(
    start: Callable[..., Running], sendgrid: SendGridStandIn
) -> None:
    world = start()
    world.account()
    record, refused = world.notifier.consumer.handle, list[bytes]()

    def database_down_once(body: bytes) -> object:
        if not refused:
            refused.append(body)
            raise OperationalError("INSERT INTO notifications", {}, ConnectionError("gone"))
        return record(body)

    world.notifier.consumer.handle = database_down_once
    event = cloudevent(order_created())
    world.publish(event)
    world.row(event["id"], "sent")
    assert (len(refused), len(sendgrid.accepted)) == (1, 1)


def test_the_consumer_reconnects_after_the_broker_closed_its_connection(
    start: Callable[..., Running],
    sendgrid: SendGridStandIn,
    vhost: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = start()
    world.account()
    servers.rabbitmqctl("close_all_connections", "-p", vhost, "test: broker restart")
    wait_for(lambda: "cannot consume" in caplog.text, what="the consumer to notice")
    world.connect()
    wait_for(world._consuming, what="the notifier to consume again")
    event = cloudevent(order_created())
    world.publish(event)
    world.row(event["id"], "sent")
    assert len(sendgrid.accepted) == 1
