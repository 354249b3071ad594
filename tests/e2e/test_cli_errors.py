"""Every CLI failure a user can cause is one line naming what, where and what to do, with a
non-zero exit and no traceback: `ordercare` run as a user runs it, pointed at wrong things."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import servers
from tests.e2e.conftest import ORDERCARE

EXAMPLE = str(Path(__file__).parents[2] / "ops" / "examples" / "get.json")


@dataclass(frozen=True)
class Case:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # what the line must name
    code: int = 1
    hidden: str = ""  # what the line must not show


def cases(tmp: Path, vhost: str, database_url: str, empty: str) -> dict[str, Case]:
    (tmp / "bad.json").write_text('{"type": "order.get",\n  "data": ')
    (tmp / "list.json").write_text("[1, 2]")
    amqp = servers.AMQP_HOST
    return {
        "missing file": Case(["publish", str(tmp / "nope.json")], names=("nope.json", "no such file"), code=2),
        "malformed JSON": Case(["publish", str(tmp / "bad.json")], names=("bad.json", "line 2"), code=2),
        "a JSON array": Case(["publish", str(tmp / "list.json")], names=("list.json", "not an object"), code=2),
        "a folder": Case(["publish", str(tmp)], names=(str(tmp),), code=2),
        "wrong password": Case(
            ["publish", EXAMPLE], {"ORDERCARE_AMQP_URL": f"amqp://guest:wrong@{amqp}/{vhost}"},
            names=(amqp, "refused the login", "guest"), hidden="wrong",
        ),
        "wrong vhost": Case(
            ["publish", EXAMPLE], {"ORDERCARE_AMQP_URL": f"amqp://guest:guest@{amqp}/no-such-vhost"},
            names=(amqp, "vhost no-such-vhost"),
        ),
        "broker down": Case(
            ["publish", EXAMPLE], {"ORDERCARE_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F"},
            names=("127.0.0.1:1", "cannot reach RabbitMQ"),
        ),
        "postgres:// URL": Case(
            ["relay"], {"ORDERCARE_DATABASE_URL": "postgres://ops:s3cret@127.0.0.1:5432/ordercare"},
            names=("ORDERCARE_DATABASE_URL", "'postgres://'", "postgresql+psycopg://"), code=2,
            hidden="s3cret",
        ),
        "database down": Case(
            ["relay"], {"ORDERCARE_DATABASE_URL": "postgresql+psycopg://ops:s3cret@127.0.0.1:1/ordercare"},
            names=("127.0.0.1:1", "database ordercare", "ops:***@"), hidden="s3cret",
        ),
        "relay, broker down": Case(
            ["relay", "--metrics-port", "0"],
            {"ORDERCARE_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
             "ORDERCARE_DATABASE_URL": database_url},
            names=("127.0.0.1:1", "cannot reach RabbitMQ"),
        ),
        "worker, wrong vhost": Case(
            ["worker", "--processes", "1", "--metrics-port", "0"],
            {"ORDERCARE_AMQP_URL": f"amqp://guest:guest@{amqp}/no-such-vhost",
             "ORDERCARE_DATABASE_URL": database_url},
            names=(amqp, "vhost no-such-vhost"),
        ),
        "notifier, malformed JSON setting": Case(
            ["notifier", "--metrics-port", "0"],
            {"ORDERCARE_NOTIFIER_TEMPLATES": "{bad", "ORDERCARE_DATABASE_URL": database_url},
            names=("notifier_templates", "invalid setting"), code=2,
        ),
        "database not migrated": Case(
            ["sweep", "--once"], {"ORDERCARE_DATABASE_URL": servers.sqlalchemy_url(empty)},
            names=(f"database {empty}", "migration (none)", "ordercare db upgrade"),
        ),
        "database missing": Case(
            ["relay"],
            {"ORDERCARE_DATABASE_URL": f"{servers.sqlalchemy_url('oc_no_such_db')}"},
            names=("oc_no_such_db", "ordercare db upgrade"),
        ),
    }  # fmt: skip


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database with no migration applied."""
    name = f"oc_empty_{uuid.uuid4().hex[:8]}"
    servers.admin(f'CREATE DATABASE "{name}"')
    yield name
    servers.drop_database(name)


CASES = [
    "missing file", "malformed JSON", "a JSON array", "a folder", "wrong password", "wrong vhost",
    "broker down", "relay, broker down", "worker, wrong vhost",
    "notifier, malformed JSON setting", "postgres:// URL", "database not migrated", "database down", "database missing",
]  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_a_failure_is_one_line_naming_what_where_and_what_to_do(
    name: str, tmp_path: Path, vhost: str, database_url: str, empty_database: str
) -> None:
    case = cases(tmp_path, vhost, database_url, empty_database)[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERCARE_")}
    env.update(case.env)
    done = subprocess.run([ORDERCARE, *case.args], check=False, env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("ordercare: "), line
    assert line.count(": ") >= 3, line  # what: where: what to do
    for name_ in case.names:
        assert name_ in line, line
    if case.hidden:
        assert case.hidden not in line
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == case.code, (done.returncode, line)


def test_the_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    done = subprocess.run(
        [ORDERCARE, "--version"], check=False, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"ordercare {version('ordercare')}"
