"""The SQL unit of work, inbox and outbox against the real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

from persistence.engine import make_engine
from persistence.journal import InboxEntry
from persistence.outbox import OutboundMessage, OutboxStore
from persistence.repositories import ReferenceCache
from persistence.sql import Sql
from persistence.uow import SqlUnitOfWork
from services.accounts.model import Account
from services.orders.model import DeliveryInfo, Line, Order, PaymentFacts

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=4)
    yield engine
    engine.dispose()


def uow(engine: Engine) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine, ReferenceCache())


def an_order(order_id: str = "ord_ada_1") -> Order:
    order, _ = Order.place(
        order_id=order_id,
        account_id="acc_ada",
        currency="KWD",
        lines=[Line("l1", "LAMP", "Brass lamp", Decimal("12.345"), "standard", 3)],
        delivery=DeliveryInfo("standard", "KW", Decimal("1.500")),
        tax_rates={"standard": Decimal("0")},
        payment=PaymentFacts(Decimal("38.535"), Decimal("38.535")),
        invoice_id="inv_1",
        now=NOW,
    )
    return order


def with_account(engine: Engine) -> None:
    with uow(engine) as u:
        u.accounts.add(Account("acc_ada", "Ada Lovelace", email="ada@example.com"))
        u.commit()


def test_an_order_survives_the_round_trip_with_every_decimal_exact(engine: Engine) -> None:
    with_account(engine)
    with uow(engine) as u:
        assert u.orders.add(an_order())
        u.commit()
    with uow(engine) as u:
        loaded = u.orders.get("ord_ada_1")
    assert loaded == an_order()
    assert loaded is not None and loaded.priced().total == Decimal("38.535")


def test_adding_an_order_id_that_is_taken_reports_false_instead_of_raising(engine: Engine) -> None:
    with_account(engine)
    with uow(engine) as u:
        assert u.orders.add(an_order())
        assert not u.orders.add(an_order())
        u.commit()


def test_the_inbox_records_a_command_once_and_returns_its_first_outcome(engine: Engine) -> None:
    with uow(engine) as u:
        first = u.inbox.record("helpdesk", "cmd-1", type="order.cancel", subject=None,
                               outcome_type="command.accepted", outcome=b'{"id":"e1"}', at=NOW)  # fmt: skip
        again = u.inbox.record("helpdesk", "cmd-1", type="order.cancel", subject=None,
                               outcome_type="command.rejected", outcome=b'{"id":"e2"}', at=NOW)  # fmt: skip
        u.commit()
    with uow(engine) as u:
        stored = u.inbox.find("helpdesk", "cmd-1")
    assert (first, again) == (True, False)
    assert stored is not None and stored.outcome == b'{"id":"e1"}'


def test_the_same_id_from_another_source_is_another_command(engine: Engine) -> None:
    with uow(engine) as u:
        assert u.inbox.record(
            "helpdesk/eu", "1", type="t", subject=None, outcome_type="x", outcome=b"{}", at=NOW
        )
        assert u.inbox.record(
            "helpdesk/us", "1", type="t", subject=None, outcome_type="x", outcome=b"{}", at=NOW
        )


def test_nothing_is_written_when_the_unit_of_work_is_not_committed(engine: Engine) -> None:
    with_account(engine)
    with uow(engine) as u:
        u.orders.add(an_order())
        u.outbox.add([OutboundMessage("ex", "order.created", "e1", b"{}", {})], NOW)
    with engine.connect() as conn:
        counts = conn.execute(
            text("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM outbox)")
        ).one()
    assert tuple(counts) == (0, 0)


def outbox_rows(engine: Engine, n: int) -> None:
    with uow(engine) as u:
        u.outbox.add([OutboundMessage("ex", "rk", f"m{i}", b"{}", {}) for i in range(n)], NOW)
        u.commit()


def test_two_relays_claim_disjoint_batches(engine: Engine) -> None:
    # Given 10 rows, and a first relay holding a claim on a batch of 6
    outbox_rows(engine, 10)
    store = OutboxStore(engine)
    claimed, released = threading.Event(), threading.Event()
    first: list[str] = []

    def first_relay() -> None:
        with store.claim(6) as claim:
            first.extend(m.message_id for m in claim.messages)
            claimed.set()
            released.wait(10)

    thread = threading.Thread(target=first_relay)
    thread.start()
    assert claimed.wait(10)
    # When a second relay claims while the first still holds its rows
    with store.claim(10) as claim:
        second = [m.message_id for m in claim.messages]
    released.set()
    thread.join()
    # Then it gets only the other rows
    assert len(first) == 6
    assert sorted(first + second) == sorted(f"m{i}" for i in range(10))


def test_published_rows_leave_the_outbox_and_deferred_rows_wait(engine: Engine) -> None:
    outbox_rows(engine, 3)
    store = OutboxStore(engine)
    with store.claim(10) as claim:
        claim.published(claim.ids[:1])
        claim.defer(claim.ids[1:2], seconds=60)
    with store.claim(10) as claim:
        left = [m.message_id for m in claim.messages]
    assert left == ["m2"]
    assert store.backlog()[0] == 2


def test_a_connection_killed_mid_unit_of_work_is_reported_lost_and_not_reused(
    engine: Engine,
) -> None:
    from sqlalchemy.exc import OperationalError

    from actors.failures import is_infrastructure
    from tests.servers import admin

    with_account(engine)
    # Given a unit of work whose server backend is terminated between two statements
    with pytest.raises(OperationalError) as raised, uow(engine) as u:
        assert u.accounts.get("acc_ada") is not None
        [backend] = Sql(u.conn).one("SELECT pg_backend_pid()") or [None]
        admin(f"SELECT pg_terminate_backend({backend})")
        u.accounts.get("acc_ada")
    # Then the error says so, is retried as infrastructure, and the pool hands out a live one
    assert raised.value.connection_invalidated
    assert is_infrastructure(raised.value)
    with uow(engine) as u:
        assert u.accounts.get("acc_ada") is not None


def test_the_journal_returns_the_outbox_ids_in_message_order_and_their_available_time(
    engine: Engine,
) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(seconds=5)
    messages = [OutboundMessage("ordercare.events", "t", f"evt-{n}", b"{}", {}) for n in range(7)]
    entry = InboxEntry("helpdesk", "cmd-ids", "order.cancel", None, "command.accepted", b"{}", now)
    with uow(engine) as u:
        ids = u.journal.record(entry, messages, [], available_at=later)
        again = u.journal.record(entry, messages, [])
        u.commit()
    assert ids is not None and len(ids) == 7 and again is None
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, message_id, available_at FROM outbox ORDER BY id")
        ).all()
    assert [(r[0], r[1]) for r in rows] == [
        (i, m.message_id) for i, m in zip(ids, messages, strict=True)
    ]
    assert {r[2] for r in rows} == {later}
    assert OutboxStore(engine).backlog() == (0, 0.0)  # in their grace: no backlog
    OutboxStore(engine).delete(ids[:3])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 4
