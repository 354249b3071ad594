"""The one place that wires settings, broker, engine and handlers together."""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import (
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from actors import health
from actors.broker import CloudEventsBroker, publish_reply, unwrap
from actors.direct import DirectPublisher, StopAfterFirstCommit
from actors.failures import is_infrastructure, retry_policy
from actors.inbound import InboundMessage, InboundProcessor, Replier
from actors.logs import Outage, describe
from actors.publisher import ConfirmingPublisher, open_publisher
from actors.settings import Settings
from actors.topology import declare
from persistence.engine import make_engine
from persistence.outbox import OutboundMessage, OutboxStore
from persistence.repositories import ReferenceCache
from persistence.uow import SqlUnitOfWork

log = logging.getLogger("ordercare.worker")
#: This worker process's outages met by handlers: one line when the first message fails for
#: one, one when a message goes through again (the consumers' own is in actors/broker.py).
DATABASE_OUTAGE = Outage(log, "database")
REPLY_OUTAGE = Outage(log, "broker (publishing a reply)")

#: Dramatiq's name of the actor that drains the commands queue (each inbound queue's actor
#: is named after its queue).
COMMAND_ACTOR = "ordercare.commands"


class Runtime:
    """Per-process state, built lazily after Dramatiq forks: the engine and the processor."""

    def __init__(self, settings: Settings, replier: Replier, engine: Engine | None = None) -> None:
        self.settings = settings
        self.replier = replier
        self._engine = engine
        self._read_engine: Engine | None = None
        self._processor: InboundProcessor | None = None
        self._lock = threading.Lock()
        #: Built with the processor when ORDERCARE_DIRECT_PUBLISH is on (after the fork).
        self.direct: DirectPublisher | None = None

    @property
    def processor(self) -> InboundProcessor:
        if self._processor is None:
            with self._lock:
                if self._processor is None:
                    self._processor = self._build()
        return self._processor

    def _build(self) -> InboundProcessor:
        if self._engine is None:
            # and one for direct publishing's deletes, when it is on
            pool = self.settings.worker_threads + (3 if self.settings.direct_publish else 2)
            self._engine = make_engine(self.settings.database_url, pool_size=pool)
        engine, cache = self._engine, ReferenceCache()
        if self.settings.direct_publish:
            self.direct = build_direct(self.settings, OutboxStore(engine))
            self.direct.start()
        reads = self._reads()
        return InboundProcessor(self.settings, lambda: SqlUnitOfWork(engine, cache),
                                self.replier, direct=self.direct, read_unit_of_work=reads)  # fmt: skip

    def _reads(self) -> Callable[[], SqlUnitOfWork] | None:
        """Queries' units of work on the read replica, when ORDERCARE_READ_DATABASE_URL is set."""
        url = self.settings.read_database_url
        if not url:
            return None
        replica = self._read_engine = make_engine(url, pool_size=self.settings.worker_threads)
        cache = ReferenceCache()
        return lambda: SqlUnitOfWork(replica, cache)

    def stop_direct(self) -> None:
        """Finish direct publishing: wait briefly for confirms, delete the confirmed rows."""
        direct, self.direct = self.direct, None
        if direct is not None:
            direct.stop()

    def close(self) -> None:
        self.stop_direct()
        for engine in (self._engine, self._read_engine):
            if engine is not None:
                engine.dispose()


def build_direct(settings: Settings, store: OutboxStore) -> DirectPublisher:
    """This worker process's direct publisher: its own confirm-mode connection, not one of
    Dramatiq's consuming channels (those belong to the worker threads and their acks)."""

    def connect() -> ConfirmingPublisher:
        # The first node that answers: a reconnect after its node died lands on a live one,
        # and what was not confirmed on the dead one is the relay's after the grace period.
        publisher = open_publisher(settings.amqp_url, settings.relay_confirm_timeout_seconds)
        log.info("direct publisher connected", extra={"node": publisher.address})
        return publisher

    kind = StopAfterFirstCommit if settings.fault_stop_after_commit else DirectPublisher
    return kind(
        connect,
        store.delete,
        grace_seconds=settings.direct_publish_grace_seconds,
        flush_seconds=settings.direct_publish_flush_seconds,
    )


class BrokerReplier:
    """Answers queries on the worker thread's own channel."""

    def __init__(self, broker: CloudEventsBroker) -> None:
        self.broker = broker

    def reply(self, message: OutboundMessage) -> None:
        publish_reply(
            self.broker, message.exchange, message.routing_key, message.body, message.properties
        )


class Topology(Middleware):
    """Declares OrderCare's exchanges, queues and bindings when a worker process boots."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        assert isinstance(broker, CloudEventsBroker)
        declare(broker.channel, self.settings)


class Liveness(Middleware):
    """The worker process's heartbeat file (actors/health.py), read by `/livez` and
    `/readyz` on the metrics port: written every few seconds, held back by a worker thread
    whose message has run past its TimeLimit, and carrying whether the consumers are
    attached. Only under `ordercare worker` (which sets PROMETHEUS_MULTIPROC_DIR)."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder and health.WORKER is None:
            health.WORKER = health.WorkerHeartbeat(Path(folder))
            health.WORKER.start()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if health.WORKER is not None:
            health.WORKER.started(threading.get_ident())

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if health.WORKER is not None:
            health.WORKER.finished(threading.get_ident())

    after_skip_message = after_process_message

    def before_process_stop(self, broker: dramatiq.Broker) -> None:
        if health.WORKER is not None:
            health.WORKER.stop()


class DirectPublishing(Middleware):
    """Direct publishing's connection opens when a worker process boots, so the first
    commands do not find it still connecting (they would be left to the relay). When the
    process stops (after its threads finished their messages), its direct publishes get
    their confirms and their rows deleted; what is unconfirmed is the relay's."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        if self.runtime.settings.direct_publish:
            _ = self.runtime.processor  # builds the direct publisher; connects in a thread

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.runtime.stop_direct()


def build_broker(settings: Settings) -> CloudEventsBroker:
    """The Dramatiq broker with only the middleware OrderCare uses."""
    middleware: list[Middleware] = [
        TimeLimit(time_limit=120_000),
        ShutdownNotifications(),
        CurrentMessage(),
        Retries(
            min_backoff=250,
            max_backoff=settings.retry_max_backoff_ms,
            retry_when=retry_policy(settings.max_retries),
        ),
        Topology(settings),
        Liveness(),
    ]
    # Confirms on Dramatiq's own publishes: a retry is re-enqueued, then the original acked;
    # without a confirm, a broker failover in between would lose the command.
    return CloudEventsBroker(settings, confirm_delivery=True, middleware=middleware)


def register_actors(broker: CloudEventsBroker, runtime: Runtime) -> dramatiq.Actor[Any, None]:
    """One actor per inbound queue (commands, warehouse, payments), all running the same
    processor; raw CloudEvents arrive as their arguments. Returns the commands actor."""
    max_retries = runtime.settings.max_retries
    broker.add_middleware(DirectPublishing(runtime))

    def handle(
        text: str,
        encoding: str,
        exchange: str,
        routing_key: str,
        reply_to: str | None,
        correlation_id: str | None,
        redelivered: bool,
        size: int | None = None,
        message_id: str | None = None,
        unusable_reply_to: str | None = None,
        correlation_id_base64: str | None = None,
    ) -> None:
        current = CurrentMessage.get_current_message()
        attempt = current.options.get("retries", 0) if current else 0
        msg = InboundMessage(
            unwrap(text, encoding),
            exchange,
            routing_key,
            reply_to,
            base64.b64decode(correlation_id_base64) if correlation_id_base64 else correlation_id,
            redelivered,
            attempt,
            size=size,
            message_id=message_id,
            unusable_reply_to=unusable_reply_to,
        )
        try:
            runtime.processor.process(msg)
        except Exception as exc:
            if is_infrastructure(exc):
                database = isinstance(exc, SQLAlchemyError)
                (DATABASE_OUTAGE if database else REPLY_OUTAGE).failed(describe(exc))
                raise  # Dramatiq retries it, backing off; its per-message line is filtered
            if attempt < max_retries:
                raise
            log.exception("giving up on a message", extra={"attempts": attempt + 1})
            runtime.processor.give_up(msg, exc)
        else:
            DATABASE_OUTAGE.recovered()
            REPLY_OUTAGE.recovered()

    settings = runtime.settings
    actors = {}
    # Ordering mode: the workers drain the partitions, `ordercare route` the inbound queues.
    queues = {
        queue: settings.ordered_exchange(exchange)
        for queue, exchange in settings.partition_queues.items()
    } or settings.inbound_queues
    for queue, exchange in queues.items():
        name = COMMAND_ACTOR if queue == settings.commands_queue else queue
        broker.raw_actors[queue] = name
        broker.bindings[queue] = exchange
        actors[queue] = dramatiq.Actor(
            handle, broker=broker, actor_name=name, queue_name=queue, priority=0, options={}
        )
    return actors.get(settings.commands_queue) or next(iter(actors.values()))
