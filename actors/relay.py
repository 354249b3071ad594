"""The outbox relay: publishes committed outbox rows to RabbitMQ, confirmed, then deletes them.

Restartable with no loss: a row leaves the outbox only after the broker confirmed it.
A relay killed between the confirm and the delete publishes those rows again on restart
(at-least-once; consumers dedupe by the event id). Several relays may run side by side:
each claims its batch with FOR UPDATE SKIP LOCKED, so in normal operation no row is
published twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import tenacity

from actors import metrics
from actors.health import Heartbeats
from actors.logs import Outage, describe
from actors.publisher import BatchPublisher, BatchResult, PublishError
from persistence.outbox import OutboundMessage, OutboxStore

log = logging.getLogger("ordercare.relay")

#: How long a row the broker refused waits before the next try.
RETRY_DELAY_SECONDS = 5.0
#: How long a row waits that made the broker close the connection when published alone.
REFUSED_DELAY_SECONDS = 300.0
#: After a failed pass (broker or database down): the first pause, doubling up to the longest.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class Relay:
    """Drains the outbox in batches until stopped."""

    def __init__(
        self,
        store: OutboxStore,
        connect: Callable[[], BatchPublisher],
        *,
        batch: int = 500,
        poll_seconds: float = 0.05,
        linger_seconds: float = 0.02,
        dead_letter_queue: str = "ordercare.dead-letters",
        broker_address: str = "the broker",
    ) -> None:
        self.store = store
        self.connect = connect
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.linger_seconds = linger_seconds
        self.dead_letter_queue = dead_letter_queue
        self.stopping = threading.Event()
        self._publisher: BatchPublisher | None = None
        #: The relay loop beats once per pass and while it backs off (liveness).
        self.heartbeats = Heartbeats()
        #: Whether the last pass reached the broker and the database (readiness).
        self.connected = False
        self.broker_address = broker_address
        self._outage_since: float | None = None

    def run(self) -> None:
        """Relay until `stop()`; a failed pass backs off (0.5 s doubling to 30 s, cut short by
        `stop()`) and is tried again; a pass that succeeds starts the backoff afresh."""
        retrying = tenacity.Retrying(
            wait=tenacity.wait_exponential(
                multiplier=FIRST_BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS
            ),
            sleep=self._pause,
            before_sleep=self._pass_failed,
        )
        while not self.stopping.is_set():
            self.heartbeats.beat("relay")
            claimed = retrying(self._pass)
            if claimed is not None and claimed < self.batch:
                # Nothing, or a part batch: let rows gather (a batch costs about as much
                # as a message), then look again. Idle latency is at most poll_seconds.
                self.stopping.wait(self.poll_seconds if claimed == 0 else self.linger_seconds)
        self._drop_publisher()

    def _pass(self) -> int | None:
        """One batch, or None when stopped while backing off. It connects first even when the
        outbox is empty, so a relay that cannot reach its broker says so at once."""
        if self.stopping.is_set():
            return None
        self._publisher_or_connect().publish_batch([])  # raises when the connection is lost
        claimed = self.drain_once()
        self.connected = True
        if self._outage_since is not None:
            took = round(time.monotonic() - self._outage_since, 1)
            log.warning(f"relay recovered after {took} s", extra={"outage_s": took})
            self._outage_since = None
        return claimed

    def _pause(self, seconds: float) -> None:
        self.heartbeats.beat(
            "relay", time.time() + seconds
        )  # backing off, not wedged: back by then
        self.stopping.wait(seconds)  # stop() cuts it short

    def _pass_failed(self, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        self.connected = False
        if self._outage_since is None:  # one line when an outage starts, one when it ends
            self._outage_since = time.monotonic()
            log.error(f"relay pass failed ({describe(failure)}); broker "
                      f"{self.broker_address}; retrying until it works",
                      exc_info=None if _is_outage(failure) else failure,
                      extra={"backoff_s": state.upcoming_sleep})  # fmt: skip
        else:
            log.debug("relay pass failed again", extra={"backoff_s": state.upcoming_sleep})
        self._drop_publisher()

    def stop(self) -> None:
        self.stopping.set()

    @property
    def in_outage(self) -> bool:
        """Whether the relay has logged an outage that has not ended."""
        return self._outage_since is not None

    def drain_once(self) -> int:
        """Publish one batch; returns how many rows it claimed."""
        with self.store.claim(self.batch) as claim:
            if not claim.ids:
                return 0
            try:
                result = self._publisher_or_connect().publish_batch(claim.messages)
                refused: list[int] = []
            except PublishError as failed:
                result, refused = self._one_by_one(claim.messages, failed.confirmed)
            done, later = self._sort(claim.ids, claim.messages, result)
            claim.published(done)
            claim.defer(later, RETRY_DELAY_SECONDS)
            claim.defer([claim.ids[i] for i in refused], REFUSED_DELAY_SECONDS)
        metrics.RELAY_PUBLISHED.inc(len(result.confirmed))
        return len(claim.ids)

    def drain(self) -> int:
        """Publish until the outbox is empty (the demo and tests)."""
        total = 0
        while (n := self.drain_once()) > 0:
            total += n
        return total

    def _sort(
        self, ids: list[int], messages: list[OutboundMessage], result: BatchResult
    ) -> tuple[list[int], list[int]]:
        """Confirmed rows are done. A returned reply has nowhere to go (its queue is gone):
        dropped and counted. Anything else refused is tried again later."""
        done = [ids[i] for i in result.confirmed]
        later = [ids[i] for i in result.nacked]
        for i in result.returned:
            m = messages[i]
            if m.exchange == "" and m.routing_key != self.dead_letter_queue:
                metrics.RELAY_FAILED.labels("reply_queue_gone").inc()
                done.append(ids[i])
            else:
                metrics.RELAY_FAILED.labels("unroutable").inc()
                later.append(ids[i])
        if result.nacked:
            metrics.RELAY_FAILED.labels("nacked").inc(len(result.nacked))
        if result.unencodable:
            # Kept and tried again later, so nothing is lost and the backlog alert sees it.
            later += [ids[i] for i in result.unencodable]
            metrics.RELAY_FAILED.labels("unencodable").inc(len(result.unencodable))
        return done, later

    def _one_by_one(
        self, messages: list[OutboundMessage], confirmed: list[int]
    ) -> tuple[BatchResult, list[int]]:
        """After a batch failed: each row alone, so one the broker closes the connection for
        (a reply to a forged direct reply-to name, say) waits and holds back no other. A row
        counts as refused only when a fresh connection opened and that row alone failed it;
        when no connection opens, the broker is down: that is raised, to back off."""
        self._drop_publisher()
        merged, refused = BatchResult(confirmed=list(confirmed)), []
        for index, message in enumerate(messages):
            if index in merged.confirmed:
                continue  # the broker took it before the connection went
            publisher = self._publisher_or_connect()  # raises while the broker is down
            try:
                alone = publisher.publish_batch([message])
            except PublishError:
                self._drop_publisher()
                refused.append(index)
                continue
            for kind in ("confirmed", "returned", "nacked", "unencodable"):
                if getattr(alone, kind):
                    getattr(merged, kind).append(index)
        if refused:
            log.error("the broker refused outbox rows; they wait", extra={"rows": len(refused)})
            metrics.RELAY_FAILED.labels("refused").inc(len(refused))
        return merged, refused

    def _publisher_or_connect(self) -> BatchPublisher:
        if self._publisher is None:
            self._publisher = self.connect()
        return self._publisher

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            try:
                self._publisher.close()
            finally:
                self._publisher = None


def _is_outage(exc: BaseException | None) -> bool:
    """A broker or database that cannot be reached: no traceback helps."""
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, ConnectionError | OSError | PublishError | DBAPIError) or (
        type(exc).__module__.startswith("pika")
    )


def watch_backlog(
    store: OutboxStore,
    stopping: threading.Event,
    every: float = 5.0,
    heartbeats: Heartbeats | None = None,
    outage_logged: Callable[[], bool] = lambda: False,
) -> None:
    """Keep the backlog gauges current (run in a thread). A failure during an outage the
    relay has already logged (`outage_logged`) adds no line of its own."""
    outage = Outage(log, "the outbox backlog (database)")
    while not stopping.is_set():
        if heartbeats is not None:
            heartbeats.beat("backlog")
        try:
            count, age = store.backlog()
        except Exception as exc:
            if outage_logged():
                log.debug("could not read the outbox backlog", extra={"error": describe(exc)})
            else:
                outage.failed(describe(exc))
        else:
            outage.recovered()
            metrics.OUTBOX_BACKLOG.set(count)
            metrics.OUTBOX_AGE.set(age)
        stopping.wait(every)
