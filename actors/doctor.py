"""`ordercare doctor`: is this installation set up to run? One (status, what) per check.

Checks, in order: the database is reachable; it is at the newest migration; the read
replica, when one is set (reachable, a standby, how far behind); the broker is reachable;
each exchange and queue actors/topology.py declares exists with the type and arguments it
declares (checked by declaring it passively, then again as topology.py does:
a declaration equal to what exists changes nothing, a different one is refused, and
nothing missing is created); each queue's type (quorum expected); the configured user's
permissions as far as AMQP shows them (configure: the declarations above; write: a
publish to the default exchange that no queue receives);
bindings and the user's permissions from RabbitMQ's management API when it answers
(ORDERCARE_MANAGEMENT_URL, by default the broker's host on port 15672); risky settings.
Without the management API, bindings and the permissions to read queues and write to named
exchanges are reported unchecked: AMQP cannot see them without changing something.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import amqp_nodes
from actors.cli_errors import amqp_place, database_place, explain, masked_url
from actors.settings import Settings
from actors.topology import queue_arguments

Status = Literal["ok", "warn", "fail"]
Result = tuple[Status, str]


def diagnose(settings: Settings) -> list[Result]:
    results: list[Result] = []
    results += _database(settings)
    results += _replica(settings)
    results += _broker(settings)
    results += _settings(settings)
    return results


def _why(exc: Exception, settings: Settings) -> str:
    from actors.cli_errors import Servers

    failure = explain(exc, Servers(settings.amqp_url, settings.database_url))
    if failure is None:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return f"{failure.what}: {failure.todo}"


def _database(settings: Settings) -> list[Result]:
    from persistence.database import current_and_head

    where = database_place(settings.database_url)
    try:
        current, head = current_and_head(settings.database_url)
    except Exception as exc:
        return [("fail", f"database {where}: {_why(exc, settings)}")]
    results: list[Result] = [("ok", f"database reachable: {where}")]
    if current == head:
        results.append(("ok", f"migrations at head ({head})"))
    else:
        results.append(("fail", f"migrations: the database is at {current or '(none)'}, this "
                                f"code needs {head}: run `ordercare db upgrade`"))  # fmt: skip
    return results


def _replica(settings: Settings) -> list[Result]:
    """The read replica, when one is set: reachable, a standby, how far behind."""
    url = settings.read_database_url
    if not url:
        return []
    from sqlalchemy import text

    from persistence.engine import make_engine

    where = database_place(url)
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            standby, behind = conn.execute(
                text("SELECT pg_is_in_recovery(), "
                     "extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
            ).one()  # fmt: skip
    except Exception as exc:
        return [("warn", f"read replica {where}: {_why(exc, settings)}; the primary answers "
                         "the queries meanwhile")]  # fmt: skip
    finally:
        engine.dispose()
    if not standby:
        return [("warn", f"read replica {where} is not a standby (pg_is_in_recovery() is "
                         "false): queries read a database the commands do not write to, "
                         "unless it is the primary itself")]  # fmt: skip
    lag = "nothing replayed yet" if behind is None else f"last commit replayed {behind:.1f} s ago"
    return [("ok", f"read replica reachable: {where}, a standby ({lag})")]


class _Broker:
    """A connection and a fresh channel per check: a refused declaration closes its channel."""

    def __init__(self, url: str) -> None:
        #: The first node of ORDERCARE_AMQP_URL that answers; `node` names it.
        self.connection = amqp_nodes.connect(url)
        self.node = amqp_nodes.node_of(self.connection)

    def exchange(
        self, name: str, kind: str = "", arguments: dict[str, Any] | None = None
    ) -> Exception | None:
        """Declare passively without `kind`, else as topology.py does; the refusal, if any."""
        if not kind:
            return self.attempt(lambda ch: ch.exchange_declare(name, passive=True))[1]
        return self.attempt(
            lambda ch: ch.exchange_declare(name, kind, durable=True, arguments=arguments)
        )[1]

    def queue(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> tuple[Any, Exception | None]:
        """Declare passively without `arguments`, else as topology.py does."""
        if arguments is None:
            return self.attempt(lambda ch: ch.queue_declare(name, passive=True))
        return self.attempt(lambda ch: ch.queue_declare(name, durable=True, arguments=arguments))

    def attempt(self, action: Callable[[Any], Any]) -> tuple[Any, Exception | None]:
        import pika.exceptions

        channel = self.connection.channel()
        try:
            return action(channel), None
        except pika.exceptions.ChannelClosedByBroker as exc:
            return None, exc
        finally:
            if channel.is_open:
                channel.close()


def _broker(settings: Settings) -> list[Result]:
    where = amqp_place(settings.amqp_url)
    try:
        broker = _Broker(settings.amqp_url)
    except Exception as exc:
        return [("fail", f"broker {where}: {_why(exc, settings)}")]
    nodes = amqp_nodes.nodes(settings.amqp_url)
    reached = f"{broker.node} vhost {nodes[0].vhost}"
    if len(nodes) > 1:
        reached += f" (the first of {len(nodes)} nodes that answered; {where})"
    results: list[Result] = [("ok", f"broker reachable: {reached}")]
    try:
        results += _exchanges(broker, settings)
        results += _queues(broker, settings)
        results += _permissions(broker)
    finally:
        broker.connection.close()
    results += _management(settings, broker.node)
    return results


def _management_base(settings: Settings, node: str = "") -> str | None:
    """The management API's address: the setting, else the broker's host on port 15672 (the
    host of `node`, the one doctor reached, among several)."""
    if settings.management_url == "off":
        return None
    if settings.management_url:
        return settings.management_url.rstrip("/")
    amqp = urlsplit(amqp_nodes.nodes(settings.amqp_url)[0].url)
    host = (node.rsplit(":", 1)[0].strip("[]") if node else amqp.hostname) or "localhost"
    # The AMQP user's password goes as Basic auth: over TLS when the broker is (amqps).
    scheme = "https" if amqp.scheme == "amqps" else "http"
    return f"{scheme}://{host if ':' not in host else f'[{host}]'}:15672"


def _management(settings: Settings, node: str = "") -> list[Result]:
    """Bindings and the user's permissions, from the management API when it answers."""
    import base64
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    amqp = urlsplit(amqp_nodes.nodes(settings.amqp_url)[0].url)
    user, password = unquote(amqp.username or "guest"), unquote(amqp.password or "guest")
    vhost = unquote(amqp.path[1:]) if len(amqp.path) > 1 else "/"
    base = _management_base(settings, node)
    unchecked = ("bindings, and the permissions to read queues and write to named exchanges, "
                 "not checked")  # fmt: skip
    if base is None:
        return [("warn", f"{unchecked}: ORDERCARE_MANAGEMENT_URL is off")]
    token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def get(path: str) -> Any:
        url, auth = base + path, {"Authorization": f"Basic {token}"}
        request = urllib.request.Request(url, headers=auth)  # noqa: S310 (http(s), checked)
        with urllib.request.urlopen(request, timeout=3) as answer:  # noqa: S310
            return json.loads(answer.read())

    if not base.startswith(("http://", "https://")):
        return [("fail", f"ORDERCARE_MANAGEMENT_URL {masked_url(base)} is not an http(s) URL")]
    try:
        bindings = get(f"/api/bindings/{quote(vhost, safe='')}")
        permissions = get(f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}")
    except urllib.error.HTTPError as exc:
        return [
            ("warn", f"{unchecked}: the management API at {masked_url(base)} answered {exc.code}")
        ]
    except (OSError, ValueError) as exc:
        return [("warn", f"{unchecked}: no management API at {masked_url(base)} ({exc}); it is the "
                         "rabbitmq_management plugin")]  # fmt: skip
    return _bindings(settings, bindings) + _granted(settings, user, vhost, permissions)


