"""Each fault a hostile publisher found, as its single message, against real processes.

One `ordercare worker` and one `ordercare relay` are started as README says and stay up for
the module; each test publishes its message with pika as an outside publisher would and
waits for its one end: an outcome on the events exchange (and reply_to where usable) or a
dead letter. At the end nothing may have reached a Dramatiq `.XQ` queue and both
processes must still be the ones started.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pika
import psycopg
import pytest
from pika import data as pika_data

from actors.settings import Settings
from tests import messages as m
from tests import servers
from tests.e2e.conftest import Processes
from tests.servers import Listener, wait_for

VISA = "4111111111111111"
CARD_LIKE_UUID = "7ee5e857-3489-4498-9143-40ff813fb5cd"  # Luhn-valid across its dashes


class Hostile:
    """A publisher that sets any AMQP field to any bytes, and what came back."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events = Listener(settings.amqp_url, settings.events_exchange)
        self.dead = Listener(settings.amqp_url, "")
        self.dead.queue = settings.dead_letter_queue
        self.connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.replies = self.channel.queue_declare("", exclusive=True).method.queue

    def publish(self, routing_key: str | bytes, body: bytes, exchange: str | None = None,
                **properties: Any) -> str:  # fmt: skip
        message_id = properties.pop("message_id", f"hostile-{uuid.uuid4().hex[:12]}")
        self.channel.basic_publish(
            exchange if exchange is not None else self.settings.commands_exchange,
            routing_key,  # pika sends bytes as they are
            body,
            pika.BasicProperties(delivery_mode=2, message_id=message_id, **properties),
        )
        return str(message_id)

    def outcome(self, command_id: str) -> dict[str, Any]:
        """The one outcome of `command_id` (and fail if a second one follows)."""
        got = self.events.collect(lambda ms: any(_is_outcome(b, command_id) for _p, b in ms))
        got += self.events.drain(0.3)
        # Distinct events: the relay is at-least-once, a re-sent event keeps its id.
        mine = {
            d["id"]: d for d in (orjson.loads(b) for _p, b in got if _is_outcome(b, command_id))
        }
        assert len(mine) == 1, mine
        return next(iter(mine.values()))

    def outcomes(self, *command_ids: str) -> dict[str, dict[str, Any]]:
        """The outcomes of several commands, whichever comes first."""
        wanted = set(command_ids)

        def ids(got: list[tuple[Any, bytes]]) -> set[str]:
            return {i for _p, b in got for i in wanted if _is_outcome(b, i)}

        got = self.events.collect(lambda ms: ids(ms) == wanted)
        return {i: orjson.loads(b) for _p, b in got for i in wanted if _is_outcome(b, i)}

    def reply(self) -> tuple[Any, dict[str, Any]]:
        for method, props, body in self.channel.consume(self.replies, inactivity_timeout=20):
            assert method is not None, "no reply within 20 s"
            self.channel.basic_ack(method.delivery_tag)
            self.channel.cancel()
            return props, orjson.loads(body)
        raise AssertionError("unreachable")

    def dead_letter(self, message_id: str) -> tuple[dict[str, Any], bytes]:
        got = self.dead.collect(lambda ms: any(_dead_of(p, message_id) for p, _b in ms))
        [(props, body)] = [(p, b) for p, b in got if _dead_of(p, message_id)]
        return props.headers, body

    def close(self) -> None:
        self.events.close()
        self.dead.close()
        self.connection.close()


def _is_outcome(body: bytes, command_id: str) -> bool:
    doc = orjson.loads(body)
    return bool(doc["type"].startswith("command.") and doc["data"]["command_id"] == command_id)


def _dead_of(props: Any, message_id: str) -> bool:
    return bool((props.headers or {}).get("x-original-message-id") == message_id)


@pytest.fixture(scope="module")
def stack(
    pg_template: str, vhost: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Processes]]:
    with servers.database_from(pg_template) as url:
        settings = Settings(database_url=url, amqp_url=servers.amqp_url(vhost),
                            relay_poll_seconds=0.05, **servers.names(f"h{uuid.uuid4().hex[:8]}"))  # fmt: skip
        started = Processes(settings, Path(tmp_path_factory.mktemp("hostile")))
        relay = started.start("relay", "--metrics-port", "0")
        worker = started.start("worker", "--processes", "1", "--threads", "4", "--metrics-port", "0")  # fmt: skip
        yield settings, started
        alive = relay.popen.poll() is None and worker.popen.poll() is None
        started.stop_all()
        assert alive, "a process died:\n" + started.logs()


