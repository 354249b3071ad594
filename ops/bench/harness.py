"""Plumbing for the pipeline benchmark: processes, databases, RabbitMQ, completion collectors."""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pika
import psycopg

# Run as a script: the repository root on the path for tests/ (not installed).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors import demo_story
from tests.processes import ProcessDied, Processes

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

PG_HOST = "127.0.0.1:5432"
PG_USER = "postgres"
AMQP_HOST = "guest:guest@127.0.0.1:5672"


class BenchError(RuntimeError):
    """The benchmark cannot go on (a process died, an outcome never came, a rejection)."""


# --- subprocesses --------------------------------------------------------------------------


class Procs(Processes):
    """Every child started by the benchmark (tests/processes.py: one wrapper for tests and
    benchmarks), run from the repository root with a fresh log; `stop_all` runs on exit,
    errors and Ctrl-C; `check` raises BenchError when one died."""

    cwd = ROOT
    append = False

    def check(self) -> None:
        try:
            super().check()
        except ProcessDied as died:
            raise BenchError(str(died)) from None


def run_checked(argv: Sequence[str], env: Mapping[str, str], what: str) -> str:
    done = subprocess.run(
        list(argv), cwd=ROOT, env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- PostgreSQL ----------------------------------------------------------------------------


def sqlalchemy_url(db: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}/{db}"


def pg_dsn(db: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}/{db}"


def drop_database(db: str) -> None:
    with psycopg.connect(pg_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def create_database(db: str) -> None:
    with psycopg.connect(pg_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')


def execute_all(db: str, statements: Sequence[str]) -> None:
    with psycopg.connect(pg_dsn(db), autocommit=True) as conn:
        for stmt in statements:
            conn.execute(stmt)


def scalar(db: str, query: str) -> Any:
    with psycopg.connect(pg_dsn(db), autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def checkpoint(db: str) -> None:
    """Flush dirty pages now, so a checkpoint does not land in the timed part."""
    execute_all(db, ["CHECKPOINT"])


def reference_data(db: str) -> tuple[dict[str, dict[str, Decimal]], dict[str, Decimal]]:
    """Tax rates per country and tax class, and EUR fees per delivery method, as seeded."""
    rates: dict[str, dict[str, Decimal]] = {}
    with psycopg.connect(pg_dsn(db), autocommit=True) as conn:
        for country, tax_class, rate in conn.execute(
            "SELECT country, tax_class, rate FROM tax_rates"
        ):
            rates.setdefault(country, {})[tax_class] = Decimal(rate)
        fees = {
            code: Decimal(doc["EUR"])
            for code, doc in conn.execute("SELECT code, fees FROM delivery_methods")
            if "EUR" in doc
        }
    return rates, fees


def pg_settings() -> dict[str, str]:
    names = ("server_version", "synchronous_commit", "fsync", "shared_buffers", "max_connections")
    with psycopg.connect(pg_dsn("postgres"), autocommit=True) as conn:
        return {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]


# --- RabbitMQ ------------------------------------------------------------------------------


def amqp_url(vhost: str) -> str:
    return f"amqp://{AMQP_HOST}/{vhost}"


def ensure_vhost(vhost: str) -> None:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True, check=True
    ).stdout.split()
    if vhost not in listed:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )


def delete_queues(url: str, queues: Sequence[str]) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        for queue in queues:
            channel = conn.channel()
            try:
                channel.queue_delete(queue)
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                pass  # not there
    finally:
        conn.close()


def declare_dramatiq_queue(url: str, queue: str) -> None:
    """Declare a Dramatiq queue as RabbitmqBroker does, before its workers are up."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        args = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{queue}.XQ"}
        conn.channel().queue_declare(queue, durable=True, arguments=args)
    finally:
        conn.close()


class Publisher:
    """A plain pika publisher (no confirms: the benchmark waits for outcomes instead)."""

    def __init__(self, url: str) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.conn.channel()

    def publish(
        self, exchange: str, routing_key: str, bodies: Sequence[bytes], props: Sequence[Any]
    ) -> list[float]:
        """Publish every body; returns each message's publish time (perf_counter)."""
        return self.publish_routed(exchange, [routing_key] * len(bodies), bodies, props)

    def publish_routed(
        self,
        exchange: str,
        routing_keys: Sequence[str],
        bodies: Sequence[bytes],
        props: Sequence[Any],
    ) -> list[float]:
        """Like `publish`, each body with its own routing key (a mix of message types)."""
        times = [0.0] * len(bodies)
        publish, clock = self.channel.basic_publish, time.perf_counter
        for i, body in enumerate(bodies):
            times[i] = clock()
            publish(exchange, routing_keys[i], body, props[i])
        self.conn.process_data_events(time_limit=0)
        return times

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def persistent(message_id: str | None = None, content_type: str | None = None) -> Any:
    return pika.BasicProperties(delivery_mode=2, message_id=message_id, content_type=content_type)


@dataclass(frozen=True, slots=True)
class Outcome:
    received: float
    type: str
    code: str | None
    message: str | None = None


class OutcomeCollector:
    """Consumes command outcomes from an events exchange on its own connection and thread."""

    def __init__(self, url: str, exchange: str, keys: Sequence[str]) -> None:
        self.outcomes: dict[str, Outcome] = {}
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._conn = pika.BlockingConnection(pika.URLParameters(url))
        channel = self._conn.channel()
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        for key in keys:
            channel.queue_bind(queue, exchange, routing_key=key)
        channel.basic_consume(queue, self._on_message, auto_ack=True)
        self._thread = threading.Thread(target=self._run, name="outcomes", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._conn.process_data_events(time_limit=0.2)
        finally:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _on_message(self, _ch: Any, _method: Any, _props: Any, body: bytes) -> None:
        now = time.perf_counter()
        doc = orjson.loads(body)
        data = doc.get("data") or {}
        command_id = data.get("command_id")
        if not isinstance(command_id, str):
            return
        with self._cond:
            self.outcomes.setdefault(
                command_id, Outcome(now, doc.get("type"), data.get("code"), data.get("message"))
            )
            if command_id in self._pending:
                self._pending.discard(command_id)
                if not self._pending:
                    self._cond.notify_all()

    def expect(self, ids: Sequence[str]) -> None:
        """Call before publishing: `wait` returns once all these have an outcome."""
        with self._cond:
            self._pending.update(i for i in ids if i not in self.outcomes)

    def wait(self, timeout: float, check: Callable[[], None]) -> None:
        deadline = time.perf_counter() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise BenchError(
                        f"{len(self._pending)} outcome(s) missing after {timeout:.0f}s"
                    )
                self._cond.wait(min(left, 0.5))
                if self._pending:
                    check()
            if not self._thread.is_alive():
                raise BenchError("the outcome consumer stopped")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class DoneCollector:
    """Listens on a Unix stream socket for the 4-byte indexes bare actors write when done."""

    _RECORD = struct.Struct("<I")

    def __init__(self, path: Path, capacity: int) -> None:
        self.path = path
        self.received = [0.0] * capacity
        self.count = 0
        self._target = capacity + 1
        self._cond = threading.Condition()
        self._stop = threading.Event()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        self._server.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="done", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._server, selectors.EVENT_READ)
        leftovers: dict[socket.socket, bytes] = {}
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.2):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    if sock is self._server:
                        client, _addr = self._server.accept()
                        client.setblocking(False)
                        sel.register(client, selectors.EVENT_READ)
                        leftovers[client] = b""
                        continue
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(sock)
                        sock.close()
                        leftovers.pop(sock, None)
                        continue
                    self._records(leftovers, sock, data)
        finally:
            sel.close()
            self._server.close()

    def _records(
        self, leftovers: dict[socket.socket, bytes], sock: socket.socket, data: bytes
    ) -> None:
        now = time.perf_counter()
        buf = leftovers[sock] + data
        usable = len(buf) - len(buf) % 4
        leftovers[sock] = buf[usable:]
        received = self.received
        n = 0
        for (index,) in self._RECORD.iter_unpack(buf[:usable]):
            if received[index] == 0.0:
                received[index] = now
                n += 1
        if n:
            with self._cond:
                self.count += n
                if self.count >= self._target:
                    self._cond.notify_all()

    def wait_count(self, target: int, timeout: float, check: Callable[[], None]) -> None:
        deadline = time.perf_counter() + timeout
        with self._cond:
            self._target = target
            while self.count < target:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise BenchError(
                        f"only {self.count}/{target} bare messages done after {timeout:.0f}s"
                    )
                self._cond.wait(min(left, 0.5))
                if self.count < target:
                    check()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# --- messages ------------------------------------------------------------------------------

ACCOUNT_ID = "acc_bench_ada"


def catalog_upsert() -> dict[str, Any]:
    return demo_story.catalog_upsert()


def billing_account_create() -> dict[str, Any]:
    return demo_story.ada_account(ACCOUNT_ID)


def order_create() -> dict[str, Any]:
    """The demo's 2-line order for the seeded account; OrderCare generates the order id."""
    return demo_story.ada_order(ACCOUNT_ID, reference="psp_bench")


# --- signals -------------------------------------------------------------------------------


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C so the `finally` blocks stop the children."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
