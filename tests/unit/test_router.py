"""Ordering mode's pieces that need no broker: the partition key, the topology it declares,
and a routed delivery seen by the worker as it was published."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from actors.broker import ROUTED_TYPE, wrap
from actors.router import Router, partition_key
from actors.screening import UNDECODABLE
from actors.settings import Settings
from actors.topology import CONSISTENT_HASH, declare, queue_arguments

ORDERED = Settings(ordered_partitions=3)


def body(**doc: Any) -> bytes:
    return orjson.dumps({"specversion": "1.0", "id": "m-1", "type": "order.amend", **doc})


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (body(subject="ord_9", data={"order_id": "ord_1", "account_id": "acc_1"}), "ord_1"),
        (body(type="billing_account.update", data={"account_id": "acc_2"}), "acc_2"),
        (body(subject="ord_3", data={"skus": []}), "ord_3"),
        # a new order without an id yet: nothing to be ordered after, not its account
        (body(type="order.create", data={"account_id": "acc_1"}), "m-1"),
        (body(data={"order_id": 7}), "m-1"),  # not an id: the message's own id
    ],
)
def test_a_message_is_keyed_by_its_order_or_account_then_subject(raw: bytes, key: str) -> None:
    assert partition_key(raw, 1 << 20) == key


def test_an_unreadable_or_over_size_message_still_gets_a_key() -> None:
    assert partition_key(b"\xff not json", 1 << 20)
    assert partition_key(body(data={"order_id": "ord_1"}), 10) != "ord_1"  # not parsed


class Recorder:
    """A pika channel that records what is declared."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_ordering_mode_declares_a_consistent_hash_exchange_and_single_consumer_partitions() -> None:
    channel = Recorder()
    declare(channel, ORDERED)

    exchanges = {a[0]: a[1] for n, a, _ in channel.calls if n == "exchange_declare"}
    assert exchanges["ordercare.warehouse.ordered"] == CONSISTENT_HASH
    partitions = [a[0] for n, a, _ in channel.calls if n == "queue_declare" and ".ordered." in a[0]]
    assert sorted(partitions) == sorted(ORDERED.partition_queues)
    assert len(partitions) == 9
    binds = {(a[0], a[1], k.get("routing_key")) for n, a, k in channel.calls if n == "queue_bind"}
    assert ("ordercare.warehouse.ordered.2", "ordercare.warehouse.ordered", "1") in binds
    assert queue_arguments(ORDERED, "ordercare.warehouse.ordered.2")["x-single-active-consumer"]
    assert "x-single-active-consumer" not in queue_arguments(ORDERED, "ordercare.warehouse")


def test_without_ordering_mode_nothing_of_it_is_declared() -> None:
    channel = Recorder()
    declare(channel, Settings())
    assert not [c for c in channel.calls if ".ordered" in str(c[1])]
    with pytest.raises(ValueError, match="ORDERCARE_ORDERED_PARTITIONS"):
        Router(Settings())


def test_a_routed_delivery_reaches_the_worker_as_published() -> None:
    method = SimpleNamespace(exchange="ordercare.warehouse.ordered", routing_key="ord_1",
                             redelivered=False)  # fmt: skip
    props = SimpleNamespace(reply_to=None, correlation_id=None, message_id=None,
                            headers={ROUTED_TYPE: "warehouse.shipped"})  # fmt: skip

    message = wrap("a", "ordercare.warehouse.ordered.1", method, props, b"{}", ORDERED)

    assert message.kwargs["exchange"] == "ordercare.warehouse"
    assert message.kwargs["routing_key"] == "warehouse.shipped"


def test_a_delivery_on_an_ordered_exchange_without_the_routers_header_names_no_type() -> None:
    # Published straight to the consistent-hash exchange: the worker refuses it (type does
    # not match the routing key), as it would a message published under the wrong key.
    method = SimpleNamespace(exchange="ordercare.commands.ordered", routing_key="ord_1",
                             redelivered=False)  # fmt: skip
    props = SimpleNamespace(reply_to=None, correlation_id=None, message_id=None, headers=None)

    message = wrap("a", "ordercare.commands.ordered.0", method, props, b"{}", ORDERED)

    assert (message.kwargs["exchange"], message.kwargs["routing_key"]) == (
        "ordercare.commands",
        "",
    )