def _bindings(settings: Settings, bindings: list[dict[str, Any]]) -> list[Result]:
    have = {(b.get("source"), b.get("destination"), b.get("routing_key")) for b in bindings}
    wanted = [(settings.unrouted_queue, settings.unrouted_queue, "")]
    wanted += [(exchange, queue, "#") for queue, exchange in settings.inbound_queues.items()]
    results: list[Result] = []
    for source, queue, key in wanted:
        if (source, queue, key) in have:
            results.append(("ok", f"binding {source} -> {queue} ({key or 'fanout'})"))
        else:
            results.append(("fail", f"binding {source} -> {queue} ({key or 'fanout'}) is "
                                    "missing: run `ordercare broker setup`"))  # fmt: skip
    return results


def _granted(
    settings: Settings, user: str, vhost: str, permissions: dict[str, Any]
) -> list[Result]:
    """What a worker and a relay do, against the user's regular expressions (RabbitMQ
    matches them unanchored, as re.search does)."""
    inbound = list(settings.inbound_queues)
    retries = [f"{q}.DQ" for q in inbound] + [f"{q}.XQ" for q in inbound]
    exchanges = [settings.events_exchange, settings.unrouted_queue, *inbound]
    queues = [*inbound, *retries, settings.dead_letter_queue, settings.unrouted_queue]
    needs = {
        "configure": sorted(set(exchanges + queues)),
        "write": ["amq.default", settings.events_exchange, *queues],
        "read": [*inbound, *retries, *exchanges],
    }
    results: list[Result] = []
    for kind, names in needs.items():
        pattern = str(permissions.get(kind, "^$"))
        try:
            missing = [n for n in names if re.search(pattern, n) is None]
        except re.error:
            missing = names
        if missing:
            results.append(("fail", f"permissions: {user} may not {kind} {', '.join(missing)} "
                                    f"on vhost {vhost} ({kind} is '{pattern}')"))  # fmt: skip
        else:
            results.append(("ok", f"permissions: {user} may {kind} what OrderCare needs"))
    return results


def _refusal(exc: Exception | None) -> str:
    return f"{getattr(exc, 'reply_code', '?')} {getattr(exc, 'reply_text', exc)}"


