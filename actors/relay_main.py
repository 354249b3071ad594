"""`ordercare relay`: the relay process with its metrics endpoint and graceful stop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import amqp_nodes
from actors import health
from actors.logs import configure_logging
from actors.metrics import export_relay_zeros
from actors.publisher import ConfirmingPublisher, open_publisher
from actors.relay import Relay, watch_backlog
from actors.settings import Settings
from actors.topology import declare
from persistence.engine import make_engine
from persistence.outbox import OutboxStore

log = logging.getLogger("ordercare.relay")


def declare_topology(settings: Settings) -> None:
    connection = amqp_nodes.connect(settings.amqp_url)
    try:
        declare(connection.channel(), settings)
    finally:
        connection.close()


def build_relay(settings: Settings, store: OutboxStore) -> Relay:
    def connect() -> ConfirmingPublisher:
        # Declared on every (re)connect: an exchange deleted under a running relay would
        # otherwise close the channel on every batch. Both go to the first node that answers:
        # after its node died, a relay publishes what was not confirmed again on another.
        declare_topology(settings)
        publisher = open_publisher(settings.amqp_url, settings.relay_confirm_timeout_seconds)
        log.info("relay connected", extra={"node": publisher.address})
        return publisher

    return Relay(
        store,
        connect,
        batch=settings.relay_batch,
        poll_seconds=settings.relay_poll_seconds,
        linger_seconds=settings.relay_linger_seconds,
        dead_letter_queue=settings.dead_letter_queue,
        broker_address=amqp_nodes.place(settings.amqp_url),
    )


def run_relay(settings: Settings, metrics_port: int) -> int:
    configure_logging(settings.log_level)
    export_relay_zeros()
    engine = make_engine(settings.database_url, pool_size=2)
    store = OutboxStore(engine)
    relay = build_relay(settings, store)
    if metrics_port:
        health.serve(
            metrics_port,
            settings.metrics_host,
            process="relay",
            heartbeats=health.own_heartbeat(relay.heartbeats),
            live=relay.heartbeats.stale,
            ready=health.combine(health.database_ready(settings.database_url),
                                 lambda: [] if relay.connected else ["broker: not connected"]),
        )  # fmt: skip
    threading.Thread(
        target=watch_backlog,
        args=(store, relay.stopping, 5.0, relay.heartbeats, lambda: relay.in_outage),
        daemon=True,
    ).start()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping relay", extra={"signal": signum})
        relay.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("relay started", extra={"batch": settings.relay_batch})
    relay.run()
    engine.dispose()
    return 0
