"""`ordercare sweep`: send the command for every deadline that is due.

Handlers record deadlines (a pending appeasement expires, an exchange's return is due) in
the `deadlines` table and clear them when the thing resolves first. The sweeper finds the
due ones and publishes the command that acts on each, as OrderCare itself (role `system`),
through the same pipeline as every other command: per-order locking, idempotency, outbox.
A command's id is derived from the deadline, so a sweeper restarted mid-round sends ids the
inbox has seen; a sent deadline is pushed back by `retry_after`, so it is sent again only if
its command did not resolve it (a worker was down, the command was refused).

Every `ORDERCARE_PRUNE_INTERVAL_SECONDS` (an hour; 0: never) a round also prunes what is
past its retention window (actors/prune.py), in small batches, stopping between two batches
when the sweeper is told to stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from types import FrameType
from typing import Any

import orjson
import pika
import pika.exceptions
from sqlalchemy import Engine, text

import amqp_nodes
from actors import health, metrics
from actors.logs import Outage, describe
from actors.prune import prune_once
from actors.settings import Settings

log = logging.getLogger("ordercare.sweep")

#: What acts on a deadline of each kind: the command type and its data from (subject, ref).
COMMANDS: dict[str, tuple[str, Callable[[str, str], dict[str, Any]]]] = {
    "return": (
        "return.expire",
        lambda order_id, ref: {"order_id": order_id, "return_id": ref.split("/", 1)[1]},
    ),
    "appeasement": ("appeasement.expire", lambda _subject, ref: {"appeasement_id": ref}),
}

SWEEPER = {"id": "sweeper", "role": "system"}


def due_commands(
    engine: Engine,
    now: datetime,
    *,
    limit: int = 500,
    retry_after: timedelta = timedelta(minutes=10),
) -> list[dict[str, Any]]:
    """The envelopes of the commands due at `now` (oldest first); each deadline is pushed
    back by `retry_after` in the same transaction."""
    envelopes = []
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT kind, ref, subject, due_at FROM deadlines WHERE due_at <= :now "
                "ORDER BY due_at LIMIT :limit"
            ),
            {"now": now, "limit": limit},
        ).all()
        for kind, ref, subject, due_at in rows:
            if kind not in COMMANDS:
                log.warning("deadline of unknown kind %s skipped", kind)
                continue
            command_type, data = COMMANDS[kind]
            stamp = due_at if isinstance(due_at, str) else due_at.isoformat()
            envelopes.append(
                {
                    "specversion": "1.0",
                    "id": f"sweep:{kind}:{ref}:{stamp}",
                    "source": "ordercare/sweeper",
                    "type": command_type,
                    "subject": subject,
                    "time": now.isoformat().replace("+00:00", "Z"),
                    "datacontenttype": "application/json",
                    "data": {**data(subject, ref), "actor": SWEEPER},
                }
            )
            conn.execute(
                text("UPDATE deadlines SET due_at = :next WHERE kind = :kind AND ref = :ref"),
                {"next": now + retry_after, "kind": kind, "ref": ref},
            )
    return envelopes


def sweep_once(
    engine: Engine,
    settings: Settings,
    channel: Any,
    now: datetime,
    unsent: list[dict[str, Any]] | None = None,
) -> int:
    """Publish (with confirms) every command due; the number sent. `unsent` carries commands
    from one round to the next: those a lost connection left unconfirmed stay in it and go
    first on the next connection, under the same ids (the inbox keeps them to one effect)."""
    queue = unsent if unsent is not None else []
    queue.extend(due_commands(engine, now))
    sent = 0
    while queue:
        envelope = queue[0]
        channel.basic_publish(
            settings.exchange_of(envelope["type"]),
            envelope["type"],
            orjson.dumps(envelope),
            pika.BasicProperties(
                content_type="application/cloudevents+json",
                delivery_mode=2,
                message_id=envelope["id"],
            ),
            mandatory=True,
        )
        queue.pop(0)
        sent += 1
        metrics.SWEEP_COMMANDS.labels(envelope["type"]).inc()
        log.info("sent %s for %s", envelope["type"], envelope["id"])
    return sent


def _pump(connection: Any, stopping: threading.Event, beats: health.Heartbeats) -> bool:
    """Between two prune batches: beat (a prune of millions of rows takes minutes and the
    sweeper is not wedged), answer the broker's heartbeats (it outlasts their timeout too)
    and say whether to stop."""
    beats.beat("sweep")
    connection.process_data_events(0)
    return stopping.is_set()


def run_sweeper(
    settings: Settings, *, once: bool, interval: float, metrics_port: int | None = None
) -> int:
    from persistence.engine import make_engine

    engine = make_engine(settings.database_url, pool_size=1)
    stopping = threading.Event()
    beats = health.Heartbeats()
    beats.beat("sweep")
    for command_type, _data in COMMANDS.values():
        metrics.SWEEP_COMMANDS.labels(command_type)  # exported at 0 from the start
    port = settings.sweep_metrics_port if metrics_port is None else metrics_port
    connection: Any = None
    if port and not once:
        health.serve(port, settings.metrics_host, process="sweep",
                     heartbeats=health.own_heartbeat(beats), live=beats.stale,
                     ready=health.combine(health.database_ready(settings.database_url),
                                          lambda: [] if connection is not None and
                                          connection.is_open else ["broker: not connected"]))  # fmt: skip

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The first connect fails loudly (a wrong ORDERCARE_AMQP_URL is the caller's one line);
    # a connection lost later is made again, to the first node that answers.
    connection = amqp_nodes.connect(settings.amqp_url)
    log.info("sweeper connected", extra={"node": amqp_nodes.node_of(connection)})
    outage = Outage(log, "broker (sweeper)")
    unsent: list[dict[str, Any]] = []
    try:
        channel = _confirming(connection)
        next_prune = 0.0
        while True:
            beats.beat("sweep")
            try:
                sent = sweep_once(engine, settings, channel, datetime.now(UTC), unsent)
                outage.recovered(amqp_nodes.node_of(connection))
                metrics.SWEEP_LAST_SUCCESS.set(time.time())
                if settings.prune_interval_seconds and time.monotonic() >= next_prune:
                    prune_once(
                        engine, settings, stopping=partial(_pump, connection, stopping, beats)
                    )
                    next_prune = time.monotonic() + settings.prune_interval_seconds
                if once:
                    print(f"sent {sent} command(s) for due deadlines")
                    return 0
                deadline = time.monotonic() + interval
                while (left := deadline - time.monotonic()) > 0:
                    beats.beat("sweep")
                    if stopping.wait(min(left, health.BEAT_SECONDS)):
                        return 0
                    connection.process_data_events(0)
            except BROKER_ERRORS as exc:
                if once:
                    raise
                outage.failed(f"{amqp_nodes.node_of(connection)} ({describe(exc)})")
                amqp_nodes.close(connection)
                reconnected = _reconnect(settings, stopping, beats)
                if reconnected is None:
                    return 0  # told to stop while backing off
                connection, channel = reconnected, _confirming(reconnected)
    finally:
        amqp_nodes.close(connection)
        engine.dispose()


#: A lost connection or channel: the sweeper reconnects (to a live node of a cluster).
BROKER_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError)


def _confirming(connection: Any) -> Any:
    channel = connection.channel()
    channel.confirm_delivery()
    return channel


def _reconnect(
    settings: Settings, stopping: threading.Event, beats: health.Heartbeats
) -> Any | None:
    """A new connection to the first node that answers, backing off (0.5 s doubling to 30 s)
    while none does; None once stopping."""
    pause = 0.5
    while not stopping.is_set():
        beats.beat("sweep", time.time() + pause)  # backing off, not wedged
        if stopping.wait(pause):
            return None
        try:
            connection = amqp_nodes.connect(settings.amqp_url)
        except BROKER_ERRORS as exc:
            log.debug("sweeper reconnect failed", extra={"error": describe(exc)})
            pause = min(pause * 2, 30.0)
            continue
        log.info("sweeper connected", extra={"node": amqp_nodes.node_of(connection)})
        return connection
    return None
