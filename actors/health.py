"""Health endpoints for every long-running process, on its metrics port.

`/metrics` (Prometheus), `/livez` (200 unless a loop or thread of the process is wedged),
`/readyz` (200 when the database is reachable and at this code's migration head and the
broker is connected with its consumers attached), `/healthz` (an alias of `/livez`).
A failing probe answers 503 with one line per problem.

Liveness comes from heartbeats: each loop or thread of a process beats as it makes
progress; the process's heartbeat (`ordercare_heartbeat_timestamp_seconds{process, pid}`)
is its *oldest* loop's last beat, and `/livez` fails when that is older than
`STALE_SECONDS`. Worker processes write theirs to a file the metrics process reads
(`WorkerHeartbeat`), because Dramatiq serves `/metrics` from a separate fork process that
stays up when the workers freeze.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.version import build_version

log = logging.getLogger("ordercare.health")

#: A heartbeat older than this fails `/livez` (probes and alerts use the same figure).
STALE_SECONDS = 20.0
#: How often the loops that have nothing else to do beat.
BEAT_SECONDS = 2.0
#: A worker thread running one message counts as alive until Dramatiq's TimeLimit
#: (actors/bootstrap.py) would have stopped it; past that it is wedged.
MESSAGE_ALLOWANCE_SECONDS = 120.0
#: A readiness check of the database gives up after this long.
CHECK_TIMEOUT_SECONDS = 5.0

#: Problems found by a probe; an empty list means healthy.
Probe = Callable[[], list[str]]


class Heartbeats:
    """The last beat of each named loop of this process (thread-safe)."""

    def __init__(self) -> None:
        self._beats: dict[str, float] = {}
        self._lock = threading.Lock()

    def beat(self, name: str, at: float | None = None) -> None:
        with self._lock:
            self._beats[name] = time.time() if at is None else at

    def forget(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    def oldest(self) -> float | None:
        with self._lock:
            return min(self._beats.values(), default=None)

    def stale(self, now: float | None = None, max_age: float = STALE_SECONDS) -> list[str]:
        now = time.time() if now is None else now
        with self._lock:
            return [
                f"{name}: no heartbeat for {now - at:.0f} s"
                for name, at in sorted(self._beats.items())
                if now - at > max_age
            ]


class HealthCollector(Collector):
    """`ordercare_heartbeat_timestamp_seconds` per process and `ordercare_build_info`."""

    def __init__(self, process: str, heartbeats: Callable[[], dict[int, float]]) -> None:
        self.process = process
        self.heartbeats = heartbeats

    def collect(self) -> Iterable[GaugeMetricFamily]:
        beat = GaugeMetricFamily(
            "ordercare_heartbeat_timestamp_seconds",
            "Unix time at which every loop and thread of the process was last seen making "
            f"progress; older than {STALE_SECONDS:.0f} s means wedged.",
            labels=["process", "pid"],
        )
        for pid, at in sorted(self.heartbeats().items()):
            beat.add_metric([self.process, str(pid)], at)
        yield beat
        info = GaugeMetricFamily(
            "ordercare_build_info", "The running OrderCare version (always 1).", labels=["version"]
        )
        info.add_metric([build_version()], 1.0)
        yield info


def own_heartbeat(heartbeats: Heartbeats) -> Callable[[], dict[int, float]]:
    def current() -> dict[int, float]:
        at = heartbeats.oldest()
        return {} if at is None else {os.getpid(): at}

    return current


def serve(
    port: int,
    host: str,
    *,
    process: str,
    heartbeats: Callable[[], dict[int, float]],
    live: Probe,
    ready: Probe,
    registry: Callable[[], CollectorRegistry] | None = None,
) -> ThreadingHTTPServer:
    """Serve /metrics, /livez, /readyz and /healthz on `port` in a daemon thread."""
    collector = HealthCollector(process, heartbeats)
    make_registry: Callable[[], CollectorRegistry]
    if registry is None:
        REGISTRY.register(collector)
        make_registry = lambda: REGISTRY  # noqa: E731
    else:
        build = registry

        def make_registry() -> CollectorRegistry:
            built = build()
            built.register(collector)
            return built

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(make_registry()), "text/plain; version=0.0.4")
            elif path in ("/livez", "/healthz", "/readyz"):
                problems = _run(ready if path == "/readyz" else live)
                body = ("\n".join(problems) if problems else "ok") + "\n"
                self._answer(503 if problems else 200, body.encode(), "text/plain")
            else:
                self._answer(404, b"not found: /metrics, /livez, /readyz\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server


def _run(probe: Probe) -> list[str]:
    try:
        return probe()
    except Exception as exc:  # a probe that fails is a failing probe, not a 500
        return [f"probe failed: {type(exc).__name__}: {exc}"]


def database_ready(url: str) -> Probe:
    """The database answers within CHECK_TIMEOUT_SECONDS and is at this code's head."""

    def probe() -> list[str]:
        result: list[str] = ["database: no answer within "
                             f"{CHECK_TIMEOUT_SECONDS:.0f} s"]  # fmt: skip

        def check() -> None:
            from persistence.database import current_and_head

            logging.getLogger("alembic").setLevel(logging.WARNING)  # once per probe otherwise

            try:
                current, head = current_and_head(_with_connect_timeout(url))
            except Exception as exc:
                result[:] = [f"database: unreachable ({type(exc).__name__})"]
                return
            if current != head:
                result[:] = [f"database: at migration {current}, this code needs {head}"]
            else:
                result[:] = []

        thread = threading.Thread(target=check, daemon=True)
        thread.start()
        thread.join(CHECK_TIMEOUT_SECONDS)
        return list(result)

    return probe


