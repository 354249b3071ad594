"""What to do after a send: done, try again later (and when), or give up. Pure."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.notifications import FailureReason
from notifier.mail import SendResult

#: Why a send is tried again: the label of the retries metric.
Cause = Literal["rate_limited", "server_error", "timeout", "connection_error"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by the notification's age."""

    base_seconds: float = 10.0
    cap_seconds: float = 600.0
    max_age_seconds: float = 6 * 3600.0
    max_attempts: int = 100

    def backoff(self, attempts: int, draw: Callable[[], float] = random.random) -> float:
        """The delay after the `attempts`-th failed try: base * 2^(attempts-1) up to the cap,
        drawn between half of it and all of it."""
        doublings = min(max(attempts - 1, 0), 60)
        ceiling = min(self.cap_seconds, self.base_seconds * float(2**doublings))
        return ceiling / 2 + draw() * ceiling / 2


@dataclass(frozen=True, slots=True)
class Decision:
    """The next step for a notification after one send."""

    action: Literal["sent", "retry", "fail"]
    next_attempt_at: datetime | None = None
    cause: Cause | None = None
    reason: FailureReason | None = None


def decide(
    result: SendResult,
    attempts: int,
    created_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    draw: Callable[[], float] = random.random,
) -> Decision:
    """2xx: sent. 429: again after Retry-After (or the backoff), until the maximum age.
    5xx, timeouts and lost connections: again after the backoff, until the maximum age or
    attempts. Beyond the bound: fail. Other 4xx: fail now."""
    if result.accepted:
        return Decision("sent")
    cause = _cause(result)
    if cause is None:
        return Decision("fail", reason="rejected")
    if cause == "rate_limited" and result.retry_after is not None:
        delay = max(result.retry_after, 0.0)
    else:
        delay = policy.backoff(attempts, draw)
    at = now + timedelta(seconds=delay)
    too_old = at - created_at > timedelta(seconds=policy.max_age_seconds)
    # Rate limits count against the age only: SendGrid asked for them, however many.
    too_many = cause != "rate_limited" and attempts >= policy.max_attempts
    if too_old or too_many:
        return Decision("fail", cause=cause, reason="retries_exhausted")
    return Decision("retry", at, cause)


def _cause(result: SendResult) -> Cause | None:
    if result.status is None:
        return result.no_answer or "connection_error"
    if result.status == 429:
        return "rate_limited"
    if result.status >= 500:
        return "server_error"
    return None
