"""One wrapper for the child processes of tests and benchmarks (`ordercare worker`, `ordercare
relay`, `ordercare notifier`, `dramatiq ...`): start in its own process group with its output in a
log file, wait until ready, signal, kill, stop, and the log's tail for a failure report.

Standard library only (with `tests.servers.wait_for`), so ops/bench imports it too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tests.servers import wait_for


class ProcessDied(RuntimeError):
    """A child that should be running has exited."""


class Process:
    """A command in its own process group, stdout and stderr appended to `log` (a restarted
    process may share its predecessor's log), or written afresh when `append` is false."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        *,
        name: str | None = None,
        cwd: Path | None = None,
        append: bool = True,
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(self.argv[0]).name
        self.log = log
        self._log_file: IO[bytes] = log.open("ab" if append else "wb")
        self.popen = subprocess.Popen(self.argv, cwd=cwd, env=dict(env), stdout=self._log_file,
                                      stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check(self) -> None:
        """Raise `ProcessDied`, with the log's tail, unless it is still running."""
        if not self.alive():
            raise ProcessDied(
                f"{self.name} exited with {self.popen.returncode}; last log lines:\n{self.tail()}"
            )

    def wait_ready(self, ready: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
        """Await `ready()` (a consumer on a queue, a port, a row); fail at once if it died."""

        def alive_and_ready() -> Any:
            self.check()
            return ready()

        return wait_for(alive_and_ready, timeout, what or f"{self.name} to be ready")

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def signal(self, signum: int) -> None:
        """Signal the leader only: OrderCare's (and Dramatiq's) parent passes it on to its
        children as it would from a user."""
        if self.alive():
            self.popen.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown hook runs, unacked messages stay unacked."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)
        self._log_file.close()

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for a graceful exit (SIGKILL after `timeout`), then SIGKILL whatever
        of the group lingers; the exit code (negative: the signal that ended it)."""
        self.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        self._log_file.close()
        return self.popen.returncode


class Processes:
    """Every child started by a test or a benchmark; `stop_all` stops them, newest first.
    `cwd` and `append` are the defaults of `start` (a subclass may set others)."""

    cwd: Path | None = None
    append: bool = True

    def __init__(self) -> None:
        self.running: list[Process] = []
        self.started: list[Process] = []

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        *,
        name: str | None = None,
        cwd: Path | None = None,
        append: bool | None = None,
    ) -> Process:
        process = Process(argv, env, log, name=name, cwd=cwd or self.cwd,
                          append=self.append if append is None else append)  # fmt: skip
        self.running.append(process)
        self.started.append(process)
        return process

    def check(self) -> None:
        for process in self.running:
            process.check()

    def logs(self, chars: int = 4000) -> str:
        """The end of each log, stopped processes' too, for a failure report."""
        logs = dict.fromkeys(p.log for p in self.started)
        return "\n".join(log.read_text(errors="replace")[-chars:] for log in logs if log.exists())

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        while self.running:
            self.stop(self.running[-1])