@pytest.fixture
def hostile(stack: tuple[Settings, Processes]) -> Iterator[Hostile]:
    settings, _ = stack
    # The worker declares the topology when it boots: wait for it before listening.
    wait_for(lambda: _exists(settings, settings.commands_queue), 60, "the worker's queues")
    publisher = Hostile(settings)
    yield publisher
    publisher.close()


def _exists(settings: Settings, queue: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        connection.channel().queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        connection.close()
    return True


def cancel(command_id: str | None = None) -> tuple[str, bytes]:
    doc = m.cancel("ord_nobody")
    doc["id"] = command_id or doc["id"]
    return doc["id"], m.body(doc)


# --- 1 and 2: AMQP fields that are not text -----------------------------------------------


@pytest.mark.parametrize("routing_key", [b"order.\xffcancel", "order.cr\x00eate"])
def test_a_routing_key_that_is_not_text_is_rejected_for_not_matching_the_type(
    hostile: Hostile, routing_key: str | bytes
) -> None:
    command_id, body = cancel()

    hostile.publish(routing_key, body)

    rejected = hostile.outcome(command_id)["data"]
    assert rejected["code"] == "invalid"
    assert "does not match the routing key" in rejected["message"]


@pytest.mark.parametrize("reply_to", [b"amq.gen-\xff", "amq.gen-\x00x"])
def test_a_reply_to_that_is_not_text_is_refused_and_the_outcome_still_published(
    hostile: Hostile, reply_to: str | bytes
) -> None:
    command_id, body = cancel()

    hostile.publish("order.cancel", body, reply_to=reply_to)

    rejected = hostile.outcome(command_id)["data"]
    assert "is not a reply queue" in rejected["message"]


@pytest.mark.parametrize("correlation_id", [uuid.UUID(int=0xFF << 120).bytes, b"c\x00"])
def test_a_binary_correlation_id_comes_back_on_reply_to_as_sent(
    hostile: Hostile, correlation_id: bytes
) -> None:
    command_id, body = cancel()

    hostile.publish("order.cancel", body, reply_to=hostile.replies, correlation_id=correlation_id)

    props, reply = hostile.reply()
    assert props.correlation_id == correlation_id or props.correlation_id.encode() == correlation_id
    assert reply["data"]["command_id"] == command_id
    assert hostile.outcome(command_id)["data"]["code"] == "not_found"


# --- 3: card numbers in an unreadable billing-account body --------------------------------


@pytest.mark.parametrize("space", ["\u00a0", "\u2009", "\u3000", "\u202f", "\u2007"])
def test_a_card_number_spaced_with_any_unicode_space_in_an_unreadable_body_is_masked(
    stack: tuple[Settings, Processes], hostile: Hostile, space: str
) -> None:
    card = space.join(VISA[i : i + 4] for i in range(0, 16, 4))
    body = f'{{"data": {{"name": "Ada", "note": "{card}"}}, broken'.encode()

    message_id = hostile.publish("billing_account.update", body)

    headers, kept = hostile.dead_letter(message_id)
    assert headers["x-ordercare-reason"] == "not_json"
    assert VISA not in m.digits(kept.decode("utf-8", "replace"))
    assert "****" in kept.decode()
    with psycopg.connect(stack[0].database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute("SELECT body FROM dead_letters").fetchall()
    assert rows and all(VISA not in m.digits(bytes(r[0]).decode("utf-8", "replace")) for r in rows)


# --- 4: identifiers are never taken for card numbers ---------------------------------------


def test_a_command_id_that_reads_like_a_card_number_is_answered_verbatim(hostile: Hostile) -> None:
    # A billing-account message, where every field but the identifiers is searched.
    doc = m.update_account("acc_nobody", name="Ada")
    doc["id"] = doc["correlationid"] = CARD_LIKE_UUID

    hostile.publish("billing_account.update", m.body(doc))

    outcome = hostile.outcome(CARD_LIKE_UUID)["data"]
    assert (outcome["command_id"], outcome["code"]) == (CARD_LIKE_UUID, "not_found")


# --- 5 and 6: messages that cost too much to look at --------------------------------------


def test_a_250_kb_note_of_digits_is_rejected_as_invalid(hostile: Hostile) -> None:
    doc = m.cancel("ord_nobody")
    doc["data"]["note"] = "1 " * 125_000

    hostile.publish("order.cancel", m.body(doc))

    rejected = hostile.outcome(doc["id"])["data"]
    assert rejected["code"] == "invalid"
    assert [e["loc"] for e in rejected["errors"]] == ["data.note"]


@pytest.mark.parametrize("depth", [40, 900, 1000])
def test_deep_json_is_rejected_as_invalid_not_as_an_internal_error(
    hostile: Hostile, depth: int
) -> None:
    doc = m.cancel("ord_nobody")
    body = m.body(doc)[:-1] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"

    hostile.publish("order.cancel", body)

    rejected = hostile.outcome(doc["id"])["data"]
    assert rejected["code"] == "invalid"
    assert "nest deeper than 32 levels" in rejected["message"]


# --- 7: over-size bodies -------------------------------------------------------------------


def test_a_40_mb_body_is_dead_lettered_as_its_first_bytes_only(
    stack: tuple[Settings, Processes], hostile: Hostile
) -> None:
    body = b"x" * (40 * 1024 * 1024)

    message_id = hostile.publish("order.cancel", body)

    headers, kept = hostile.dead_letter(message_id)
    assert headers["x-ordercare-reason"] == "too_large"
    assert headers["x-original-size"] == len(body)
    assert kept == body[:4096]
    with psycopg.connect(stack[0].database_url.replace("+psycopg", "")) as conn:
        [(largest_kept,)] = conn.execute("SELECT max(length(body)) FROM dead_letters").fetchall()
        [(largest_outbox,)] = conn.execute("SELECT max(length(body)) FROM outbox").fetchall()
    assert largest_kept <= 262_144 and (largest_outbox or 0) <= 262_144


# --- found by review: what pika cannot decode, what the broker will not deliver ------------


class RawField(bytes):
    """A header value written as these bytes: what pika itself would never encode."""


@pytest.mark.parametrize(
    "value",
    # What RabbitMQ passes through (it refuses a NaN float or an unknown type itself,
    # closing the publisher's connection).
    [b"T" + struct.pack(">Q", 2**63), m.amqp_nested_arrays(3000)],
    ids=["timestamp-past-9999", "arrays-3000-deep"],
)
def test_a_header_pika_cannot_decode_stops_nothing(
    hostile: Hostile, monkeypatch: pytest.MonkeyPatch, value: bytes
) -> None:
    encode = pika_data.encode_value

    def raw_or_encoded(pieces: list[bytes], item: Any) -> int:
        if isinstance(item, RawField):
            pieces.append(bytes(item))
            return len(item)
        return int(encode(pieces, item))

    monkeypatch.setattr(pika_data, "encode_value", raw_or_encoded)
    command_id, body = cancel()
    after_id, after = cancel()

    hostile.publish("order.cancel", body, headers={"bad": RawField(value)})
    hostile.publish("order.cancel", after)

    outcomes = hostile.outcomes(command_id, after_id)
    assert {o["data"]["code"] for o in outcomes.values()} == {"not_found"}


def test_a_query_whose_reply_to_the_broker_refuses_is_rejected_on_the_events_exchange(
    hostile: Hostile,
) -> None:
    # Shaped like a direct reply-to name, but not one the broker made (its key is no key)
    forged = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNzc5NjQyMAAAC1oAAAAAAAAAAQ==.abc"
    doc = m.get("ord_nobody")

    hostile.publish("order.get", m.body(doc), reply_to=forged)

    rejected = hostile.outcome(doc["id"])["data"]
    assert "is not a reply queue" in rejected["message"]


# --- last: nothing from bad input ever reached .XQ -----------------------------------------


def test_zz_nothing_from_bad_input_reached_a_dramatiq_dead_letter_queue(
    stack: tuple[Settings, Processes], hostile: Hostile
) -> None:
    settings, _ = stack
    for queue in settings.inbound_queues:
        channel = hostile.connection.channel()
        declared = channel.queue_declare(f"{queue}.XQ", passive=True)
        assert declared.method.message_count == 0, f"{queue}.XQ holds messages"
        channel.close()
