"""One RabbitMQ address or several: the broker setting shared by OrderCare and its notifier.

`ORDERCARE_AMQP_URL` names one node, as it always did, or the nodes of a cluster, comma
separated, tried in the order given:

    amqp://ordercare:secret@rabbit-1:5672/ordercare,amqp://rabbit-2:5672,amqp://rabbit-3:5672

The first URL is complete. A later one may leave out the user and password, the vhost and
the query (`?heartbeat=30`...): it takes the first URL's. A later URL that names a vhost
must name the first's (one setting, one vhost); each is `amqp://` or `amqps://`; an empty
item (`a,,b`, a trailing comma) is a mistake. `check` says so in words, at start-up.

`connect` opens a blocking connection to the first node that accepts one, so every client
starts on the first live node and, reconnecting after its node died, lands on a live one;
`node_of` names the node a connection reached and `failed_node` the one a failure came from.
Standard library and pika only: `actors` and `notifier` both import it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions

log = logging.getLogger("ordercare.amqp")

SCHEMES = ("amqp", "amqps")
#: The attribute a connection failure carries: the `host:port` it came from.
_NODE_ATTRIBUTE = "ordercare_amqp_node"


class AmqpUrlError(ValueError):
    """The setting is not one URL or a comma-separated list of them; the message says why."""


@dataclass(frozen=True, slots=True)
class BrokerNode:
    """One node of the setting, its URL completed from the first's."""

    url: str
    host: str
    port: int
    vhost: str
    user: str

    @property
    def address(self) -> str:
        """`host:port`, IPv6 hosts bracketed."""
        return f"{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    def parameters(self) -> pika.URLParameters:
        return pika.URLParameters(self.url)


def nodes(setting: str) -> list[BrokerNode]:
    """The setting's nodes, in order; AmqpUrlError when it is malformed."""
    items = [item.strip() for item in setting.split(",")]
    if len(items) > 1 and any(not item for item in items):
        empty = next(i for i, item in enumerate(items, 1) if not item)
        raise AmqpUrlError(
            f"address {empty} of {len(items)} is empty (a doubled or trailing comma?)"
        )
    if not items[0]:
        raise AmqpUrlError("no broker address: expected amqp://USER:PASSWORD@HOST:PORT/VHOST")
    first = _split(items[0], 1, len(items))
    found = [_node(items[0], first)]
    for position, item in enumerate(items[1:], 2):
        parts = _split(item, position, len(items))
        completed = _complete(item, parts, items[0], first)
        node = _node(completed, urlsplit(completed))
        if node.vhost != found[0].vhost:
            raise AmqpUrlError(
                f"address {position} names vhost {node.vhost!r}, the first {found[0].vhost!r}: "
                "every address must name the same vhost (or leave it out)"
            )
        found.append(node)
    return found


def check(setting: str) -> str:
    """The setting unchanged when it is well formed (a pydantic validator's body)."""
    nodes(setting)
    return setting


def parameters(setting: str) -> list[pika.URLParameters]:
    """pika's connection parameters for each node, in order."""
    return [node.parameters() for node in nodes(setting)]


def place(setting: str) -> str:
    """`host:port vhost V`, or `host1:port1, host2:port2 vhost V` for several nodes."""
    try:
        found = nodes(setting)
    except AmqpUrlError:
        return "RabbitMQ (ORDERCARE_AMQP_URL is malformed)"
    return f"{', '.join(n.address for n in found)} vhost {found[0].vhost}"


def user(setting: str) -> str:
    try:
        return nodes(setting)[0].user
    except AmqpUrlError:
        return "?"


def connect(setting: str | Sequence[BrokerNode]) -> pika.BlockingConnection:
    """A blocking connection to the first node that accepts one. When none does, the most
    telling failure is raised (a refused login or vhost before a node that is down), and
    `failed_node(exc)` names the node it came from."""
    found = nodes(setting) if isinstance(setting, str) else list(setting)
    failures: list[pika.exceptions.AMQPConnectionError] = []
    for node in found:
        try:
            connection = pika.BlockingConnection(node.parameters())
        except pika.exceptions.AMQPConnectionError as exc:
            setattr(exc, _NODE_ATTRIBUTE, node.address)
            failures.append(exc)
            if len(found) > 1:
                log.debug("cannot connect to a broker node", extra={"node": node.address,
                          "error": type(exc).__name__})  # fmt: skip
            continue
        if failures:
            log.info("connected to a broker node after others failed",
                     extra={"node": node.address, "failed": [failed_node(f) for f in failures]})  # fmt: skip
        return connection
    refused = (
        pika.exceptions.ProbableAuthenticationError,
        pika.exceptions.ProbableAccessDeniedError,
    )
    raise next((f for f in failures if isinstance(f, refused)), failures[-1])


def failed_node(exc: BaseException) -> str | None:
    """The `host:port` a connection failure from `connect` came from."""
    node = getattr(exc, _NODE_ATTRIBUTE, None)
    return node if isinstance(node, str) else None


def close(connection: Any) -> None:
    """Close a connection that may already be gone (its node died): nothing to report then."""
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except pika.exceptions.AMQPError:
        pass  # already gone


def node_of(connection: Any) -> str:
    """The `host:port` a pika connection (blocking or not) was opened to, or `?`."""
    impl = getattr(connection, "_impl", connection)
    params = getattr(impl, "params", None)
    if params is None:
        return "?"
    host = str(params.host)
    return f"{f'[{host}]' if ':' in host else host}:{params.port}"


def address(params: pika.connection.Parameters) -> str:
    host = str(params.host)
    return f"{f'[{host}]' if ':' in host else host}:{params.port}"


# --- parsing ------------------------------------------------------------------------------


def _split(item: str, position: int, count: int) -> Any:
    where = f"address {position} of {count}" if count > 1 else "the address"
    try:
        parts = urlsplit(item)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        raise AmqpUrlError(f"{where} is not a URL ({exc}): {_masked(item)}") from None
    if "://" not in item or parts.scheme not in SCHEMES:
        shown = f"'{parts.scheme}://'" if "://" in item else "no scheme"
        raise AmqpUrlError(f"{where} has {shown}: use amqp://HOST:PORT (or amqps://), not "
                           f"{_masked(item)}")  # fmt: skip
    if not parts.hostname:
        raise AmqpUrlError(f"{where} names no host: {_masked(item)}")
    return parts


def _complete(item: str, parts: Any, first_item: str, first: Any) -> str:
    """A later URL with what it leaves out taken from the first's text (not re-encoded)."""
    netloc = parts.netloc
    if "@" not in netloc and "@" in first.netloc:
        netloc = first.netloc.rsplit("@", 1)[0] + "@" + netloc
    path = parts.path if parts.path not in ("", "/") else first.path
    query = parts.query or first.query
    return f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _node(url: str, parts: Any) -> BrokerNode:
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return BrokerNode(url=url, host=parts.hostname, port=port, vhost=vhost,
                      user=unquote(parts.username or "guest"))  # fmt: skip


def _masked(url: str) -> str:
    """The URL with its password replaced by `***` (read off the text: a password may hold
    characters that end urlsplit's netloc early)."""
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return url
    name, colon, _password = rest[:at].partition(":")
    return f"{scheme}://{name}:***@{rest[at + 1 :]}" if colon else url
