"""Every example in ops/examples/ runs: published with `ordercare publish` in README's order,
against a worker and a relay started as README says, each gets the outcome README promises."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from actors.settings import Settings
from tests.e2e.conftest import Processes
from tests.e2e.test_processes import run_cli

ROOT = Path(__file__).parents[2]
#: `ordercare publish ops/examples/X.json   # the outcome README promises`
PUBLISH = re.compile(r"^ordercare publish (ops/examples/\S+\.json)\s*(?:#\s*(.*))?$")


def readme_examples() -> list[tuple[str, str]]:
    """(file, README's comment) of every `ordercare publish` line, in README's order."""
    text = (ROOT / "README.md").read_text()
    return [
        (found[1], found[2] or "")
        for line in text.splitlines()
        if (found := PUBLISH.match(line.strip()))
    ]


def test_readme_publishes_every_example() -> None:
    files = [f for f, _ in readme_examples()]
    assert sorted(files) == sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "ops" / "examples").glob("*.json")
    )


def test_every_example_gets_the_outcome_readme_promises(
    settings: Settings, processes: Processes
) -> None:
    assert run_cli(settings, "db", "upgrade").returncode == 0
    assert run_cli(settings, "broker", "setup").returncode == 0
    processes.start("worker", "--processes", "1", "--threads", "2", "--metrics-port", "0")
    processes.start("relay", "--metrics-port", "0")
    examples = readme_examples()
    assert examples, "README publishes no example"
    for file, promise in examples:
        done = run_cli(settings, "publish", str(ROOT / file), timeout=60)
        assert done.stderr == "", (file, done.stderr)
        outcome = orjson.loads(done.stdout)
        data = outcome["data"]
        told = f"{file}: README says '{promise}', got {outcome['type']} {data.get('message', '')}"
        if (rejected := re.match(r"rejected (\w+)", promise)) is not None:
            assert (done.returncode, outcome["type"]) == (1, "command.rejected"), told
            assert data["code"] == rejected[1], told
        else:
            assert promise.startswith("accepted"), f"{file}: README promises no outcome"
            assert (done.returncode, outcome["type"]) == (0, "command.accepted"), told
        if (version := re.search(r"at version (\d+)|: version (\d+)", promise)) is not None:
            assert data["version"] == int(version[1] or version[2]), told
        if "a preview, nothing applied" in promise:
            assert data["result"]["preview"] is True, told
            assert data["event_ids"] == [], told
        if "the order as the result" in promise:
            assert data["result"]["order_id"] == "ord_1001", told
