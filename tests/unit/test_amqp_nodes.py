"""ORDERCARE_AMQP_URL with one node or several (amqp_nodes): parsing, completion, validation,
and connecting to the first node that answers (ports nobody listens on: no server needed)."""

from __future__ import annotations

import socket

import pika
import pika.exceptions
import pytest
from pydantic import ValidationError

import amqp_nodes
from actors.cli_errors import Servers, amqp_place, explain
from actors.settings import Settings
from notifier.settings import NotifierSettings

CLUSTER = (
    "amqp://ordercare:s3cret@10.0.0.1:5672/ordercare?heartbeat=30,"
    "amqp://10.0.0.2:5673, amqps://other:pw@rabbit-3/ordercare"
)


def test_one_url_is_one_node_exactly_as_before() -> None:
    url = "amqp://guest:guest@127.0.0.1:5672/%2F"
    [node] = amqp_nodes.nodes(url)
    assert node.url == url
    assert (node.host, node.port, node.vhost, node.user) == ("127.0.0.1", 5672, "/", "guest")
    [params] = amqp_nodes.parameters(url)
    assert (params.host, params.port, params.virtual_host) == ("127.0.0.1", 5672, "/")
    assert params.credentials.username == "guest"


def test_later_urls_take_the_credentials_vhost_and_query_they_leave_out() -> None:
    first, second, third = amqp_nodes.nodes(CLUSTER)
    assert second.url == "amqp://ordercare:s3cret@10.0.0.2:5673/ordercare?heartbeat=30"
    assert (second.user, second.vhost, second.address) == (
        "ordercare",
        "ordercare",
        "10.0.0.2:5673",
    )
    # what a later URL states is kept: its own user and scheme (port 5671 for amqps)
    assert third.url == "amqps://other:pw@rabbit-3/ordercare?heartbeat=30"
    assert (third.user, third.port) == ("other", 5671)
    params = amqp_nodes.parameters(CLUSTER)
    assert [p.port for p in params] == [5672, 5673, 5671]
    assert {p.virtual_host for p in params} == {"ordercare"}
    assert params[1].credentials.password == "s3cret"
    assert params[1].heartbeat == 30
    assert first.address == "10.0.0.1:5672"


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("", "no broker address"),
        ("amqp://a/v,,amqp://b", "address 2 of 3 is empty"),
        ("amqp://a/v,", "address 2 of 2 is empty"),
        ("amqp://a/v,http://b", "address 2 of 2 has 'http://'"),
        ("rabbit-1:5672", "has no scheme"),
        ("amqp://a:notaport/v", "is not a URL"),
        ("amqp://a/one,amqp://b/two", "address 2 names vhost 'two', the first 'one'"),
        ("amqp://a/%2F,amqp://b/ordercare", "every address must name the same vhost"),
        ("amqp:///v", "names no host"),
    ],
)
def test_a_malformed_setting_is_refused_saying_why(setting: str, says: str) -> None:
    with pytest.raises(amqp_nodes.AmqpUrlError, match=says):
        amqp_nodes.nodes(setting)


def test_a_refusal_never_shows_the_password() -> None:
    with pytest.raises(amqp_nodes.AmqpUrlError) as refused:
        amqp_nodes.nodes("amqp://a/v,http://user:hunter2@b/v")
    assert "hunter2" not in str(refused.value) and "user:***@b" in str(refused.value)


def test_both_settings_check_the_list_when_they_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERCARE_AMQP_URL", "amqp://a/one,amqp://b/two")
    for settings in (Settings, NotifierSettings):
        with pytest.raises(ValidationError) as refused:
            settings()
        failure = explain(refused.value, None)
        assert failure is not None and failure.code == 2
        assert failure.where == "ORDERCARE_AMQP_URL" and "same vhost" in failure.todo
    monkeypatch.setenv("ORDERCARE_AMQP_URL", CLUSTER)
    assert Settings().amqp_url == NotifierSettings().amqp_url == CLUSTER


def test_the_place_named_in_messages_lists_every_node_without_credentials() -> None:
    assert amqp_place(CLUSTER) == "10.0.0.1:5672, 10.0.0.2:5673, rabbit-3:5671 vhost ordercare"
    assert amqp_place("amqp://guest:guest@127.0.0.1:5672/%2F") == "127.0.0.1:5672 vhost /"
    assert amqp_nodes.user(CLUSTER) == "ordercare"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connect_tries_each_node_in_order_and_names_the_one_that_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[int] = []
    dead, alive = _closed_port(), 5999

    class Connection:
        def __init__(self, params: pika.URLParameters) -> None:
            tried.append(params.port)
            if params.port == dead:
                raise pika.exceptions.AMQPConnectionError("refused")
            self._impl = type("Impl", (), {"params": params})()

    monkeypatch.setattr(pika, "BlockingConnection", Connection)
    setting = f"amqp://u:p@127.0.0.1:{dead}/v,amqp://127.0.0.1:{alive}"
    connection = amqp_nodes.connect(setting)
    assert tried == [dead, alive]
    assert amqp_nodes.node_of(connection) == f"127.0.0.1:{alive}"


def test_when_no_node_answers_the_failure_names_a_node_and_a_refused_login_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, two = _closed_port(), _closed_port()
    setting = f"amqp://u:p@127.0.0.1:{one}/v,amqp://127.0.0.1:{two}"
    with pytest.raises(pika.exceptions.AMQPConnectionError) as failed:
        amqp_nodes.connect(setting)  # a real attempt: nobody listens on either port
    assert amqp_nodes.failed_node(failed.value) == f"127.0.0.1:{two}"
    down = explain(failed.value, Servers(setting, "postgresql+psycopg://x@h/d"))
    assert down is not None and down.what == "cannot reach RabbitMQ"
    assert down.where == f"127.0.0.1:{one}, 127.0.0.1:{two} vhost v"  # both were tried

    def refuse(params: pika.URLParameters) -> None:
        if params.port == one:
            raise pika.exceptions.ProbableAuthenticationError("ACCESS_REFUSED")
        raise pika.exceptions.AMQPConnectionError("refused")

    monkeypatch.setattr(pika, "BlockingConnection", refuse)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as refused:
        amqp_nodes.connect(setting)
    login = explain(refused.value, Servers(setting, "postgresql+psycopg://x@h/d"))
    assert login is not None and login.where == f"127.0.0.1:{one} vhost v as user u"
