"""The intake and the sender over the notifier's store (persistence/notifications.py) on this
test's PostgreSQL database, with a fake mailer and a clock the test moves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError

from notifier.intake import EventIntake
from notifier.mail import Mail, SendResult
from notifier.retry import RetryPolicy
from notifier.sender import Sender
from persistence.notifications import SqlNotificationStore, open_notification_store
from tests import servers
from tests.notifier_events import cloudevent, order_created, order_shipped

TEMPLATES = {"order_confirmed": {"en": "d-confirmed-en"}, "shipped": {"en": "d-shipped-en"}}


class FakeMailer:
    """Accepts every mail (202) unless told otherwise; runs `during` inside each send."""

    def __init__(self) -> None:
        self.sent: list[Mail] = []
        self.during: Any = None

    def send(self, mail: Mail) -> SendResult:
        self.sent.append(mail)
        if self.during:
            self.during()
        return SendResult(202, message_id=f"msg-{len(self.sent)}")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(database_url: str) -> Iterator[SqlNotificationStore]:
    store = open_notification_store(database_url, "ordercare.events", senders=2)
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO billing_accounts (id, name, email, locale, status, created_at, "
                 "updated_at) VALUES ('acc_ada', 'Ada Lovelace', 'ada@example.com', 'en', 'active', "
                 "'2026-11-01 00:00:00', '2026-11-01 00:00:00')")
        )  # fmt: skip
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def sender(store: SqlNotificationStore, mailer: FakeMailer, clock: Clock) -> Sender:
    return Sender(store, mailer, RetryPolicy(), batch=10, poll_seconds=0.01, lease_seconds=60,
                  stopping=threading.Event(), wake=threading.Event(), clock=clock)  # fmt: skip


def accept(store: SqlNotificationStore, doc: dict[str, Any]) -> str:
    return EventIntake(store, TEMPLATES).accept(orjson.dumps(doc))


def rows(store: SqlNotificationStore) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        result = conn.execute(
            text("SELECT status, reason, attempts FROM notifications ORDER BY id")
        )
        return [dict(r._mapping) for r in result]


def outbox_types(store: SqlNotificationStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(text("SELECT routing_key FROM outbox ORDER BY id")).scalars())


def set_account(store: SqlNotificationStore, sql: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE billing_accounts SET {sql} WHERE id = 'acc_ada'"))


def test_an_event_is_recorded_once_however_often_it_is_delivered(
    store: SqlNotificationStore,
) -> None:
    event = cloudevent(order_created())
    assert accept(store, event) == "recorded"
    assert accept(store, event) == "duplicate"
    assert rows(store) == [{"status": "pending", "reason": None, "attempts": 0}]


def test_events_nobody_is_mailed_about_and_unreadable_bodies_record_nothing(
    store: SqlNotificationStore,
) -> None:
    assert accept(store, cloudevent(order_created()) | {"type": "credit_memo.issued"}) == "ignored"
    assert EventIntake(store, TEMPLATES).accept(b"\xff not json") == "invalid"
    assert EventIntake(store, TEMPLATES).accept(b"[1, 2]") == "invalid"
    assert rows(store) == []


def test_an_event_for_an_unknown_account_is_recorded_as_skipped_no_account(
    store: SqlNotificationStore,
) -> None:
    doc = cloudevent(order_created())
    doc["data"]["account_id"] = "acc_nobody"
    accept(store, doc)
    assert rows(store) == [{"status": "skipped", "reason": "no_account", "attempts": 0}]


def test_a_due_notification_is_sent_and_announced_in_the_outbox(
    store: SqlNotificationStore, sender: Sender, mailer: FakeMailer
) -> None:
    accept(store, cloudevent(order_created()))
    assert sender.send_due() == 1
    [mail] = mailer.sent
    assert (mail.to_email, mail.template_id) == ("ada@example.com", "d-confirmed-en")
    assert rows(store) == [{"status": "sent", "reason": None, "attempts": 1}]
    assert outbox_types(store) == ["customer.notified"]
    assert sender.send_due() == 0


def test_a_sending_row_whose_sender_died_is_claimed_again_once_its_lease_ends(
    store: SqlNotificationStore, clock: Clock
) -> None:
    accept(store, cloudevent(order_created()))
    [first] = store.claim(10, clock.now, lease_seconds=60)
    assert store.claim(10, clock.now + timedelta(seconds=59), lease_seconds=60) == []
    [again] = store.claim(10, clock.now + timedelta(seconds=61), lease_seconds=60)
    assert (again.id, first.attempts, again.attempts) == (first.id, 1, 2)


def test_an_outcome_is_not_recorded_by_a_sender_whose_lease_ran_out(
    store: SqlNotificationStore, clock: Clock
) -> None:
    accept(store, cloudevent(order_created()))
    [late] = store.claim(10, clock.now, lease_seconds=60)
    store.claim(10, clock.now + timedelta(seconds=61), lease_seconds=60)
    assert not store.sent(late, SendResult(202, "msg-late"), clock.now + timedelta(seconds=62))
    assert rows(store) == [{"status": "sending", "reason": None, "attempts": 2}]
    assert outbox_types(store) == []


def test_a_row_another_sender_took_over_before_its_turn_in_the_batch_is_not_sent(
    store: SqlNotificationStore, sender: Sender, mailer: FakeMailer, clock: Clock
) -> None:
    accept(store, cloudevent(order_created()))
    [mine] = store.claim(10, clock.now, lease_seconds=60)
    store.claim(10, clock.now + timedelta(seconds=61), lease_seconds=60)  # mine ran out
    clock.now += timedelta(seconds=62)
    sender.send_one(mine)
    assert mailer.sent == []
    assert rows(store) == [{"status": "sending", "reason": None, "attempts": 2}]


def test_a_customer_whose_address_was_removed_since_the_event_is_skipped_at_send_time(
    store: SqlNotificationStore, sender: Sender, mailer: FakeMailer
) -> None:
    accept(store, cloudevent(order_created()))
    set_account(store, "email = NULL")
    sender.send_due()
    assert (mailer.sent, rows(store)[0]["reason"]) == ([], "no_email")


def test_a_customer_who_opted_out_since_the_event_is_skipped_at_send_time(
    store: SqlNotificationStore, sender: Sender, mailer: FakeMailer
) -> None:
    accept(store, cloudevent(order_created()))
    set_account(store, """notification_opt_outs = '["order_confirmed"]'""")
    sender.send_due()
    assert (mailer.sent, rows(store)[0]["reason"]) == ([], "opted_out")


def test_a_stopping_sender_hands_back_the_rows_it_has_not_tried(
    store: SqlNotificationStore, sender: Sender, mailer: FakeMailer
) -> None:
    for doc in (
        cloudevent(order_created()),
        cloudevent(order_shipped()),
        cloudevent(order_created()),
    ):
        accept(store, doc)
    mailer.during = sender.stopping.set  # stop arrives during the first send
    assert sender.send_due() == 3
    assert len(mailer.sent) == 1
    assert [r["status"] for r in rows(store)] == ["sent", "pending", "pending"]
    assert [r["attempts"] for r in rows(store)] == [1, 0, 0]


def test_the_age_of_the_oldest_unsent_notification(
    store: SqlNotificationStore, sender: Sender, clock: Clock
) -> None:
    assert store.oldest_unsent_age(clock.now) == 0.0
    accept(store, cloudevent(order_created()))
    assert 99 <= store.oldest_unsent_age(clock.now + timedelta(seconds=100)) <= 102
    sender.send_due()
    assert store.oldest_unsent_age(clock.now) == 0.0


def test_a_connection_postgresql_dropped_fails_once_and_the_next_pass_has_a_fresh_one(
    store: SqlNotificationStore, database_url: str, clock: Clock
) -> None:
    # The one engine policy has no pre-ping (persistence/engine.py): a dropped connection
    # fails its first statement, the pool discards it, and the sender's next pass works.
    accept(store, cloudevent(order_created()))
    database = make_url(database_url).database
    servers.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )

    with pytest.raises(OperationalError):
        store.claim(10, clock.now, lease_seconds=60)
    [claimed] = store.claim(10, clock.now, lease_seconds=60)
    assert claimed.kind == "order_confirmed"
