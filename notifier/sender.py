"""The sender loop: claim due notifications, send each through the mailer, record the outcome.

Claiming commits `sending` (attempts + 1, leased) before SendGrid is called, the lease is
renewed just before each request (a slow batch never outlives it), and the outcome is
committed after SendGrid answers. A sender killed in between leaves the row `sending`; when
the lease ends another sender sends it again. That is the one duplicate this allows: a
process killed after SendGrid's 202 and before the outcome's commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import tenacity

from notifier import metrics
from notifier.kinds import SkipReason
from notifier.mail import Mail, Mailer, SendResult
from notifier.outage import Outage
from notifier.retry import Decision, RetryPolicy, decide
from notifier.store import Claimed, NotificationStore

log = logging.getLogger("ordercare.notifier")

#: After a failed pass (database down): the first pause, doubling up to the longest.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class Sender:
    """One sending thread's loop, until `stopping` is set."""

    def __init__(self, store: NotificationStore, mailer: Mailer, policy: RetryPolicy, *,
                 batch: int, poll_seconds: float, lease_seconds: float,
                 stopping: threading.Event, wake: threading.Event,
                 beat: Callable[..., None] = lambda at=None: None,
                 outage: Outage | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.store = store
        self.mailer = mailer
        self.policy = policy
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.stopping = stopping
        self.wake = wake
        self.clock = clock
        #: Called on every pass and while backing off (liveness): a sender stuck longer
        #: than a SendGrid timeout in one pass stops beating.
        self.beat = beat
        #: Shared by a notifier's senders: one line per outage, not per sender and retry.
        self.outage = outage or Outage(log, "sender")

    def run(self) -> None:
        """Send until stopped; a failing pass (database down) is logged and tried again after
        a backoff (0.5 s doubling to 30 s, cut short by `stopping`); a pass that succeeds
        starts the backoff afresh."""
        retrying = tenacity.Retrying(
            wait=tenacity.wait_exponential(
                multiplier=FIRST_BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS
            ),
            sleep=self._pause,
            before_sleep=self._pass_failed,
        )
        while not self.stopping.is_set():
            self.beat()
            claimed = retrying(self._pass)
            if claimed is not None and claimed < self.batch:
                self.wake.wait(self.poll_seconds)
                self.wake.clear()

    def _pass(self) -> int | None:
        """One pass, or None when stopped while backing off."""
        if self.stopping.is_set():
            return None
        claimed = self.send_due()
        self.outage.recovered()
        return claimed

    def _pass_failed(self, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        self.outage.failed(f"{type(failure).__name__}: {failure}", failure)
        log.debug("sender pass failed again", extra={"backoff_s": state.upcoming_sleep})

    def _pause(self, seconds: float) -> None:
        self.beat(time.time() + seconds)  # backing off, not wedged: back by then
        self.stopping.wait(seconds)  # stopping cuts it short

    def send_due(self) -> int:
        """One pass: claim a batch and send it; returns how many rows were claimed."""
        claimed = self.store.claim(self.batch, self.clock(), self.lease_seconds)
        for n, c in enumerate(claimed):
            if self.stopping.is_set():
                self.store.release(claimed[n:], self.clock())
                break
            self.send_one(c)
        return len(claimed)

    def send_one(self, c: Claimed) -> None:
        """Send one claimed notification, unless the customer has since lost their address
        or opted out, and record what happened."""
        mail = _mail_or_skip(c)
        if isinstance(mail, str):
            owned = self.store.skipped(c, mail, self.clock())
            metrics.NOTIFICATIONS.labels(c.kind, f"skipped_{mail}").inc()
            log.info("notification skipped", extra=_ids(c) | {"reason": mail, "owned": owned})
            return
        if not self.store.renew(c, self.clock(), self.lease_seconds):
            log.warning("claimed row was taken over before its turn; not sent", extra=_ids(c))
            return
        started = time.monotonic()
        result = self.mailer.send(mail)
        metrics.SEND_SECONDS.observe(time.monotonic() - started)
        now = self.clock()
        self._record(c, result, decide(result, c.attempts, c.created_at, now, self.policy), now)

    def _record(self, c: Claimed, result: SendResult, d: Decision, now: datetime) -> None:
        if d.action == "sent":
            owned = self.store.sent(c, result, now)
            outcome = "sent"
        elif d.action == "retry":
            owned = self.store.retry(c, result, d.next_attempt_at or now)
            outcome = "retried"
            metrics.RETRIES.labels(d.cause or "server_error").inc()
        else:
            owned = self.store.failed(c, d.reason or "rejected", result, now)
            outcome = "failed"
        metrics.NOTIFICATIONS.labels(c.kind, outcome).inc()
        self._log(c, result, outcome, owned, d)

    def _log(self, c: Claimed, result: SendResult, outcome: str, owned: bool, d: Decision) -> None:
        extra = _ids(c) | {"outcome": outcome, "status_code": result.status,
                           "no_answer": result.no_answer, "cause": d.cause, "reason": d.reason}  # fmt: skip
        if not owned:
            log.warning("outcome not recorded: the lease ran out and the row was claimed again",
                        extra=extra)  # fmt: skip
        elif outcome == "failed":
            log.error("notification failed", extra=extra)
        else:
            log.info(f"notification {outcome}", extra=extra)


def _mail_or_skip(c: Claimed) -> Mail | SkipReason:
    """The e-mail, or why not: the address may be gone, or the customer opted out since."""
    if not c.email:
        return "no_email"
    if c.kind in c.opted_out:
        return "opted_out"
    if not c.template_id:
        return "no_template"
    ids = {"notification_id": str(c.id), "event_id": c.event_id}
    return Mail(c.email, c.name, c.template_id, c.data, ids)


def _ids(c: Claimed) -> dict[str, object]:
    """What may be logged of a notification: ids, kind, attempt — no name, address or data."""
    return {"notification_id": c.id, "event_id": c.event_id, "kind": c.kind, "attempts": c.attempts}
