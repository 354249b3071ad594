"""The inbound processor against the real PostgreSQL: exactly-once effects under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from actors.failures import is_infrastructure
from actors.inbound import InboundMessage, InboundProcessor
from actors.settings import Settings
from persistence.engine import make_engine
from persistence.outbox import OutboundMessage
from persistence.repositories import ReferenceCache
from persistence.uow import SqlUnitOfWork
from tests import messages as m
from tests.servers import wait_for


class Replies:
    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    def reply(self, message: OutboundMessage) -> None:
        self.sent.append(message)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=8)
    yield engine
    engine.dispose()


@pytest.fixture
def processor(engine: Engine, settings: Settings) -> InboundProcessor:
    cache = ReferenceCache()
    return InboundProcessor(settings, lambda: SqlUnitOfWork(engine, cache), Replies())


def deliver(processor: InboundProcessor, doc: dict[str, Any], **kwargs: Any) -> None:
    processor.process(
        InboundMessage(m.body(doc), processor.settings.commands_exchange, doc["type"], **kwargs)
    )


def outcomes(engine: Engine, command_id: str | None = None) -> list[dict[str, Any]]:
    """Outcomes waiting in the outbox for the events exchange, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT body FROM outbox WHERE exchange <> '' AND routing_key LIKE 'command.%' "
                                 "ORDER BY id")).all()  # fmt: skip
    found = [orjson.loads(r.body) for r in rows]
    return [o for o in found if command_id is None or o["data"]["command_id"] == command_id]


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


@pytest.fixture
def ada(processor: InboundProcessor) -> InboundProcessor:
    deliver(processor, m.catalog())
    deliver(processor, m.account())
    return processor


def in_parallel(*calls: Callable[[], None]) -> None:
    """Run each call in its own thread, all released together by a barrier."""
    start = threading.Barrier(len(calls))

    def after_the_barrier(call: Callable[[], None]) -> Callable[[], None]:
        def go() -> None:
            start.wait()
            call()

        return go

    join(*start_threads([after_the_barrier(c) for c in calls]))


