"""The pipeline benchmark's pure parts (ops/bench/measure.py, ops/bench/proc_cpu.py): the
open-loop scheduler's planned times, percentiles, and CPU time from /proc lines."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

# ops/bench is a folder of scripts, not a package: its modules import each other by name
# (appended: a module there never shadows a package of the same name).
sys.path.append(str(Path(__file__).resolve().parents[2] / "ops" / "bench"))

from measure import Latency, Paced, percentile, planned_times, run_paced
from proc_cpu import TICKS, ProcStat, Snapshot, group_ticks, parse_machine, parse_stat, window

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


# --- /proc parsing and CPU per group -------------------------------------------------------

# proc(5) fields: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
# cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize ...
STAT = (
    "4242 (odd) name (1)) S 4000 4242 4242 0 -1 4194560 1500 0 0 0 120 30 7 3 20 0 9 0 "
    "987654 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0"
)


def test_a_stat_line_is_split_after_the_last_parenthesis_of_the_name() -> None:
    stat = parse_stat(STAT)
    assert stat == ProcStat(
        pid=4242, comm="odd) name (1)", ppid=4000, own=150, reaped=10, start=987654
    )
    with pytest.raises(ValueError):
        parse_stat("not a stat line")


def test_the_machine_line_counts_busy_and_total_ticks() -> None:
    busy, total = parse_machine("cpu  100 5 50 1000 20 3 2 1 0 0")
    assert busy == 100 + 5 + 50 + 3 + 2 + 1  # user nice system irq softirq steal
    assert total == busy + 1000 + 20  # + idle + iowait
    with pytest.raises(ValueError):
        parse_machine("cpu0 1 2 3 4 5 6 7 8 0 0")


def proc(pid: int, ppid: int, own: int, reaped: int = 0, start: int = 1) -> ProcStat:
    return ProcStat(pid, "python", ppid, own, reaped, start)


def snap(at: float, *procs: ProcStat, busy: int = 0) -> Snapshot:
    return Snapshot(at, {p.pid: p for p in procs}, {}, (busy, busy * 2))


def test_a_child_reaped_inside_the_window_counts_only_its_time_in_the_window() -> None:
    # The parent uses 50 ticks; its child had 40 before the window and 30 in it, then exits
    # (the parent's reaped time gains the child's 70). A new grandchild of 5 ticks appears.
    before = snap(0.0, proc(10, 1, 100), proc(11, 10, 40), busy=1000)
    after = snap(2.0, proc(10, 1, 150, reaped=70), proc(12, 10, 5), busy=1300)
    assert group_ticks(before, after, before.tree(10), after.tree(10)) == 50 + 30 + 5

    cpu = window(before, after, {"tree": lambda s: s.tree(10)})
    assert cpu.seconds["tree"] == pytest.approx(85 / TICKS)  # 100 a second on Linux
    assert cpu.machine == pytest.approx(300 / TICKS)
    assert cpu.percent("tree") == pytest.approx(85 / TICKS / 2.0 * 100)


def test_a_member_reaped_outside_the_group_or_a_reused_pid_is_never_negative() -> None:
    # Backend 21 exits (reaped by 20, not in the group): its window time is lost, not its
    # whole past taken off. Pid 22 is a new process with an old pid: all of it counts.
    before = snap(0.0, proc(20, 1, 500), proc(21, 20, 300), proc(22, 20, 900, start=5))
    after = snap(1.0, proc(20, 1, 510, reaped=320), proc(22, 20, 7, start=99))
    assert group_ticks(before, after, {21, 22}, {22}) == 7
