"""Direct publishing (issue 14): a worker publishes a command's outbox messages itself, right
after the commit, and the outbox rows are only the safety net.

The command's transaction writes its outbox rows as always, but available to the relay only
after a grace period (`ORDERCARE_DIRECT_PUBLISH_GRACE_SECONDS`). After the commit the worker
thread hands the messages to this process's `DirectPublisher` and goes on without waiting: one
confirm-mode connection (its own, not Dramatiq's consuming channel) publishes them, and the
rows the broker confirmed are deleted by a flusher thread, many commands' rows in one
statement every `ORDERCARE_DIRECT_PUBLISH_FLUSH_SECONDS`. Whatever is not confirmed — the
broker down, a nack, a return, the worker killed between commit and confirm — stays in the
outbox and the relay publishes it once the grace period is over: at-least-once holds, and an
event id is published twice only when a confirm or its delete came too late.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import tenacity

from actors import metrics
from actors.logs import Outage, describe
from actors.publisher import BatchResult, PublishError
from actors.relay import FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS
from persistence.outbox import OutboundMessage

log = logging.getLogger("ordercare.direct")

#: Confirmed ids kept for deletion while the database is unreachable; beyond this the oldest
#: are forgotten (the relay publishes those rows again after their grace: duplicates only).
MAX_PENDING_DELETES = 100_000
#: Commands' publishes awaiting their confirms, at most: beyond that (a broker that blocks
#: publishers, say) a command's rows are left to the relay rather than buffered in memory.
#: A publish unsettled after the grace period no longer counts: its rows are the relay's.
MAX_IN_FLIGHT = 2_000

_CONFIRMED = metrics.DIRECT_PUBLISHED.labels("confirmed")
_FALLBACK = metrics.DIRECT_PUBLISHED.labels("fallback")


class AsyncPublisher(Protocol):
    """What direct publishing needs of a connection (actors/publisher.ConfirmingPublisher)."""

    @property
    def usable(self) -> bool: ...

    def publish_async(
        self,
        messages: Sequence[OutboundMessage],
        on_done: Callable[[BatchResult, Exception | None], None],
    ) -> None: ...

    def close(self) -> None: ...


class DirectPublisher:
    """One per worker process: publishes committed outbox messages and deletes confirmed rows.

    `submit` never blocks on the broker or the database: while there is no usable connection
    it only counts the messages as left to the relay. A background thread connects (and
    reconnects, backing off); another deletes confirmed rows in batches."""

    def __init__(
        self,
        connect: Callable[[], AsyncPublisher],
        delete: Callable[[list[int]], None],
        *,
        grace_seconds: float,
        flush_seconds: float = 0.05,
        flush_rows: int = 500,
    ) -> None:
        self.connect = connect
        self.delete = delete
        self.grace = timedelta(seconds=grace_seconds)
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self._publisher: AsyncPublisher | None = None
        self._lock = threading.Lock()
        self._confirmed: list[int] = []
        #: Publishes awaiting their confirms: token -> (when submitted, its number of rows).
        self._in_flight: dict[int, tuple[float, int]] = {}
        self._tokens = itertools.count()
        self._settled = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._outage = Outage(log, "database (deleting directly published outbox rows)")
        self._broker_outage = Outage(log, "broker (direct publishing; the relay publishes)")

    def available_at(self) -> datetime:
        """When the relay may take a row written now: by the wall clock the relay reads, not
        the command's (a test's) clock."""
        return datetime.now(UTC) + self.grace

    def start(self) -> None:
        for target, name in ((self._keep_connected, "direct-connect"),
                             (self._flush_loop, "direct-flush")):  # fmt: skip
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    # --- worker threads -----------------------------------------------------------------

    def submit(self, rows: Sequence[tuple[int, OutboundMessage]]) -> None:
        """Publish a committed command's outbox rows (id, message); returns at once."""
        if not rows:
            return
        publisher = self._publisher
        if publisher is None or not publisher.usable:
            _FALLBACK.inc(len(rows))
            return
        ids = [i for i, _m in rows]
        with self._lock:
            full = len(self._in_flight) >= MAX_IN_FLIGHT
            if not full:
                token = next(self._tokens)
                self._in_flight[token] = (time.monotonic(), len(ids))
        if full:
            _FALLBACK.inc(len(rows))
            return
        try:
            publisher.publish_async(
                [m for _i, m in rows], lambda r, e: self._settle(token, ids, r, e)
            )
        except Exception as exc:  # never fail a committed command: its rows are the relay's
            self._settle(token, ids, BatchResult(), exc if isinstance(exc, PublishError) else
                         PublishError(describe(exc)))  # fmt: skip

    # --- the publisher's I/O thread -----------------------------------------------------

    def _settle(
        self, token: int, ids: list[int], result: BatchResult, error: Exception | None
    ) -> None:
        confirmed = [ids[i] for i in result.confirmed]
        with self._lock:
            # A publish given up on after the grace was counted as the relay's then: a late
            # confirm still spares the relay a duplicate, but counts nothing again.
            counted = self._in_flight.pop(token, None) is not None
            self._confirmed.extend(confirmed)
            if len(self._confirmed) > MAX_PENDING_DELETES:
                del self._confirmed[: len(self._confirmed) - MAX_PENDING_DELETES]
            self._settled.notify_all()
            full = len(self._confirmed) >= self.flush_rows
        if counted:
            _CONFIRMED.inc(len(confirmed))
            _FALLBACK.inc(len(ids) - len(confirmed))
        if full:
            self._wake.set()
        if error is not None:
            log.debug("a direct publish failed", extra={"error": describe(error)})

    # --- background threads -------------------------------------------------------------

    def _keep_connected(self) -> None:
        """(Re)connect whenever there is no usable connection, backing off as the relay does
        (0.5 s doubling to 30 s, cut short by `stop()`)."""
        retrying = tenacity.Retrying(
            wait=tenacity.wait_exponential(
                multiplier=FIRST_BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS
            ),
            sleep=self._pause,
            stop=tenacity.stop_when_event_set(self._stopping),
            before_sleep=self._connect_failed,
        )
        while not self._stopping.is_set():
            current = self._publisher
            if current is not None and current.usable:
                self._stopping.wait(0.2)
                continue
            if current is not None:
                self._publisher = None
                current.close()
            try:
                self._publisher = retrying(self.connect)
            except tenacity.RetryError:
                return  # stopped while backing off
            self._broker_outage.recovered(str(getattr(self._publisher, "address", "")))

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)  # stop() cuts it short

    def _connect_failed(self, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        self._broker_outage.failed(describe(failure))

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._expire()
            self.flush()

    def _expire(self) -> None:
        """Give up on publishes unsettled for longer than the grace period (a confirm that
        never comes, a callback a closed connection never ran): their rows are the relay's
        by now, and they must not hold a place in MAX_IN_FLIGHT for ever."""
        oldest = time.monotonic() - self.grace.total_seconds()
        with self._lock:
            late = [t for t, (at, _n) in self._in_flight.items() if at < oldest]
            rows = sum(self._in_flight.pop(t)[1] for t in late)
            if late:
                self._settled.notify_all()
        _FALLBACK.inc(rows)

    def flush(self) -> int:
        """Delete the confirmed rows gathered so far; returns how many. On a database error
        they are kept for the next flush."""
        with self._lock:
            ids, self._confirmed = self._confirmed, []
        if not ids:
            return 0
        try:
            self.delete(ids)
        except Exception as exc:
            self._outage.failed(describe(exc))
            with self._lock:
                self._confirmed[:0] = ids
                if len(self._confirmed) > MAX_PENDING_DELETES:
                    del self._confirmed[: len(self._confirmed) - MAX_PENDING_DELETES]
            return 0
        self._outage.recovered()
        return len(ids)

    def stop(self, timeout: float = 5.0) -> None:
        """Wait (up to `timeout`) for the confirms of what was submitted, delete the confirmed
        rows, close the connection. What is left unconfirmed goes by the relay."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._settled.wait(left)
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self.flush()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()


class StopAfterFirstCommit(DirectPublisher):
    """Fault injection for the end-to-end tests (ORDERCARE_FAULT_STOP_AFTER_COMMIT): the first
    submit SIGSTOPs the process, between the commit and the publish. A subclass, so that the
    production path carries no check of it."""

    _stopped = False

    def submit(self, rows: Sequence[tuple[int, OutboundMessage]]) -> None:
        if rows and not self._stopped:
            self._stopped = True
            log.warning("fault injection: stopping this worker process after its commit")
            os.kill(os.getpid(), signal.SIGSTOP)
        super().submit(rows)