def start_threads(
    calls: Sequence[Callable[[], None]],
) -> tuple[list[threading.Thread], list[BaseException]]:
    """Each call in a thread of its own, started; what any of them raises is collected."""
    errors: list[BaseException] = []

    def collecting(call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=collecting, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    return threads, errors


def join(threads: list[threading.Thread], errors: list[BaseException]) -> None:
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a call did not finish"
    assert not errors, errors


def test_an_order_and_its_outcome_commit_together(ada: InboundProcessor, engine: Engine) -> None:
    create = m.order("ord_1001")
    deliver(ada, create)
    [outcome] = outcomes(engine, create["id"])
    assert outcome["type"] == "command.accepted"
    assert outcome["data"]["result"]["totals"]["total"] == m.ADA_TOTAL
    assert count(engine, "SELECT count(*) FROM orders") == 1
    assert count(engine, "SELECT count(*) FROM invoices") == 1
    assert count(engine, "SELECT count(*) FROM audit_log WHERE entity_id = 'ord_1001'") == 1


def test_a_resent_command_gets_its_first_outcome_again_and_no_second_effect(
    ada: InboundProcessor, engine: Engine
) -> None:
    create = m.order("ord_1001")
    deliver(ada, create)
    deliver(ada, create)
    first, again = outcomes(engine, create["id"])
    assert first == again
    assert count(engine, "SELECT count(*) FROM orders") == 1


def test_a_redelivered_command_already_applied_gets_the_same_outcome_and_no_second_effect(
    ada: InboundProcessor, engine: Engine
) -> None:
    create = m.order("ord_1001")
    deliver(ada, create)
    deliver(ada, create, redelivered=True)
    first, again = outcomes(engine, create["id"])
    assert first == again  # the same event, the same id: a consumer dedupes it
    assert count(engine, "SELECT count(*) FROM orders") == 1


def test_the_same_command_delivered_twice_at_once_has_one_effect(
    ada: InboundProcessor, engine: Engine
) -> None:
    create = m.order("ord_1001")
    in_parallel(lambda: deliver(ada, create), lambda: deliver(ada, create))
    first, again = outcomes(engine, create["id"])
    assert first == again and first["type"] == "command.accepted"
    assert count(engine, "SELECT count(*) FROM orders") == 1


def test_two_cancels_of_one_order_at_once_apply_one_at_a_time(
    ada: InboundProcessor, engine: Engine
) -> None:
    deliver(ada, m.order("ord_1001"))
    one, two = m.cancel("ord_1001"), m.cancel("ord_1001")
    # Both cancels are in flight together: each waits on the order's row lock, held by the
    # test, until both wait; only then may they go (one after the other would never start
    # the second while the first waits, and the test would time out)
    behind_the_order_lock(engine, "ord_1001", lambda: deliver(ada, one), lambda: deliver(ada, two))
    results = {
        o["data"]["command_id"]: o["data"].get("code", o["type"])
        for o in outcomes(engine)
        if o["data"]["command_type"] == "order.cancel"
    }
    assert sorted(results.values()) == ["command.accepted", "not_allowed_in_state"], results
    assert set(results) == {one["id"], two["id"]}
    assert count(engine, "SELECT count(*) FROM orders WHERE status = 'cancelled'") == 1
    assert count(engine, "SELECT version FROM orders WHERE id = 'ord_1001'") == 2
    assert count(engine, "SELECT count(*) FROM credit_memos") == 1
    assert count(engine, "SELECT count(*) FROM refunds") == 1
    assert count(engine, "SELECT count(*) FROM audit_log WHERE action = 'order.cancelled'") == 1


def behind_the_order_lock(engine: Engine, order_id: str, *calls: Callable[[], None]) -> None:
    """Run each call in its own thread while a connection of the test's own holds the order's
    row lock; release it once every call is waiting for that lock, so all contend at once."""
    with engine.connect() as holder:
        holder.execute(text("SELECT 1 FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})
        threads, errors = start_threads(calls)
        wait_for(
            lambda: waiting_for_locks(engine) == len(calls),
            20,
            f"{len(calls)} transactions to wait on the order's row lock",
        )
        holder.rollback()
    join(threads, errors)


def waiting_for_locks(engine: Engine) -> int:
    """How many sessions of this database wait for a lock (on the holder's, or in the queue
    behind another waiter)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND cardinality(pg_blocking_pids(pid)) > 0"
                )
            ).scalar_one()
        )


def test_a_command_written_against_another_version_is_refused_with_version_conflict(
    ada: InboundProcessor, engine: Engine
) -> None:
    deliver(ada, m.order("ord_1001"))
    stale = m.cancel("ord_1001", expected_version=3)
    deliver(ada, stale)
    [outcome] = outcomes(engine, stale["id"])
    assert outcome["data"]["code"] == "version_conflict"
    assert outcome["data"]["details"] == {"current_version": 1, "expected_version": 3}
    assert count(engine, "SELECT count(*) FROM orders WHERE status = 'cancelled'") == 0


def test_a_failure_while_recording_leaves_no_effect_behind(
    ada: InboundProcessor, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the connection breaks after the order was written, while its outcome is recorded
    def broken(self: object, *args: object, **kwargs: object) -> list[int] | None:
        raise OperationalError("INSERT INTO inbox", {}, Exception("server closed the connection"))

    monkeypatch.setattr("persistence.journal.Journal.record", broken)
    create = m.order("ord_1001")
    # When the command is handled, it raises for a retry
    with pytest.raises(OperationalError) as raised:
        deliver(ada, create)
    # Then nothing of it was committed, and the error counts as infrastructure (retried)
    assert is_infrastructure(raised.value)
    assert count(engine, "SELECT count(*) FROM orders") == 0
    assert count(engine, "SELECT count(*) FROM inbox WHERE type = 'order.create'") == 0
    monkeypatch.undo()
    deliver(ada, create)
    assert [o["type"] for o in outcomes(engine, create["id"])] == ["command.accepted"]


def test_an_unreachable_database_is_an_infrastructure_error(settings: Settings) -> None:
    dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", pool_size=1)
    processor = InboundProcessor(settings, lambda: SqlUnitOfWork(dead, ReferenceCache()), Replies())
    with pytest.raises(OperationalError) as raised:
        deliver(processor, m.order("ord_1001"))
    assert is_infrastructure(raised.value)


def test_every_change_leaves_an_audit_row_with_actor_reason_and_command(
    ada: InboundProcessor, engine: Engine
) -> None:
    deliver(ada, m.order("ord_1001"))
    cancel = m.cancel("ord_1001")
    deliver(ada, cancel)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM audit_log WHERE action = 'order.cancelled'")).one()
    assert (row.actor_id, row.actor_role, row.source, row.reason) == ("agent-17", "agent", "helpdesk/eu-1",
                                                                      "customer_request")  # fmt: skip
    assert row.command_id == cancel["id"]
    assert (row.before["status"], row.after["status"]) == ("open", "cancelled")
