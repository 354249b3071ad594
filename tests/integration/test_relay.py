"""The outbox relay against the real RabbitMQ: confirms, returns, alternate exchange, two relays."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pika
import pytest
from sqlalchemy import Engine, text

from actors.publisher import ConfirmingPublisher, PublishError, open_publisher
from actors.relay import Relay
from actors.relay_main import build_relay
from actors.settings import Settings
from actors.topology import declare
from persistence.engine import make_engine
from persistence.outbox import OutboundMessage, Outbox, OutboxStore
from persistence.sql import Sql
from tests.servers import Listener, wait_for


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture
def topology(settings: Settings) -> Settings:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    declare(connection.channel(), settings)
    connection.close()
    return settings


def relay_for(settings: Settings, engine: Engine, batch: int = 100) -> Relay:
    return Relay(OutboxStore(engine), lambda: ConfirmingPublisher(settings.amqp_url, 10), batch=batch,
                 poll_seconds=0.05, dead_letter_queue=settings.dead_letter_queue)  # fmt: skip


def write(engine: Engine, messages: list[OutboundMessage]) -> None:
    with engine.begin() as conn:
        Outbox(Sql(conn)).add(messages, datetime.now(UTC))


def event(settings: Settings, n: int, routing_key: str = "order.created") -> OutboundMessage:
    return OutboundMessage(settings.events_exchange, routing_key, f"e{n}", f'{{"n":{n}}}'.encode(),
                           {"content_type": "application/cloudevents+json", "type": routing_key})  # fmt: skip


def backlog(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())


def test_confirmed_rows_are_published_once_and_leave_the_outbox(
    topology: Settings, engine: Engine
) -> None:
    listener = Listener(topology.amqp_url, topology.events_exchange)
    write(engine, [event(topology, n) for n in range(250)])
    relay = relay_for(topology, engine)
    assert relay.drain() == 250
    got = listener.collect(lambda msgs: len(msgs) >= 250)
    assert sorted(p.message_id for p, _b in got) == sorted(f"e{n}" for n in range(250))
    assert all(
        p.delivery_mode == 2 and p.content_type == "application/cloudevents+json" for p, _b in got
    )
    assert backlog(engine) == 0
    relay._drop_publisher()
    listener.close()


def test_an_event_nobody_listens_to_is_kept_in_the_unrouted_queue(
    topology: Settings, engine: Engine
) -> None:
    write(engine, [event(topology, 1, "order.nobody_binds_this")])
    relay = relay_for(topology, engine)
    relay.drain()
    unrouted = Listener(topology.amqp_url, "")
    unrouted.queue = topology.unrouted_queue
    [(props, _body)] = unrouted.collect(lambda msgs: len(msgs) >= 1)
    assert props.message_id == "e1"
    assert backlog(engine) == 0
    relay._drop_publisher()
    unrouted.close()


def test_a_reply_to_a_queue_that_is_gone_is_dropped_not_retried_forever(
    topology: Settings, engine: Engine
) -> None:
    write(engine, [OutboundMessage("", "amq.gen-long-gone", "r1", b"{}", {"correlation_id": "c"})])
    relay = relay_for(topology, engine)
    relay.drain()
    assert backlog(engine) == 0
    relay._drop_publisher()


def test_a_dead_letter_copy_whose_queue_is_missing_waits_in_the_outbox(
    topology: Settings, engine: Engine
) -> None:
    # Given the dead-letter queue was deleted by someone
    connection = pika.BlockingConnection(pika.URLParameters(topology.amqp_url))
    connection.channel().queue_delete(topology.dead_letter_queue)
    connection.close()
    write(engine, [OutboundMessage("", topology.dead_letter_queue, "d1", b"garbage", {})])
    relay = relay_for(topology, engine)
    relay.drain_once()
    # Then the copy is not lost: it stays, deferred, for the next pass
    with engine.connect() as conn:
        attempts = conn.execute(text("SELECT attempts FROM outbox")).scalar_one()
    assert attempts == 1
    relay._drop_publisher()


def test_a_row_amqp_cannot_carry_stays_in_the_outbox_and_holds_back_no_other(
    topology: Settings, engine: Engine
) -> None:
    # Given a row whose correlation_id is over AMQP's 255-byte short string, between others
    listener = Listener(topology.amqp_url, topology.events_exchange)
    too_long = OutboundMessage("", "amq.gen-x", "r-long", b"{}", {"correlation_id": "é" * 200})
    write(engine, [event(topology, 1), too_long, event(topology, 2)])
    relay = relay_for(topology, engine)
    # When the relay passes: the others are published, that one waits, counted
    assert relay.drain_once() == 3
    got = listener.collect(lambda msgs: len(msgs) >= 2)
    assert sorted(p.message_id for p, _b in got) == ["e1", "e2"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT message_id, attempts FROM outbox")).all()
    assert [tuple(r) for r in rows] == [("r-long", 1)]
    # And the relay's connection is still good for the next batch
    write(engine, [event(topology, 3)])
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET available_at = now() - interval '1 s'"))
    assert relay.drain_once() == 2
    assert [p.message_id for p, _b in listener.collect(lambda msgs: len(msgs) >= 1)] == ["e3"]
    relay._drop_publisher()
    listener.close()


def test_a_claim_loads_at_most_its_byte_budget_and_the_rest_follows(
    topology: Settings, engine: Engine
) -> None:
    big = [OutboundMessage("", topology.dead_letter_queue, f"d{n}", bytes([n]) * 3_000_000, {})
           for n in range(5)]  # fmt: skip
    write(engine, big)
    store = OutboxStore(engine)

    with store.claim(500) as claim:
        # 0 + 3 + 6 MB start within the 8 MiB budget; the fourth would start at 9 MB
        assert [m.message_id for m in claim.messages] == ["d0", "d1", "d2"]
    with store.claim(500, max_bytes=1) as claim:
        assert [m.message_id for m in claim.messages] == ["d0"]  # the first always comes

    relay = relay_for(topology, engine)
    assert relay.drain() == 5
    assert backlog(engine) == 0
    relay._drop_publisher()


#: Shaped like a direct reply-to name, but no such consumer: RabbitMQ 3.10 closes the
#: publishing connection (541 INTERNAL_ERROR) rather than drop the message.
FORGED_REPLY_TO = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNzc5NjQyMAAAC1oAAAAAAAAAAQ==.abc"


def test_a_row_the_broker_closes_the_connection_for_waits_and_holds_back_no_other(
    topology: Settings, engine: Engine
) -> None:
    listener = Listener(topology.amqp_url, topology.events_exchange)
    poison = OutboundMessage("", FORGED_REPLY_TO, "r-forged", b"{}", {"correlation_id": "c"})
    write(engine, [event(topology, 1), poison, event(topology, 2)])
    relay = relay_for(topology, engine)

    assert relay.drain_once() == 3

    # Both others arrive (one may arrive twice: a confirm lost with the connection means
    # at-least-once, and consumers dedupe by id), the forged one is set aside.
    got = listener.collect(lambda msgs: {p.message_id for p, _b in msgs} >= {"e1", "e2"})
    assert {p.message_id for p, _b in got} == {"e1", "e2"}
    with engine.connect() as conn:
        [(message_id, attempts, wait)] = conn.execute(
            text("SELECT message_id, attempts, available_at - now() FROM outbox")
        ).all()
    assert (message_id, attempts) == ("r-forged", 1)
    assert wait.total_seconds() > 200  # set aside for minutes, not retried at once
    relay._drop_publisher()
    listener.close()


def test_two_relays_side_by_side_publish_every_row_exactly_once(
    topology: Settings, engine: Engine
) -> None:
    listener = Listener(topology.amqp_url, topology.events_exchange)
    write(engine, [event(topology, n) for n in range(2000)])
    relays = [relay_for(topology, engine, batch=50) for _ in range(2)]
    threads = [threading.Thread(target=r.run) for r in relays]
    for t in threads:
        t.start()
    wait_for(lambda: backlog(engine) == 0, 60, "the outbox to drain")
    for r in relays:
        r.stop()
    for t in threads:
        t.join(10)
    got = listener.collect(lambda msgs: len(msgs) >= 2000, 60)
    got += listener.drain(0.5)
    ids = [p.message_id for p, _b in got]
    assert len(ids) == 2000
    assert set(ids) == {f"e{n}" for n in range(2000)}
    listener.close()


def test_a_relay_given_several_nodes_publishes_on_the_first_that_answers(
    topology: Settings, engine: Engine
) -> None:
    # Given a first address nobody listens on, then the real broker (later URLs take the
    # first's credentials and vhost)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    real = urlsplit(topology.amqp_url)
    cluster = topology.model_copy(update={"amqp_url": f"amqp://guest:guest@127.0.0.1:{dead}"
                                          f"{real.path},amqp://{real.netloc.rsplit('@', 1)[1]}"})  # fmt: skip
    with pytest.raises(PublishError, match=f"127.0.0.1:{dead}"):
        open_publisher(cluster.amqp_url.split(",")[0], 5)  # alone, it names the dead node
    listener = Listener(topology.amqp_url, topology.events_exchange)
    write(engine, [event(topology, n) for n in range(5)])
    # When a relay built as `ordercare relay` builds it publishes
    relay = build_relay(cluster, OutboxStore(engine))
    assert relay.drain() == 5
    relay.stop()
    relay.run()  # returns at once (stopped): drops its publisher
    # Then everything went through the live node
    got = listener.collect(lambda got: len(got) >= 5, 10)
    assert sorted(p.message_id for p, _b in got) == [f"e{n}" for n in range(5)]
    assert backlog(engine) == 0
    listener.close()
