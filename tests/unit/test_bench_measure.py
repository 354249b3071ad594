"""The pipeline benchmark's pure parts (ops/bench/measure.py): the open-loop scheduler's
planned times and percentiles."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

# ops/bench is a folder of scripts, not a package: its modules import each other by name
# (appended: a module there never shadows a package of the same name).
sys.path.append(str(Path(__file__).resolve().parents[2] / "ops" / "bench"))

from measure import Latency, Paced, percentile, planned_times, run_paced

# --- percentiles -------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([float(n) for n in range(1, 101)], 0.99) == pytest.approx(99.01)
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0], 1.0) == 2.0
    assert math.isnan(percentile([], 0.5))


def test_a_latency_summary_sorts_its_input() -> None:
    summary = Latency.of([40.0, 10.0, 30.0, 20.0, 100.0])
    assert summary.count == 5
    assert summary.p50 == 30.0
    assert summary.p90 == pytest.approx(76.0)
    assert summary.p99 == pytest.approx(97.6)
    assert summary.max == 100.0
    assert math.isnan(Latency.of([]).max)


# --- the open-loop scheduler ---------------------------------------------------------------


def test_planned_times_are_t0_plus_i_over_rate_without_drift() -> None:
    assert planned_times(10.0, 4, 5) == [10.0, 10.25, 10.5, 10.75, 11.0]
    # 3000 additions of 1/3 drift; t0 + i/rate does not.
    assert planned_times(0.0, 3, 3001)[-1] == 1000.0
    with pytest.raises(ValueError):
        planned_times(0.0, 0, 10)


class FakeClock:
    """A clock that moves only when the scheduler sleeps or a publish takes time."""

    def __init__(self, costs: dict[int, float]) -> None:
        self.now = 100.0
        self.costs = costs
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def publish(self, i: int) -> float:
        at = self.now
        self.now += self.costs.get(i, 0.0)
        return at


def test_paced_publishes_go_out_when_due() -> None:
    fake = FakeClock({})
    paced = run_paced(5, 10, fake.publish, clock=fake.clock, sleep=fake.sleep)
    assert paced.planned == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])
    assert paced.actual == pytest.approx(paced.planned)
    assert paced.behind() == 0
    assert paced.achieved_rate == pytest.approx(10.0)


def test_a_slow_publish_makes_the_next_ones_late_but_never_moves_the_plan() -> None:
    # Publish 1 takes 0.35 s at 10/s: 2 and 3 are overdue and go out at once, back to back;
    # 4 is on time again (not 0.35 s later, as a closed loop would send it).
    fake = FakeClock({1: 0.35})
    paced = run_paced(6, 10, fake.publish, clock=fake.clock, sleep=fake.sleep)
    assert paced.planned == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4, 100.5])
    assert paced.actual == pytest.approx([100.0, 100.1, 100.45, 100.45, 100.45, 100.5])
    assert paced.lags == pytest.approx([0, 0, 0.25, 0.15, 0.05, 0])
    assert paced.behind() == 2  # 0.25 and 0.15 s late: an interval (0.1 s) or more
    assert len(fake.sleeps) == 2  # before 1 and before 5 only: never while behind


def test_achieved_rate_needs_two_publishes() -> None:
    assert math.isnan(Paced(10, [0.0], [0.0]).achieved_rate)
    assert Paced(10, [0.0, 0.1, 0.2], [0.0, 0.2, 0.4]).achieved_rate == pytest.approx(5.0)
