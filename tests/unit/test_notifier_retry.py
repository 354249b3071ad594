"""After a send: done, again later (and when), or give up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.mail import SendResult
from notifier.retry import RetryPolicy, decide

CREATED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=10, cap_seconds=600, max_age_seconds=6 * 3600, max_attempts=100)


def low() -> float:
    return 0.0


def high() -> float:
    return 1.0


def test_an_accepted_mail_is_sent() -> None:
    assert decide(SendResult(202, "msg-1"), 1, CREATED, CREATED, POLICY).action == "sent"
    assert decide(SendResult(200), 1, CREATED, CREATED, POLICY).action == "sent"  # sandbox mode


def test_a_rate_limit_is_tried_again_exactly_after_retry_after() -> None:
    now = CREATED + timedelta(seconds=5)
    d = decide(SendResult(429, retry_after=42), 3, CREATED, now, POLICY)
    assert (d.action, d.cause, d.next_attempt_at) == (
        "retry",
        "rate_limited",
        now + timedelta(seconds=42),
    )


def test_a_rate_limit_without_retry_after_backs_off() -> None:
    d = decide(SendResult(429), 1, CREATED, CREATED, POLICY, draw=high)
    assert (d.action, d.next_attempt_at) == ("retry", CREATED + timedelta(seconds=10))


@pytest.mark.parametrize(
    ("attempts", "ceiling"), [(1, 10), (2, 20), (3, 40), (6, 320), (7, 600), (30, 600)]
)
def test_server_errors_back_off_exponentially_with_jitter_between_half_and_all_of_the_step(
    attempts: int, ceiling: float
) -> None:
    for draw, seconds in ((low, ceiling / 2), (high, ceiling)):
        d = decide(SendResult(503), attempts, CREATED, CREATED, POLICY, draw=draw)
        assert (d.action, d.cause) == ("retry", "server_error")
        assert d.next_attempt_at == CREATED + timedelta(seconds=seconds)


def test_jittered_delays_differ_between_notifications() -> None:
    delays = {POLICY.backoff(5) for _ in range(20)}
    assert len(delays) > 1
    assert all(80 <= d <= 160 for d in delays)


def test_timeouts_and_lost_connections_back_off_with_their_own_cause() -> None:
    timeout = decide(SendResult(None, no_answer="timeout"), 1, CREATED, CREATED, POLICY)
    lost = decide(SendResult(None, no_answer="connection_error"), 1, CREATED, CREATED, POLICY)
    assert (timeout.action, timeout.cause) == ("retry", "timeout")
    assert (lost.action, lost.cause) == ("retry", "connection_error")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_a_refused_request_fails_at_once(status: int) -> None:
    d = decide(
        SendResult(status, error="The from address does not match"), 1, CREATED, CREATED, POLICY
    )
    assert (d.action, d.reason) == ("fail", "rejected")


def test_giving_up_after_the_last_allowed_attempt() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=2, max_attempts=3)
    assert decide(SendResult(500), 2, CREATED, CREATED, policy).action == "retry"
    d = decide(SendResult(500), 3, CREATED, CREATED, policy)
    assert (d.action, d.reason, d.cause) == ("fail", "retries_exhausted", "server_error")


def test_rate_limits_count_against_the_maximum_age_but_not_the_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, max_age_seconds=3600)
    d = decide(SendResult(429, retry_after=1), 50, CREATED, CREATED, policy)
    assert (d.action, d.cause) == ("retry", "rate_limited")


def test_giving_up_when_the_next_try_would_come_after_the_maximum_age() -> None:
    policy = RetryPolicy(base_seconds=60, cap_seconds=60, max_age_seconds=3600)
    assert (
        decide(SendResult(500), 9, CREATED, CREATED + timedelta(minutes=58), policy, low).action
        == "retry"
    )
    late = decide(
        SendResult(500), 9, CREATED, CREATED + timedelta(minutes=59, seconds=31), policy, low
    )
    assert (late.action, late.reason) == ("fail", "retries_exhausted")


def test_a_retry_after_beyond_the_maximum_age_gives_up() -> None:
    policy = RetryPolicy(max_age_seconds=60)
    d = decide(SendResult(429, retry_after=120), 1, CREATED, CREATED, policy)
    assert (d.action, d.reason) == ("fail", "retries_exhausted")


@pytest.mark.parametrize("draw", [low, high])
def test_with_the_defaults_an_hour_of_sendgrid_down_loses_nothing(draw: object) -> None:
    policy, now, attempts = RetryPolicy(), CREATED, 0
    while now < CREATED + timedelta(hours=1):
        attempts += 1
        d = decide(SendResult(503), attempts, CREATED, now, policy, draw=draw)  # type: ignore[arg-type]
        assert d.action == "retry" and d.next_attempt_at is not None
        now = d.next_attempt_at
    assert decide(SendResult(202), attempts + 1, CREATED, now, policy).action == "sent"
