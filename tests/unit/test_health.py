"""The worker's heartbeat file: a thread stuck in one message past its TimeLimit makes the
process stale, a message within it does not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actors import health


def test_a_thread_in_one_message_past_its_time_limit_makes_the_process_wedged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beat = health.WorkerHeartbeat(tmp_path)
    beat.consuming("ordercare.commands", True)
    live = health.workers_live(tmp_path, expected=1)
    ready = health.workers_ready(tmp_path, expected=1)

    beat.started(thread=1)  # a message begins now
    beat.beat()
    assert live() == [] and ready() == []

    # The same message, still running 20 s past its 120 s TimeLimit.
    monkeypatch.setitem(beat.busy, 1, time.time() - health.MESSAGE_ALLOWANCE_SECONDS - 21)
    beat.beat()
    problems = live()
    assert len(problems) == 1 and problems[0].startswith(f"worker process {beat.pid()}: ")

    beat.finished(thread=1)
    beat.beat()
    assert live() == []


def test_a_worker_process_whose_consumers_are_not_attached_is_not_ready(tmp_path: Path) -> None:
    beat = health.WorkerHeartbeat(tmp_path)
    beat.consuming("ordercare.commands", True)
    beat.consuming("ordercare.commands.DQ", False)
    beat.beat()

    assert health.workers_ready(tmp_path, expected=1)() == [
        f"worker process {beat.pid()}: broker consumers not attached (ordercare.commands.DQ)"
    ]
    assert health.workers_ready(tmp_path, expected=2)() == ["1 of 2 worker processes have started"]


def test_a_loop_that_waits_says_when_it_will_be_back() -> None:
    beats = health.Heartbeats()
    beats.beat("relay", time.time() + 30)  # backing off for 30 s
    assert beats.stale(now=time.time() + 29) == []
    assert beats.stale(now=time.time() + 51) != []
