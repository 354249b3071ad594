"""OrderCare's processes started as a user starts them: `ordercare worker`, `ordercare relay`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from actors.settings import Settings
from tests import processes as children
from tests.processes import Process

ORDERCARE = str(Path(sys.executable).parent / "ordercare")


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCARE_")}
    fields = ("amqp_url", "database_url", "commands_exchange", "warehouse_exchange", "payments_exchange",
              "events_exchange", "dead_letter_queue", "relay_poll_seconds")  # fmt: skip
    env.update({f"ORDERCARE_{f.upper()}": str(getattr(settings, f)) for f in fields})
    return env


class Processes:
    """`ordercare ...` commands started as a user starts them, each logged to `folder`."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.children = children.Processes()

    @property
    def running(self) -> list[Process]:
        return self.children.running

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> Process:
        """`ordercare *args`, with the test's settings in its environment unless `env`."""
        return self.children.start([ORDERCARE, *args], env or environment(self.settings),
                                   self.folder / f"{args[0]}.log", name=args[0])  # fmt: skip

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.folder.glob("*.log"))

    def stop_all(self) -> None:
        self.children.stop_all()


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
