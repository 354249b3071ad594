"""The sweeper keeps going when its broker connection is lost (its node died): it connects
again, to the first node that answers, and sends what was not confirmed under the same ids."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pika.exceptions
import pytest

import amqp_nodes
import persistence.engine
from actors import sweep
from actors.settings import Settings


class Done(Exception):
    """Ends the sweeper's loop from inside a fake (not a broker error: it is not caught)."""


class FakeConnection:
    """Publishes into `sent`; `fail_on` (a message id) loses the connection once."""

    def __init__(self, node: str, sent: list[tuple[str, str]], fail_on: str | None) -> None:
        self.node, self.sent, self.fail_on = node, sent, fail_on
        self.is_open = True
        self._impl = type("Impl", (), {"params": pika.URLParameters(f"amqp://{node}")})()

    def channel(self) -> FakeConnection:
        return self

    def confirm_delivery(self) -> None:
        pass

    def basic_publish(self, _exchange: str, _key: str, _body: bytes, props: Any, **_: Any) -> None:
        if props.message_id == self.fail_on:
            self.is_open = False
            raise pika.exceptions.StreamLostError("Stream connection lost")
        self.sent.append((self.node, props.message_id))

    def process_data_events(self, _seconds: float) -> None:
        raise Done

    def close(self) -> None:
        self.is_open = False


@pytest.fixture
def signals() -> Iterator[None]:
    """run_sweeper installs SIGTERM/SIGINT handlers: put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_lost_connection_is_made_again_and_the_unconfirmed_commands_sent_there(
    monkeypatch: pytest.MonkeyPatch, signals: None
) -> None:
    due = [{"id": f"sweep:return:r{i}", "type": "return.expire"} for i in range(3)]
    rounds = iter([due, []])
    sent: list[tuple[str, str]] = []
    connections = iter([FakeConnection("127.0.0.1:5681", sent, fail_on="sweep:return:r1"),
                        FakeConnection("127.0.0.1:5682", sent, fail_on=None)])  # fmt: skip
    monkeypatch.setattr(sweep, "due_commands", lambda _engine, _now: next(rounds, []))
    monkeypatch.setattr(amqp_nodes, "connect", lambda _setting: next(connections))
    monkeypatch.setattr(persistence.engine, "make_engine", lambda *_a, **_k: type(
        "Engine", (), {"dispose": lambda self: None})())  # fmt: skip
    settings = Settings(prune_interval_seconds=0)

    with pytest.raises(Done):
        sweep.run_sweeper(settings, once=False, interval=60, metrics_port=0)

    # r0 was confirmed on the first node; r1, lost with it, and r2 went to the second
    assert sent == [("127.0.0.1:5681", "sweep:return:r0"), ("127.0.0.1:5682", "sweep:return:r1"),
                    ("127.0.0.1:5682", "sweep:return:r2")]  # fmt: skip


def test_sweep_once_keeps_what_was_not_confirmed_for_the_next_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    due = [{"id": f"c{i}", "type": "return.expire"} for i in range(3)]
    monkeypatch.setattr(sweep, "due_commands", lambda _engine, _now: list(due))
    sent: list[tuple[str, str]] = []
    unsent: list[dict[str, Any]] = []
    lost = FakeConnection("a:1", sent, fail_on="c1")
    with pytest.raises(pika.exceptions.StreamLostError):
        sweep.sweep_once(None, Settings(), lost, datetime.now(), unsent)  # type: ignore[arg-type]  # noqa: DTZ005
    assert [e["id"] for e in unsent] == ["c1", "c2"]
    monkeypatch.setattr(sweep, "due_commands", lambda _engine, _now: [])
    assert sweep.sweep_once(None, Settings(), FakeConnection("b:2", sent, None), datetime.now(),  # type: ignore[arg-type]  # noqa: DTZ005
                            unsent) == 2  # fmt: skip
    assert unsent == [] and [i for _n, i in sent] == ["c0", "c1", "c2"]