def _with_connect_timeout(url: str) -> str:
    if "connect_timeout" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}connect_timeout={int(CHECK_TIMEOUT_SECONDS)}"


def combine(*probes: Probe) -> Probe:
    def probe() -> list[str]:
        return [problem for p in probes for problem in _run(p)]

    return probe


#: The worker process's heartbeat (set by the Liveness middleware when it boots).
WORKER: WorkerHeartbeat | None = None


# -- worker processes: a heartbeat file per process, read by the metrics process ---------------


class WorkerHeartbeat:
    """Run in each worker process: every BEAT_SECONDS, write its heartbeat file — the time
    every worker thread was last known alive (a thread in a message counts as alive until
    MESSAGE_ALLOWANCE_SECONDS after the message began) and whether its consumers are
    attached."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"heartbeat_{os.getpid()}.json"
        self.busy: dict[int, float] = {}  # thread ident -> when its message began
        self.consumers: dict[str, bool] = {}  # queue -> consuming
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def pid(self) -> int:
        return int(self.path.stem.rsplit("_", 1)[1])

    def started(self, thread: int) -> None:
        with self._lock:
            self.busy[thread] = time.time()

    def finished(self, thread: int) -> None:
        with self._lock:
            self.busy.pop(thread, None)

    def consuming(self, queue: str, attached: bool) -> None:
        with self._lock:
            self.consumers[queue] = attached

    def beat(self) -> None:
        now = time.time()
        with self._lock:
            oldest = min(self.busy.values(), default=None)
            consumers = dict(self.consumers)
        at = now if oldest is None else min(now, oldest + MESSAGE_ALLOWANCE_SECONDS)
        state = {"pid": os.getpid(), "at": at, "consumers": consumers}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.beat()
            except OSError:
                log.exception("could not write the worker heartbeat")
            self.stopping.wait(BEAT_SECONDS)

    def start(self) -> None:
        self.beat()
        threading.Thread(target=self.run, name="heartbeat", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.path.unlink()


def worker_states(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("heartbeat_*.json")):
        with contextlib.suppress(OSError, ValueError):
            yield json.loads(path.read_text())


def worker_heartbeats(folder: Path) -> Callable[[], dict[int, float]]:
    def current() -> dict[int, float]:
        return {int(s["pid"]): float(s["at"]) for s in worker_states(folder)}

    return current


def workers_live(folder: Path, expected: int) -> Probe:
    def probe() -> list[str]:
        now = time.time()
        states = list(worker_states(folder))
        problems = [
            f"worker process {s['pid']}: no heartbeat for {now - s['at']:.0f} s"
            for s in states
            if now - float(s["at"]) > STALE_SECONDS
        ]
        if len(states) < expected and now - STARTED > STALE_SECONDS:
            problems.append(f"{len(states)} of {expected} worker processes report a heartbeat")
        return problems

    return probe


def workers_ready(folder: Path, expected: int) -> Probe:
    def probe() -> list[str]:
        states = list(worker_states(folder))
        if len(states) < expected:
            return [f"{len(states)} of {expected} worker processes have started"]
        problems = []
        for s in states:
            detached = sorted(q for q, on in s["consumers"].items() if not on)
            if not s["consumers"] or detached:
                problems.append(
                    f"worker process {s['pid']}: broker consumers not attached "
                    f"({', '.join(detached) or 'none yet'})"
                )
        return problems

    return probe


STARTED = time.time()
