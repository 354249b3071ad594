"""The operator commands against the real PostgreSQL and RabbitMQ: `ordercare dead-letters`,
`outbox status`, `inbox show` and `doctor`, run in process as `ordercare ...` with the
environment pointing at this test's database, vhost and names."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pika
import pytest
from sqlalchemy import text

from actors.cli import main
from actors.inbound import InboundProcessor
from actors.settings import Settings
from actors.topology import declare
from persistence.engine import make_engine
from persistence.outbox import OutboundMessage, Outbox
from persistence.sql import Sql
from tests import messages as m
from tests import servers
from tests.e2e.conftest import environment
from tests.integration.conftest import Pipeline, outcome_docs


class Cli:
    """`ordercare ARGS` in this process, configured as the test's settings."""

    def __init__(
        self,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.monkeypatch, self.capsys = monkeypatch, capsys
        self.use(settings)

    def use(self, settings: Settings, **extra: str) -> None:
        for key, value in {**environment(settings), **extra}.items():
            if key.startswith("ORDERCARE_"):
                self.monkeypatch.setenv(key, value)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    return Cli(settings, monkeypatch, capsys)


@pytest.fixture
def no_retries(settings: Settings) -> Iterator[Pipeline]:
    """The pipeline, giving up on an unexpected error at once (ORDERCARE_MAX_RETRIES=0)."""
    running = Pipeline(settings.model_copy(update={"max_retries": 0}))
    yield running
    running.close()


def query(settings: Settings, sql: str) -> Any:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_a_dead_letter_given_up_on_is_replayed_once_fixed_and_takes_effect_once(
    settings: Settings, no_retries: Pipeline, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = no_retries
    catalog, account = m.catalog(), m.account()
    pipeline.publish(catalog)
    pipeline.publish(account)
    pipeline.outcomes_for(catalog["id"], account["id"])
    command = InboundProcessor._command

    def bug(self: InboundProcessor, env: Any, msg: Any) -> str:
        if env.type == "order.create":
            raise RuntimeError("a bug in order.create")
        return command(self, env, msg)

    monkeypatch.setattr(InboundProcessor, "_command", bug)
    order = m.order("ord_replay")
    pipeline.publish(order)  # the helpdesk sends it, and again when told internal_error
    first = pipeline.outcomes_for(order["id"])[order["id"]]
    assert first["data"]["code"] == "internal_error"
    pipeline.publish(order)
    pipeline.outcomes_for(order["id"])
    dead = cli.json("dead-letters", "list", "--reason", "handler_error")
    assert [(d["routing_key"], d["replayable"]) for d in dead] == [("order.create", True)] * 2
    assert query(settings, "SELECT count(*) FROM orders") == 0

    monkeypatch.setattr(InboundProcessor, "_command", command)  # the bug is fixed
    replayed = cli.json("dead-letters", "replay", "--reason", "handler_error")

    assert [r["replayed"] for r in replayed] == [True, True]
    assert {r["command_id"] for r in replayed} == {order["id"]}
    got = pipeline.events.collect(
        lambda msgs: (
            len([d for d in outcome_docs(msgs) if d["data"]["command_id"] == order["id"]]) == 2
        )
    )
    answers = [d for d in outcome_docs(got) if d["data"]["command_id"] == order["id"]]
    assert [d["type"] for d in answers] == ["command.accepted"] * 2  # the second: the inbox's copy
    assert answers[0]["data"]["version"] == answers[1]["data"]["version"] == 1
    assert query(settings, "SELECT count(*) FROM orders") == 1
    assert query(settings, f"SELECT count(*) FROM inbox WHERE message_id = '{order['id']}'") == 1
    assert cli.json("dead-letters", "list") == []  # replayed rows leave the table
    shown = cli.json("inbox", "show", order["id"], "--source", order["source"])
    assert (shown["type"], shown["outcome_type"]) == ("order.create", "command.accepted")
    assert shown["outcome"]["data"]["command_id"] == order["id"]


def test_dead_letters_are_listed_shown_refused_replay_when_unreadable_and_purged(
    settings: Settings, pipeline: Pipeline, cli: Cli
) -> None:
    pipeline.publish(b"this is { not json", "order.create")
    servers.wait_for(lambda: cli.json("dead-letters", "list"), what="the dead letter")
    [listed] = cli.json("dead-letters", "list", "--reason", "not_json")
    assert (listed["reason"], listed["replayable"]) == ("not_json", False)
    assert listed["exchange"] == settings.commands_exchange
    shown = cli.json("dead-letters", "show", str(listed["id"]))
    assert shown["body"] == "this is { not json"
    code, out, err = cli("dead-letters", "show", str(listed["id"]))
    assert code == 0 and "this is { not json" in out

    code, out, err = cli("dead-letters", "replay", str(listed["id"]))
    assert code == 1
    assert f"not replayed {listed['id']}: reason not_json" in out
    code, _out, err = cli("dead-letters", "replay", "--reason", "not_json")
    assert code == 2 and err.count("\n") == 1 and "not replayable" in err
    assert cli.json("dead-letters", "list")  # still there

    kept = cli.json("dead-letters", "purge", "--before", "2000-01-01")
    assert kept["deleted"] == 0
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert cli.json("dead-letters", "purge", "--before", tomorrow)["deleted"] == 1
    assert cli.json("dead-letters", "list") == []
    code, _out, err = cli("dead-letters", "show", str(listed["id"]))
    assert code == 1 and err.startswith("ordercare: no such dead letter: id ")


def test_outbox_status_counts_rows_and_the_oldest_age_per_exchange(
    settings: Settings, cli: Cli
) -> None:
    assert cli.json("outbox", "status") == []
    engine = make_engine(settings.database_url, pool_size=1)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with engine.connect() as conn, conn.begin():
        outbox = Outbox(Sql(conn))
        outbox.add([OutboundMessage("ex.a", "k", "m1", b"{}", {})], an_hour_ago)
        outbox.add([OutboundMessage("ex.a", "k", "m2", b"{}", {}),
                    OutboundMessage("", "reply-q", "m3", b"{}", {})], datetime.now(UTC))  # fmt: skip
        # a row a worker is publishing itself (direct publishing's grace), and one deferred
        conn.execute(text("UPDATE outbox SET available_at = now() + interval '5 seconds' "
                          "WHERE message_id IN ('m2', 'm3')"))  # fmt: skip
        conn.execute(text("UPDATE outbox SET attempts = 1 WHERE message_id = 'm3'"))
    engine.dispose()

    status = {row["exchange"]: row for row in cli.json("outbox", "status")}

    assert {e: r["rows"] for e, r in status.items()} == {"": 1, "ex.a": 2}
    assert 3600 <= status["ex.a"]["oldest_age_seconds"] < 3700
    assert status[""]["oldest_age_seconds"] < 60
    assert (status["ex.a"]["in_grace"], status["ex.a"]["deferred"]) == (1, 0)
    assert (status[""]["in_grace"], status[""]["deferred"]) == (0, 1)
    code, out, _err = cli("outbox", "status")
    assert code == 0 and "(default)" in out and "ex.a" in out


def test_inbox_show_names_a_command_it_never_saw_in_one_line(cli: Cli) -> None:
    code, out, err = cli("inbox", "show", "cmd-never", "--source", "helpdesk")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "ordercare: no inbox record: command cmd-never from helpdesk: it was not received yet, "
        "is still queued or retrying, or was dead-lettered (ordercare dead-letters list)"
    ]


def _declared(settings: Settings) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    declare(connection.channel(), settings)
    connection.close()


def test_doctor_fails_on_a_missing_topology_and_passes_once_declared(
    settings: Settings, cli: Cli
) -> None:
    code, out, _err = cli("doctor")
    assert code == 1
    assert f"fail  exchange {settings.commands_exchange} is missing" in out
    assert "ok    database reachable" in out and "ok    migrations at head" in out

    _declared(settings)
    code, out, _err = cli("doctor")
    assert code == 0, out
    assert "fail" not in out
    lines = out.splitlines()
    assert all(line.split(" ", 1)[0] in {"ok", "warn"} for line in lines)
    assert f"ok    exchange {settings.events_exchange} (topic)" in lines
    assert any(
        line.startswith(f"warn  queue {settings.commands_queue} is classic") for line in lines
    )
    assert f"warn  queue {settings.commands_queue}: no worker is consuming it" in lines
    checks = cli.json("doctor")
    assert {c["status"] for c in checks} == {"ok", "warn"}


def test_doctor_fails_on_queues_of_another_type_than_configured(
    settings: Settings, cli: Cli
) -> None:
    _declared(settings)  # classic
    cli.use(settings, ORDERCARE_QUEUE_TYPE="quorum")
    code, out, _err = cli("doctor")
    assert code == 1
    assert (f"fail  queue {settings.commands_queue} is classic, but ORDERCARE_QUEUE_TYPE is "
            "quorum: workers cannot declare it") in out  # fmt: skip


def test_doctor_fails_when_the_user_may_not_publish_and_when_servers_are_down(
    settings: Settings, cli: Cli, vhost: str
) -> None:
    _declared(settings)
    user, password = f"oc-doctor-{uuid.uuid4().hex[:6]}", "doctor-pw"
    servers.rabbitmqctl("add_user", user, password)
    try:
        servers.rabbitmqctl("set_permissions", "-p", vhost, user, ".*", "^$", ".*")
        restricted = f"amqp://{user}:{password}@{servers.AMQP_HOST}/{vhost}"
        cli.use(settings, ORDERCARE_AMQP_URL=restricted)
        code, out, _err = cli("doctor")
        assert code == 1
        assert "fail  permissions: may not publish to the default exchange" in out
        assert password not in out
    finally:
        servers.rabbitmqctl("delete_user", user)

    cli.use(settings, ORDERCARE_AMQP_URL="amqp://guest:guest@127.0.0.1:1/%2F",
            ORDERCARE_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/x")  # fmt: skip
    code, out, _err = cli("doctor")
    assert code == 1
    assert "fail  database 127.0.0.1:1 database x" in out
    assert "fail  broker 127.0.0.1:1 vhost /: cannot reach RabbitMQ" in out


class ManagementStandIn:
    """RabbitMQ's management API as doctor asks it: bindings and one user's permissions."""

    def __init__(self, bindings: list[dict[str, str]], permissions: dict[str, str]) -> None:
        self.paths: list[str] = []
        self.auth: list[str | None] = []
        answers = {"bindings": bindings, "permissions": permissions}
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.paths.append(self.path)
                stand_in.auth.append(self.headers.get("Authorization"))
                body = json.dumps(answers[self.path.split("/")[2]]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_doctor_checks_bindings_and_permissions_with_the_management_api(
    settings: Settings, cli: Cli, vhost: str
) -> None:
    _declared(settings)
    bindings = [{"source": e, "destination": q, "routing_key": "#"}
                for q, e in settings.inbound_queues.items()]  # fmt: skip
    bindings.append({"source": settings.unrouted_queue, "destination": settings.unrouted_queue,
                     "routing_key": ""})  # fmt: skip
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    api = ManagementStandIn(bindings, everything)
    try:
        cli.use(settings, ORDERCARE_MANAGEMENT_URL=api.url)
        code, out, _err = cli("doctor")
        assert code == 0, out
        assert f"ok    binding {settings.commands_exchange} -> {settings.commands_queue} (#)" in out
        assert "ok    permissions: guest may write what OrderCare needs" in out
        assert api.paths == [f"/api/bindings/{vhost}", f"/api/permissions/{vhost}/guest"]
        assert api.auth[0] == "Basic " + base64.b64encode(b"guest:guest").decode()
    finally:
        api.close()

    api = ManagementStandIn(bindings[1:], {**everything, "write": "^amq\\.default$"})
    try:
        cli.use(settings, ORDERCARE_MANAGEMENT_URL=api.url)
        code, out, _err = cli("doctor")
        assert code == 1
        assert (f"fail  binding {settings.commands_exchange} -> {settings.commands_queue} (#) "
                "is missing: run `ordercare broker setup`") in out  # fmt: skip
        assert f"fail  permissions: guest may not write {settings.events_exchange}," in out
    finally:
        api.close()


def test_doctor_reports_the_read_replica(settings: Settings, cli: Cli) -> None:
    _declared(settings)
    # The test's own database is no standby: said, not failed (queries still work)
    cli.use(settings, ORDERCARE_READ_DATABASE_URL=settings.database_url)
    _code, out, _err = cli("doctor")
    assert "warn  read replica" in out and "is not a standby" in out
    cli.use(settings, ORDERCARE_READ_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/x")
    _code, out, _err = cli("doctor")
    assert "warn  read replica 127.0.0.1:1 database x" in out
    assert "the primary answers the queries meanwhile" in out
