"""The benchmark's pure arithmetic: percentiles, latency summaries and the open-loop pacing of
a publisher. No I/O and no third-party imports (tests/unit/test_bench_measure.py)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks; `sorted_values` must be sorted."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Latency:
    """p50/p90/p99/max of a series, in the series' own unit (NaN when it is empty)."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Latency:
        ordered = sorted(values)
        top = ordered[-1] if ordered else float("nan")
        return cls(
            len(ordered),
            percentile(ordered, 0.50),
            percentile(ordered, 0.90),
            percentile(ordered, 0.99),
            top,
        )


def planned_times(t0: float, rate: float, count: int) -> list[float]:
    """When each of `count` publishes is due at `rate` per second: t0 + i / rate. Computed from
    t0 each time, not by adding intervals, so no rounding error accumulates."""
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"rate must be a positive number, not {rate}")
    return [t0 + i / rate for i in range(count)]


@dataclass(frozen=True, slots=True)
class Paced:
    """What an open-loop publisher planned and did: due and actual time of each publish."""

    rate: float
    planned: list[float]
    actual: list[float]

    @property
    def lags(self) -> list[float]:
        """How late each publish went out (s; 0 or more)."""
        return [max(0.0, a - p) for p, a in zip(self.planned, self.actual, strict=True)]

    @property
    def achieved_rate(self) -> float:
        """Publishes per second from the first to the last (NaN with fewer than two)."""
        if len(self.actual) < 2 or self.actual[-1] <= self.actual[0]:
            return float("nan")
        return (len(self.actual) - 1) / (self.actual[-1] - self.actual[0])

    def behind(self) -> int:
        """Publishes that went out a whole interval (1 / rate) or more after they were due:
        the next one was due already, so the publisher, not the system measured, set the
        pace there."""
        interval = 1.0 / self.rate
        return sum(1 for lag in self.lags if lag >= interval)


def run_paced(
    count: int,
    rate: float,
    publish: Callable[[int], float],
    *,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> Paced:
    """Open loop: publish number i is due at t0 + i / rate whatever happened before it. The
    loop sleeps until a publish is due (never longer) and never waits for an outcome; when
    it is late (a slow publish, a descheduled process), the late ones go out back to back
    and the plan does not move. `publish(i)` returns the time it published (same clock)."""
    planned = planned_times(clock(), rate, count)
    actual: list[float] = []
    for i, due in enumerate(planned):
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        actual.append(publish(i))
    return Paced(rate, planned, actual)
