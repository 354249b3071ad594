"""Direct publishing (actors/direct.py) with a fake connection and a fake delete."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from actors.direct import DirectPublisher
from actors.publisher import BatchResult, PublishError
from persistence.outbox import OutboundMessage

Done = Callable[[BatchResult, Exception | None], None]


class FakeConnection:
    """Keeps what was published; the test settles it as the broker would."""

    def __init__(self) -> None:
        self.usable = True
        self.batches: list[tuple[list[OutboundMessage], Done]] = []
        self.closed = False

    def publish_async(self, messages: Sequence[OutboundMessage], on_done: Done) -> None:
        if not self.usable:
            raise PublishError("closed")
        self.batches.append((list(messages), on_done))

    def close(self) -> None:
        self.closed = True


class Deletes:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.failing = False

    def __call__(self, ids: list[int]) -> None:
        if self.failing:
            raise OSError("database down")
        self.calls.append(list(ids))


def message(n: int) -> OutboundMessage:
    return OutboundMessage("ordercare.events", "order.created", f"evt-{n}", b"{}", {})


def counted(result: str) -> float:
    return REGISTRY.get_sample_value("ordercare_direct_publish_total", {"result": result}) or 0.0


def connected(connection: FakeConnection, deletes: Deletes) -> DirectPublisher:
    """A publisher whose connection is already open (no background threads)."""
    direct = DirectPublisher(lambda: connection, deletes, grace_seconds=5.0)
    direct._publisher = connection
    return direct


def test_rows_become_the_relays_only_after_the_grace_period() -> None:
    direct = DirectPublisher(FakeConnection, Deletes(), grace_seconds=5.0)
    before = datetime.now(UTC)
    assert (
        before + timedelta(seconds=5)
        <= direct.available_at()
        <= datetime.now(UTC) + timedelta(seconds=5)
    )


def test_confirmed_rows_are_deleted_in_one_batch_and_the_rest_left_to_the_relay() -> None:
    connection, deletes = FakeConnection(), Deletes()
    direct = connected(connection, deletes)
    confirmed, fallback = counted("confirmed"), counted("fallback")
    # Given two commands' rows published
    direct.submit([(11, message(1)), (12, message(2))])
    direct.submit([(13, message(3)), (14, message(4))])
    assert [len(m) for m, _done in connection.batches] == [2, 2]
    # When the broker confirms the first command's and one of the second's (the other returned)
    connection.batches[0][1](BatchResult(confirmed=[0, 1]), None)
    connection.batches[1][1](BatchResult(confirmed=[1], returned=[0]), None)
    # Then one flush deletes the three confirmed rows in one statement; row 13 stays
    assert direct.flush() == 3
    assert deletes.calls == [[11, 12, 14]]
    assert counted("confirmed") - confirmed == 3
    assert counted("fallback") - fallback == 1
    assert direct.flush() == 0 and len(deletes.calls) == 1


def test_without_a_connection_nothing_waits_and_everything_is_the_relays() -> None:
    deletes = Deletes()
    direct = DirectPublisher(FakeConnection, deletes, grace_seconds=5.0)  # not started
    fallback = counted("fallback")
    direct.submit([(1, message(1)), (2, message(2))])
    assert counted("fallback") - fallback == 2
    assert direct.flush() == 0 and deletes.calls == []


def test_a_connection_lost_mid_batch_keeps_what_was_confirmed_before() -> None:
    connection, deletes = FakeConnection(), Deletes()
    direct = connected(connection, deletes)
    direct.submit([(1, message(1)), (2, message(2)), (3, message(3))])
    connection.batches[0][1](BatchResult(confirmed=[0]), ConnectionError("lost"))
    connection.usable = False
    fallback = counted("fallback")
    direct.submit([(4, message(4))])  # a closed connection: left to the relay at once
    assert counted("fallback") - fallback == 1
    assert direct.flush() == 1 and deletes.calls == [[1]]


def test_a_failed_delete_is_tried_again_with_the_next_flush() -> None:
    connection, deletes = FakeConnection(), Deletes()
    direct = connected(connection, deletes)
    direct.submit([(1, message(1))])
    connection.batches[0][1](BatchResult(confirmed=[0]), None)
    deletes.failing = True
    assert direct.flush() == 0
    deletes.failing = False
    direct.submit([(2, message(2))])
    connection.batches[1][1](BatchResult(confirmed=[0]), None)
    assert direct.flush() == 2 and deletes.calls == [[1, 2]]


def test_stop_waits_for_confirms_deletes_them_and_closes() -> None:
    connection, deletes = FakeConnection(), Deletes()
    direct = connected(connection, deletes)
    direct.submit([(1, message(1))])
    _messages, done = connection.batches[0]
    threading.Timer(0.1, lambda: done(BatchResult(confirmed=[0]), None)).start()
    direct.stop(timeout=5.0)
    assert deletes.calls == [[1]] and connection.closed


def test_the_flusher_deletes_without_being_asked() -> None:
    connection, deletes = FakeConnection(), Deletes()
    direct = DirectPublisher(lambda: connection, deletes, grace_seconds=5.0, flush_seconds=0.02)
    direct.start()
    try:
        for _ in range(100):  # the connect thread opens it
            if direct._publisher is not None:
                break
            threading.Event().wait(0.01)
        direct.submit([(7, message(7))])
        connection.batches[0][1](BatchResult(confirmed=[0]), None)
        for _ in range(100):
            if deletes.calls:
                break
            threading.Event().wait(0.01)
        assert deletes.calls == [[7]]
    finally:
        direct.stop(timeout=1.0)


def test_a_broker_that_never_confirms_does_not_fill_the_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("actors.direct.MAX_IN_FLIGHT", 2)
    connection, deletes = FakeConnection(), Deletes()
    direct = connected(connection, deletes)
    fallback = counted("fallback")
    for n in range(3):
        direct.submit([(n, message(n))])
    assert len(connection.batches) == 2
    assert counted("fallback") - fallback == 1


def test_a_publish_unsettled_after_the_grace_is_the_relays_and_frees_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A confirm that never comes (or a callback a closed connection never ran) must not hold
    a place for ever: after the grace the rows count as the relay's, and a late confirm still
    has its row deleted but is not counted twice."""
    monkeypatch.setattr("actors.direct.MAX_IN_FLIGHT", 1)
    connection, deletes = FakeConnection(), Deletes()
    direct = DirectPublisher(lambda: connection, deletes, grace_seconds=0.0)
    direct._publisher = connection
    direct.submit([(1, message(1))])
    fallback, confirmed = counted("fallback"), counted("confirmed")

    direct._expire()
    direct.submit([(2, message(2))])

    assert counted("fallback") - fallback == 1  # the first, given up on
    assert len(connection.batches) == 2  # its place was free for the second
    connection.batches[0][1](BatchResult(confirmed=[0]), None)  # the late confirm
    assert counted("confirmed") == confirmed
    direct.flush()
    assert deletes.calls == [[1]]
