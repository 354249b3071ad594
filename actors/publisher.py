"""Publishing outbox batches to RabbitMQ with streamed publisher confirms.

A batch is published in one go on a pika SelectConnection running in its own thread;
the caller then waits once for all its confirms. Every message is `mandatory`: a
Basic.Return marks it returned (a reply queue that is gone, a queue nobody declared).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import takewhile
from typing import Any, Protocol

import pika
from pika.spec import Basic

import amqp_nodes
from actors.outbound import amqp_properties
from persistence.outbox import OutboundMessage

log = logging.getLogger("ordercare.publisher")

#: What pika raises while marshalling a message it cannot encode.
UNENCODABLE = (
    pika.exceptions.ShortStringTooLong,
    pika.exceptions.UnsupportedAMQPFieldException,
    TypeError,
    ValueError,
)


class PublishError(Exception):
    """The connection or channel failed, or confirms did not arrive in time. `confirmed`
    lists the batch's messages the broker had confirmed before that."""

    def __init__(self, message: str, confirmed: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.confirmed = list(confirmed)


@dataclass(slots=True)
class BatchResult:
    """Indexes of the batch's messages by what the broker said."""

    confirmed: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    nacked: list[int] = field(default_factory=list)
    #: Never sent: AMQP cannot carry its properties (a short string over 255 bytes, say).
    unencodable: list[int] = field(default_factory=list)


class BatchPublisher(Protocol):
    """Publishes a batch and reports, per message, whether the broker took it."""

    def publish_batch(self, messages: Sequence[OutboundMessage]) -> BatchResult: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Batch:
    size: int
    result: BatchResult = field(default_factory=BatchResult)
    returned: set[int] = field(default_factory=set)
    settled: int = 0
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)
    #: Called once, on the I/O thread, when every message is settled or the batch failed.
    on_done: Callable[[BatchResult, Exception | None], None] | None = None

    def settle(self, index: int, ack: bool, sent: bool = True) -> None:
        if not sent:
            self.result.unencodable.append(index)
        elif index in self.returned:
            self.result.returned.append(index)
        elif ack:
            self.result.confirmed.append(index)
        else:
            self.result.nacked.append(index)
        self.settled += 1
        if self.settled == self.size:
            self.finish()

    def fail(self, exc: Exception) -> None:
        self.error = self.error or exc
        self.finish()

    def finish(self) -> None:
        if self.done.is_set():
            return
        self.done.set()
        if self.on_done is not None:
            try:
                self.on_done(self.result, self.error)
            except Exception:  # the I/O thread must survive a caller's bug
                log.exception("a publish callback failed")


def open_publisher(setting: str, confirm_timeout: float = 30.0) -> ConfirmingPublisher:
    """A ConfirmingPublisher on the first node of ORDERCARE_AMQP_URL that opens a confirm
    channel, trying them in order: a reconnect after its node died lands on a live one.
    PublishError names every node tried when none does."""
    failures = []
    for node in amqp_nodes.nodes(setting):
        try:
            return ConfirmingPublisher(node.parameters(), confirm_timeout)
        except PublishError as exc:
            failures.append(f"{node.address}: {exc}")
    raise PublishError("; ".join(failures))


