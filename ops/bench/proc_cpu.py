"""CPU seconds of the processes around a benchmark run, from Linux's /proc (Linux only: psutil
is not a dependency). Two snapshots bound a window; each row of the table is a group of
processes (a process tree, every process of a name, PostgreSQL backends of one database)
and its CPU time (user + system) inside the window.

A process that exits inside the window is counted through its parent: the kernel adds a
reaped child's CPU time to its parent's cutime/cstime, so for a group that holds the parent
the window's figure is exact. A process of the group that exits and is reaped by a parent
outside the group (a PostgreSQL backend of the benchmark's database) loses what it used in
the window; the worker's and the relay's connections are pooled, so that is rare.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
#: Clock ticks per second of the times in /proc/<pid>/stat and /proc/stat.
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the table needs (times in clock ticks)."""

    pid: int
    comm: str
    ppid: int
    own: int  # utime + stime
    reaped: int  # cutime + cstime: waited-for children, theirs included
    start: int  # starttime: tells a reused pid from the process that had it before


def parse_stat(line: str) -> ProcStat:
    """One /proc/<pid>/stat line (proc(5)): `pid (comm) state ppid ...`. The command name may
    hold spaces and parentheses, so the fields after it start at the last ')'."""
    head, close, rest = line.rpartition(")")
    pid_text, open_, comm = head.partition(" (")
    if not close or not open_:
        raise ValueError(f"not a /proc/<pid>/stat line: {line[:80]!r}")
    fields = rest.split()
    # fields[0] is field 3 (state) of proc(5): field k is fields[k - 3].
    utime, stime, cutime, cstime = (int(fields[k - 3]) for k in (14, 15, 16, 17))
    return ProcStat(
        pid=int(pid_text),
        comm=comm,
        ppid=int(fields[4 - 3]),
        own=utime + stime,
        reaped=cutime + cstime,
        start=int(fields[22 - 3]),
    )


def parse_machine(line: str) -> tuple[int, int]:
    """The `cpu` line of /proc/stat (all CPUs): busy and total clock ticks. Busy is user,
    nice, system, irq, softirq and steal; idle and iowait are not (guest time is already in
    user and nice)."""
    name, *values = line.split()
    if name != "cpu":
        raise ValueError(f"not the cpu line of /proc/stat: {line[:80]!r}")
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in values[:8])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float  # time.perf_counter()
    procs: Mapping[int, ProcStat]
    cmdlines: Mapping[int, str]  # of the processes `wanted` asked for, NUL bytes as spaces
    machine: tuple[int, int]  # busy, total ticks of all CPUs

    def children(self) -> dict[int, list[int]]:
        tree: dict[int, list[int]] = {}
        for stat in self.procs.values():
            tree.setdefault(stat.ppid, []).append(stat.pid)
        return tree

    def tree(self, root: int) -> set[int]:
        """`root` and every descendant of it now."""
        children, found, todo = self.children(), set(), [root]
        while todo:
            pid = todo.pop()
            if pid in self.procs and pid not in found:
                found.add(pid)
                todo.extend(children.get(pid, ()))
        return found

    def named(self, comm: str) -> set[int]:
        return {pid for pid, stat in self.procs.items() if stat.comm == comm}


def snapshot(cmdline_of: Callable[[ProcStat], bool] = lambda _s: False) -> Snapshot:
    """Every process's /proc/<pid>/stat now (those that exit while it reads are skipped), and
    the command line of those `cmdline_of` picks."""
    at = time.perf_counter()
    procs: dict[int, ProcStat] = {}
    cmdlines: dict[int, str] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = parse_stat((entry / "stat").read_text())
            if cmdline_of(stat):
                raw = (entry / "cmdline").read_bytes()
                cmdlines[stat.pid] = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue  # gone, or not readable
        procs[stat.pid] = stat
    with (PROC / "stat").open() as machine:
        busy_total = parse_machine(machine.readline())
    return Snapshot(at, procs, cmdlines, busy_total)


def group_ticks(
    before: Snapshot, after: Snapshot, members_before: set[int], members_after: set[int]
) -> int:
    """CPU ticks a group used between two snapshots. A member's own time, and the time of
    the children it reaped meanwhile, count from `before` (or from its start when it is new);
    a member gone by `after` counts only when its parent is a member then (the parent's
    reaped time holds it whole, so its time before the window is taken off)."""
    ticks = 0
    for pid in members_after:
        now = after.procs[pid]
        then = before.procs.get(pid) if pid in members_before else None
        if then is not None and then.start == now.start:
            ticks += now.own + now.reaped - then.own - then.reaped
        else:
            ticks += now.own + now.reaped
    for pid in members_before:
        then = before.procs[pid]
        now_ = after.procs.get(pid)
        if (now_ is None or now_.start != then.start) and then.ppid in members_after:
            ticks -= then.own + then.reaped
    return ticks


#: A group of processes: its members in a snapshot.
Group = Callable[[Snapshot], set[int]]


@dataclass(frozen=True, slots=True)
class CpuWindow:
    """CPU seconds of each group over `wall` seconds; `machine` is all CPUs' busy time."""

    wall: float
    seconds: dict[str, float]
    machine: float

    def percent(self, label: str) -> float:
        """% of one core (200 % = two cores busy all the window)."""
        return self.seconds[label] / self.wall * 100 if self.wall > 0 else float("nan")


def window(before: Snapshot, after: Snapshot, groups: Mapping[str, Group]) -> CpuWindow:
    seconds = {
        label: group_ticks(before, after, members(before), members(after)) / TICKS
        for label, members in groups.items()
    }
    machine = (after.machine[0] - before.machine[0]) / TICKS
    return CpuWindow(after.at - before.at, seconds, machine)