def _exchanges(broker: _Broker, settings: Settings) -> list[Result]:
    expected: list[tuple[str, str, dict[str, Any]]] = [
        (settings.unrouted_queue, "fanout", {}),
        (settings.events_exchange, "topic", {"alternate-exchange": settings.unrouted_queue}),
        (settings.commands_exchange, "topic", {}),
        (settings.warehouse_exchange, "topic", {}),
        (settings.payments_exchange, "topic", {}),
    ]
    results: list[Result] = []
    for name, kind, arguments in expected:
        missing = broker.exchange(name)
        if missing is not None:
            results.append(("fail", f"exchange {name} is missing: run `ordercare broker setup`"))
            continue
        unequal = broker.exchange(name, kind, arguments)
        if unequal is not None:
            results.append(("fail", f"exchange {name} differs from what OrderCare declares "
                                    f"({kind}, durable, {arguments}): {_refusal(unequal)}"))  # fmt: skip
        else:
            results.append(("ok", f"exchange {name} ({kind})"))
    return results


def _queues(broker: _Broker, settings: Settings) -> list[Result]:
    plain: dict[str, Any] = {"x-queue-type": "quorum"} if settings.queue_type == "quorum" else {}
    expected = [(settings.unrouted_queue, plain, False), (settings.dead_letter_queue, plain, False)]
    expected += [(q, queue_arguments(settings, q), True) for q in settings.inbound_queues]
    results: list[Result] = []
    for name, arguments, consumed in expected:
        declared, missing = broker.queue(name)
        if missing is not None:
            results.append(("fail", f"queue {name} is missing: run `ordercare broker setup`"))
            continue
        _, unequal = broker.queue(name, arguments)
        kind = settings.queue_type
        if unequal is not None:
            other = {**arguments, "x-queue-type": "classic" if kind == "quorum" else "quorum"}
            _, still = broker.queue(name, other)
            if still is None:
                results.append(("fail", f"queue {name} is {other['x-queue-type']}, but "
                                        f"ORDERCARE_QUEUE_TYPE is {kind}: workers cannot "
                                        "declare it"))  # fmt: skip
            else:
                results.append(("fail", f"queue {name} differs from what OrderCare declares "
                                        f"({arguments}): {_refusal(unequal)}"))  # fmt: skip
            continue
        counts = (
            f"{declared.method.message_count} ready, {declared.method.consumer_count} consumers"
        )
        if kind == "quorum":
            results.append(("ok", f"queue {name} (quorum; {counts})"))
        else:
            results.append(("warn", f"queue {name} is classic ({counts}): quorum expected in "
                                    "production (ORDERCARE_QUEUE_TYPE=quorum)"))  # fmt: skip
        if consumed and declared.method.consumer_count == 0:
            results.append(("warn", f"queue {name}: no worker is consuming it"))
    return results


def _permissions(broker: _Broker) -> list[Result]:
    import pika

    probe = "ordercare.doctor.no-such-queue"  # unroutable on the default exchange: dropped

    def publish(ch: Any) -> None:
        ch.basic_publish("", probe, b"", pika.BasicProperties(delivery_mode=1))
        ch.basic_qos(prefetch_count=1)  # a round trip, needing no permission: a refusal lands

    _, refused = broker.attempt(publish)
    if refused is None:
        return [("ok", "permissions: may publish to the default exchange (replies, retries)")]
    return [("fail", f"permissions: may not publish to the default exchange (replies and "
                     f"retries need it): {_refusal(refused)}")]  # fmt: skip


def _settings(settings: Settings) -> list[Result]:
    results: list[Result] = []
    host = settings.metrics_host
    try:
        address = ipaddress.ip_address(host)
        everywhere, loopback = address.is_unspecified, address.is_loopback
    except ValueError:
        everywhere, loopback = False, host == "localhost"
    if everywhere:
        results.append(("warn", f"metrics served on every interface ({host}) without "
                                "authentication: bind ORDERCARE_METRICS_HOST to the scraping "
                                "network or firewall the ports"))  # fmt: skip
    elif loopback:
        results.append(("ok", f"metrics on {host} only: a Prometheus on another host cannot "
                              "scrape them (ORDERCARE_METRICS_HOST)"))  # fmt: skip
    else:
        results.append(("ok", f"metrics on {host}"))
    try:
        amqp = urlsplit(amqp_nodes.nodes(settings.amqp_url)[0].url)
        if amqp.username == "guest" and amqp.password == "guest":  # noqa: S105
            results.append(("warn", "the broker user is guest/guest: create a user per "
                                    "service (ops/rabbitmq/definitions.json)"))  # fmt: skip
    except ValueError:
        pass
    if settings.queue_type == "classic":
        results.append(("warn", "ORDERCARE_QUEUE_TYPE is classic: quorum in production"))
    if settings.fault_stop_after_commit:
        results.append(("fail", "ORDERCARE_FAULT_STOP_AFTER_COMMIT is set: a test's fault "
                                "injection, every worker process freezes after one commit"))  # fmt: skip
    return results
