"""`ordercare doctor`: is this installation set up to run? One (status, what) per check.

Checks, in order: the database is reachable; it is at the newest migration; the broker is
reachable; each exchange and queue actors/topology.py declares exists with the type and
arguments it declares (checked by declaring it passively, then again as topology.py does:
a declaration equal to what exists changes nothing, a different one is refused, and
nothing missing is created); each queue's type (quorum expected); the configured user's
permissions, as far as they can be seen without RabbitMQ's management plugin (configure:
the declarations above; write: a publish to the default exchange that no queue receives);
risky settings. Bindings and the permissions to read queues and write to named exchanges
are not visible over AMQP without changing something, so they are reported unchecked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

from actors.cli_errors import amqp_place, database_place, explain
from actors.settings import Settings
from actors.topology import queue_arguments

Status = Literal["ok", "warn", "fail"]
Result = tuple[Status, str]


def diagnose(settings: Settings) -> list[Result]:
    results: list[Result] = []
    results += _database(settings)
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


class _Broker:
    """A connection and a fresh channel per check: a refused declaration closes its channel."""

    def __init__(self, url: str) -> None:
        import pika

        self.connection = pika.BlockingConnection(pika.URLParameters(url))

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
    results: list[Result] = [("ok", f"broker reachable: {where}")]
    try:
        results += _exchanges(broker, settings)
        results += _queues(broker, settings)
        results += _permissions(broker)
    finally:
        broker.connection.close()
    results.append(("warn", "bindings not checked: AMQP cannot list them without the "
                            "management plugin (`ordercare broker setup` declares them)"))  # fmt: skip
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
        return [("ok", "permissions: configure on OrderCare's exchanges and queues (declared "
                       "above), write on the default exchange (replies, retries)")]  # fmt: skip
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
        amqp = urlsplit(settings.amqp_url)
        if amqp.username == "guest" and amqp.password == "guest":  # noqa: S105
            results.append(("warn", "the broker user is guest/guest: create a user per "
                                    "service (ops/rabbitmq/definitions.json)"))  # fmt: skip
    except ValueError:
        pass
    if settings.queue_type == "classic":
        results.append(("warn", "ORDERCARE_QUEUE_TYPE is classic: quorum in production"))
    return results