class ConfirmingPublisher:
    """One AMQP connection in confirm mode, driven by its own I/O thread, to one node
    (`open_publisher` picks the node)."""

    def __init__(self, node: str | pika.URLParameters, confirm_timeout: float = 30.0) -> None:
        self.params = pika.URLParameters(node) if isinstance(node, str) else node
        #: `host:port` of the node, for the messages that name it.
        self.address = amqp_nodes.address(self.params)
        self.confirm_timeout = confirm_timeout
        self._ready = threading.Event()
        self._error: Exception | None = None
        #: Delivery tag -> the batch, the message's index in it, and its key in _in_flight.
        self._pending: dict[int, tuple[_Batch, int, tuple[str, str, str]]] = {}
        self._in_flight: dict[tuple[str, str, str], tuple[_Batch, int]] = {}
        self._tag = 0
        self._channel: Any = None
        self._conn: pika.SelectConnection | None = None
        self._thread = threading.Thread(target=self._run, name="amqp-publisher", daemon=True)
        self._thread.start()
        if not self._ready.wait(confirm_timeout) or self._error:
            self.close()
            raise PublishError(f"could not open a confirm channel on {self.address}: {self._error}")

    def publish_batch(self, messages: Sequence[OutboundMessage]) -> BatchResult:
        batch = _Batch(len(messages))
        if self._error or self._conn is None:  # an empty batch checks just this
            raise PublishError(f"publisher to {self.address} is closed: {self._error}")
        if not messages:
            return batch.result
        self._conn.ioloop.add_callback_threadsafe(partial(self._send, batch, messages))
        if not batch.done.wait(self.confirm_timeout):
            raise PublishError(
                f"{batch.size - batch.settled} confirm(s) missing after {self.confirm_timeout}s"
            )
        if batch.error:
            raise PublishError(str(batch.error), batch.result.confirmed)
        return batch.result

    def publish_async(
        self,
        messages: Sequence[OutboundMessage],
        on_done: Callable[[BatchResult, Exception | None], None],
    ) -> None:
        """Publish without waiting: `on_done(result, error)` is called once, on the I/O
        thread, when the broker has settled every message or the connection failed (then
        `result.confirmed` holds those confirmed before). Several threads may call this
        at once. `messages` is not empty (nothing would ever settle an empty batch). Raises
        PublishError when the publisher is already closed."""
        if self._error or self._conn is None:
            raise PublishError(f"publisher is closed: {self._error}")
        batch = _Batch(len(messages), on_done=on_done)
        self._conn.ioloop.add_callback_threadsafe(partial(self._send, batch, messages))

    @property
    def usable(self) -> bool:
        """Whether the connection is open and has not failed."""
        return self._error is None and self._conn is not None and self._conn.is_open

    def close(self) -> None:
        conn = self._conn
        if conn is not None and conn.is_open:
            try:
                conn.ioloop.add_callback_threadsafe(conn.close)
            except Exception:
                log.debug("publisher connection already closed")
        self._thread.join(timeout=5)

    # --- I/O thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._conn = pika.SelectConnection(
                self.params,
                on_open_callback=lambda conn: conn.channel(on_open_callback=self._on_channel),
                on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_closed,
            )
            self._conn.ioloop.start()
        except Exception as exc:
            self._fail(exc)
            self._ready.set()

    def _on_open_error(self, conn: pika.SelectConnection, exc: Exception) -> None:
        self._fail(exc)
        self._ready.set()
        conn.ioloop.stop()

    def _on_closed(self, conn: pika.SelectConnection, exc: Exception) -> None:
        self._fail(exc)
        conn.ioloop.stop()

    def _on_channel(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_return_callback(self._on_return)
        channel.add_on_close_callback(lambda _ch, exc: self._fail(exc))
        channel.confirm_delivery(
            ack_nack_callback=self._on_confirm, callback=lambda _f: self._ready.set()
        )

    def _send(self, batch: _Batch, messages: Sequence[OutboundMessage]) -> None:
        if self._error is not None or self._channel is None or not self._channel.is_open:
            batch.fail(self._error or PublishError("channel closed"))
            return
        for index, m in enumerate(messages):
            props = pika.BasicProperties(
                delivery_mode=2, message_id=m.message_id, **amqp_properties(m.properties)
            )
            try:
                # pika marshals every frame before it writes any, so a message it cannot
                # encode leaves the channel as it was.
                self._channel.basic_publish(
                    m.exchange, m.routing_key, m.body, props, mandatory=True
                )
            except UNENCODABLE as exc:
                # One row AMQP cannot carry must not hold back every row behind it.
                log.error("an outbox message cannot be encoded for AMQP; it stays in the outbox",
                          extra={"message_id": m.message_id[:100], "error": type(exc).__name__})  # fmt: skip
                batch.settle(index, ack=False, sent=False)
                continue
            self._tag += 1
            key = (m.exchange, m.routing_key, m.message_id)
            self._pending[self._tag] = (batch, index, key)
            self._in_flight[key] = (batch, index)

    def _on_return(self, _channel: Any, method: Any, props: Any, _body: bytes) -> None:
        key = (method.exchange, method.routing_key, props.message_id)
        found = self._in_flight.get(key)
        if found:
            found[0].returned.add(found[1])

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ack = isinstance(method, Basic.Ack)
        if method.multiple:  # every tag up to this one; the dict is in tag order
            tags = list(takewhile(lambda t: t <= method.delivery_tag, self._pending))
        else:
            tags = [method.delivery_tag]
        for tag in tags:
            batch, index, key = self._pending.pop(tag)
            # A Basic.Return comes before its message's confirm: the key is done with now
            # (with several callers the map may never be empty, so it is pruned per message).
            self._in_flight.pop(key, None)
            batch.settle(index, ack)

    def _fail(self, exc: Exception) -> None:
        self._error = self._error or exc
        pending = list(self._pending.values())
        self._pending.clear()
        self._in_flight.clear()
        for batch, _index, _key in pending:
            batch.fail(exc)
