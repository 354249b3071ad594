"""The backoff of the three long-running loops (relay, notifier consumer, notifier sender):
0.5 s doubling to 30 s, no jitter, reset by a good pass (the consumer: by connecting), every
pause a wait on the stop event, and no pass once stopping. The stop event here records each
wait instead of sleeping and stops the loop after a set number of waits."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any, cast

import pika
import pika.exceptions
import pytest

from actors.relay import Relay
from notifier.consumer import Consumer
from notifier.retry import RetryPolicy
from notifier.sender import Sender
from notifier.settings import NotifierSettings

DOUBLING = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


class Waits(threading.Event):
    """A stop event that returns at once from `wait`, recording the timeout, and is set by
    the `stop_after`-th wait."""

    def __init__(self, stop_after: int) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []
        self.stop_after = stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        if len(self.timeouts) >= self.stop_after:
            self.set()
        return self.is_set()


class Passes:
    """Scripted passes: True a good pass, False a failing one (raises); counts the calls."""

    def __init__(self, script: list[bool]) -> None:
        self.script = list(script)
        self.calls = 0

    def next(self) -> None:
        self.calls += 1
        if not (self.script.pop(0) if self.script else False):
            raise RuntimeError("database down")


class OutboxFake:
    def __init__(self, passes: Passes) -> None:
        self.passes = passes

    @contextlib.contextmanager
    def claim(self, _batch: int) -> Iterator[Any]:
        self.passes.next()
        yield type("Claim", (), {"ids": []})()


class Publisher:
    """Connected at once (the relay connects and checks the connection before each pass);
    publishes nothing here."""

    def publish_batch(self, messages: list[Any]) -> Any:
        assert messages == []

    def close(self) -> None:
        pass


def relay_run(script: list[bool], stop_after: int) -> tuple[Waits, Passes]:
    passes, waits = Passes(script), Waits(stop_after)
    relay = Relay(cast(Any, OutboxFake(passes)), cast(Any, Publisher), poll_seconds=0.05)
    relay.stopping = waits
    relay.run()
    return waits, passes


def test_the_relay_backs_off_doubling_to_30_seconds_and_stops_while_waiting() -> None:
    waits, passes = relay_run([], stop_after=len(DOUBLING))

    assert waits.timeouts == DOUBLING
    assert passes.calls == len(DOUBLING)  # none after the stop cut the last wait short


def test_a_good_relay_pass_starts_the_backoff_afresh() -> None:
    waits, _ = relay_run([False, False, False, True, False], stop_after=6)

    assert waits.timeouts == [0.5, 1.0, 2.0, 0.05, 0.5, 1.0]  # 0.05: the idle poll


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", "ordercare.relay")
    relay_run([False, False, False, True, True, True], stop_after=5)

    started = [r for r in caplog.records if r.getMessage().startswith("relay pass failed (")]
    assert len(started) == 1 and started[0].levelname == "ERROR"
    assert started[0].__dict__["backoff_s"] == 0.5
    assert started[0].exc_info and isinstance(started[0].exc_info[1], RuntimeError)
    again = [r for r in caplog.records if r.getMessage() == "relay pass failed again"]
    assert [r.levelname for r in again] == ["DEBUG", "DEBUG"]
    ended = [r for r in caplog.records if r.getMessage().startswith("relay recovered after ")]
    assert len(ended) == 1 and "outage_s" in ended[0].__dict__


class NotificationsFake:
    def __init__(self, passes: Passes) -> None:
        self.passes = passes

    def claim(self, *_args: object) -> list[Any]:
        self.passes.next()
        return []


def sender_run(script: list[bool], stop_after: int) -> tuple[Waits, Passes, list[float | None]]:
    passes, waits = Passes(script), Waits(stop_after)
    polls: list[float | None] = []

    class Wake(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            polls.append(timeout)
            return False

    sender = Sender(cast(Any, NotificationsFake(passes)), cast(Any, None), RetryPolicy(),
                    batch=10, poll_seconds=0.01, lease_seconds=60, stopping=waits,
                    wake=Wake())  # fmt: skip
    sender.run()
    return waits, passes, polls


def test_the_sender_backs_off_doubling_to_30_seconds_and_resets_after_a_good_pass() -> None:
    waits, passes, polls = sender_run([False] * 8 + [True, False], stop_after=9)

    assert waits.timeouts == [*DOUBLING, 0.5]
    assert polls == [0.01]  # the good pass: the idle poll, on the wake event
    assert passes.calls == 10


def test_the_senders_log_an_outage_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Five failing passes, a good one, then failing again until stopped: two outages.
    sender_run([False] * 5 + [True], stop_after=6)

    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert [level for level, _ in lines] == ["ERROR", "WARNING", "ERROR"]
    assert lines[0][1] == "sender failing: RuntimeError: database down; retrying until it works"
    assert lines[1][1].startswith("sender working again after ")


def test_a_connect_failing_consumer_backs_off_and_a_lost_connection_counts_as_a_first_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connects = Passes([False, False, True, False, False])

    class Channel:
        def basic_qos(self, **_kwargs: object) -> None:
            pass

        def consume(self, *_args: object, **_kwargs: object) -> Iterator[Any]:
            raise pika.exceptions.ConnectionClosed(320, "broker restarted")
            yield  # pragma: no cover

    class Connection:
        is_open = False

        def __init__(self, _parameters: object) -> None:
            try:
                connects.next()
            except RuntimeError:
                raise pika.exceptions.AMQPConnectionError("refused") from None

        def channel(self) -> Channel:
            return Channel()

    monkeypatch.setattr(pika, "BlockingConnection", Connection)
    waits = Waits(stop_after=5)
    settings = NotifierSettings(notifier_declare=False)
    Consumer(settings, lambda _body: None, waits).run()

    # two refused connects, then connected and lost (0.5 s), two more refused (1 s, 2 s)
    assert waits.timeouts == [0.5, 1.0, 0.5, 1.0, 2.0]
    assert connects.calls == 5
