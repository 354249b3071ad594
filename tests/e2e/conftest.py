"""OrderCare's processes started as a user starts them: `ordercare worker`, `ordercare relay`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from actors.settings import Settings

ORDERCARE = str(Path(sys.executable).parent / "ordercare")


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCARE_")}
    fields = ("amqp_url", "database_url", "commands_exchange", "warehouse_exchange", "payments_exchange",
              "events_exchange", "dead_letter_queue", "relay_poll_seconds")  # fmt: skip
    env.update({f"ORDERCARE_{f.upper()}": str(getattr(settings, f)) for f in fields})
    return env


class Process:
    """A command in its own process group, its output kept for the failure report."""

    def __init__(self, args: list[str], settings: Settings, log: Path) -> None:
        self.args = args
        self.log: IO[bytes] = log.open("ab")
        self.popen = subprocess.Popen([ORDERCARE, *args], env=environment(settings), stdout=self.log,
                                      stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown hook runs, unacked messages stay unacked."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)  # the parent stops its children gracefully
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class Processes:
    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.running: list[Process] = []

    def start(self, *args: str) -> Process:
        process = Process(list(args), self.settings, self.folder / f"{args[0]}.log")
        self.running.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.folder.glob("*.log"))

    def stop_all(self) -> None:
        for process in self.running:
            process.stop()


@pytest.fixture
def processes(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Processes]:
    started = Processes(settings, tmp_path)
    yield started
    started.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(started.logs())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # type: ignore[attr-defined]
    return report