class Channel:
    """A pika channel that records acks and nacks and fails the publish it is told to."""

    def __init__(self, fail_at: int | None = None, during: Any = None) -> None:
        self.fail_at, self.during = fail_at, during
        self.published: list[str] = []
        self.properties: list[Any] = []
        self.settled: list[tuple[str, int, bool]] = []

    def basic_publish(self, exchange: str, key: str, body: bytes, props: Any, **_kw: Any) -> None:
        if self.during is not None:
            self.during()  # a delivery arriving while the publish waits for its confirm
            self.during = None
        if len(self.published) == self.fail_at:
            import pika.exceptions

            raise pika.exceptions.UnroutableError([])
        self.published.append(key)
        self.properties.append(props)

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.settled.append(("ack", tag, multiple))

    def basic_nack(self, tag: int, multiple: bool = False, requeue: bool = True) -> None:
        assert requeue
        self.settled.append(("nack", tag, multiple))


def deliver(router: Router, tag: int, order_id: str, **props: Any) -> None:
    method = SimpleNamespace(delivery_tag=tag, routing_key="order.amend")
    fields = {"headers": None, "content_type": None, "reply_to": None, "correlation_id": None,
              "message_id": None, **props}  # fmt: skip
    router._holder("ordercare.commands")(None, method, SimpleNamespace(**fields),
                                         body(data={"order_id": order_id}))  # fmt: skip


def test_the_router_acks_what_was_confirmed_and_requeues_the_rest_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("actors.router.RETRY_SECONDS", 0)
    router = Router(ORDERED, connect=lambda: None)
    for tag, order in ((1, "ord_a"), (2, "ord_b"), (3, "ord_a")):
        deliver(router, tag, order)
    inbound = Channel()
    # The second publish fails; meanwhile tag 4 (ord_b again) arrived.
    out = Channel(fail_at=1, during=lambda: deliver(router, 4, "ord_b"))

    router._forward(inbound, out)

    assert out.published == ["ord_a"]
    # 1 acked; 2, 3 and the newcomer 4 back in the queue in place: 4 cannot overtake 2
    assert inbound.settled == [("ack", 1, True), ("nack", 4, True)]
    assert router._held == []

    # Next time everything goes through: each confirmed, then acked up to the last.
    for tag, order in ((5, "ord_b"), (6, "ord_a")):
        deliver(router, tag, order)
    router._forward(inbound, Channel())
    assert inbound.settled[-1] == ("ack", 6, True)


def test_the_shipped_definitions_let_ordercare_and_only_ordercare_reach_the_partitions() -> None:
    import json
    import re
    from pathlib import Path

    definitions = json.loads(
        (Path(__file__).resolve().parents[2] / "ops/rabbitmq/definitions.json").read_text()
    )
    allowed = {p["user"]: p for p in definitions["permissions"]}
    channel = Recorder()
    declare(channel, ORDERED)
    declared = {a[0] for n, a, _ in channel.calls if n in {"exchange_declare", "queue_declare"}}
    dramatiq = {f"{q}{s}" for q in ORDERED.partition_queues for s in (".DQ", ".XQ")}
    for name in declared | dramatiq:
        for what in ("configure", "read", "write"):
            assert re.match(allowed["ordercare"][what], name), (what, name)
    for user in ("helpdesk", "storefront", "warehouse", "payments", "notifier"):
        assert not any(re.match(allowed[user]["write"], n) for n in declared if ".ordered" in n)


def test_a_key_too_long_for_a_routing_key_goes_by_its_digest() -> None:
    long_id = "ord_" + "\u00e9" * 190  # 384 bytes: an AMQP routing key holds 255
    key = partition_key(body(data={"order_id": long_id}), 1 << 20)
    assert len(key.encode()) <= 200
    assert key == partition_key(body(data={"order_id": long_id}), 1 << 20)  # the same order
    assert partition_key(b"\xff not json", 1 << 20) == partition_key(b"\xff not json", 1 << 20)


def test_the_copy_carries_what_the_worker_reads_and_not_what_pika_cannot_encode() -> None:
    router = Router(ORDERED, connect=lambda: None)
    deliver(router, 1, "ord_a", headers={"junk": UNDECODABLE, "x-trace": "t1"},
            reply_to="amq.gen-abc", correlation_id="c-1", message_id="m-1",
            content_type="application/cloudevents+json")  # fmt: skip
    inbound, out = Channel(), Channel()

    router._forward(inbound, out)

    [props] = out.properties
    assert props.headers == {ROUTED_TYPE: "order.amend"}
    assert (props.reply_to, props.correlation_id, props.message_id) == ("amq.gen-abc", "c-1", "m-1")
    assert inbound.settled == [("ack", 1, True)]
