"""Ordering mode's pieces that need no broker: the partition key, the topology it declares,
and a routed delivery seen by the worker as it was published."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from actors.broker import ROUTED_TYPE, wrap
from actors.router import Router, partition_key
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
