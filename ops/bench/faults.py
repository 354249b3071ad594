"""Faults under load, counted from the outside: `ordercare worker` and `ordercare relay` are
started as README says, N order.create are published, and meanwhile the worker and the relay
are SIGKILLed (and started again), PostgreSQL is restarted and RabbitMQ's app is stopped and
started. Then every command must have exactly one outcome and every accepted order exactly
one row.

    .venv/bin/python ops/bench/faults.py [N]       # default 3000; needs root for the restarts

It uses its own database and vhost, and prints one line of figures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pika
import pika.exceptions
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests import messages as m  # noqa: E402

BIN = str(ROOT / ".venv" / "bin" / "ordercare")
WORKER = ("worker", "--processes", "2", "--threads", "4", "--metrics-port", "0")
RELAY = ("relay", "--metrics-port", "0")


class Run:
    def __init__(self, n: int) -> None:
        self.n = n
        self.vhost = "faults_" + uuid.uuid4().hex[:6]
        self.database = "faults_" + uuid.uuid4().hex[:6]
        self.env = dict(
            os.environ,
            ORDERCARE_DATABASE_URL=f"postgresql+psycopg://root@127.0.0.1:5432/{self.database}",
            ORDERCARE_AMQP_URL=f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
        )
        self.url = pika.URLParameters(self.env["ORDERCARE_AMQP_URL"])
        log = Path(tempfile.gettempdir()) / f"ordercare-{self.vhost}.log"
        self.logs = log.open("ab")  # kept open for the whole run
        self.seen: dict[str, str] = {}
        self.done: list[str] = []

    def prepare(self) -> None:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest",
                        ".*", ".*", ".*"], check=True)  # fmt: skip
        for task in (("db", "upgrade"), ("broker", "setup")):
            subprocess.run([BIN, *task], env=self.env, check=True, capture_output=True)
        self.worker = self.start(WORKER)
        self.relay = self.start(RELAY)
        threading.Thread(target=self.listen, daemon=True).start()

    def start(self, argv: tuple[str, ...]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([BIN, *argv], env=self.env, stdout=self.logs,
                                stderr=self.logs, start_new_session=True)  # fmt: skip

    def listen(self) -> None:
        """Every outcome on ordercare.events, the first of each command kept."""
        while True:
            try:
                channel = pika.BlockingConnection(self.url).channel()
                channel.queue_declare("faults-outcomes", durable=True)
                channel.queue_bind("faults-outcomes", "ordercare.events", "command.#")
                for _m, _p, body in channel.consume(
                    "faults-outcomes", auto_ack=True, inactivity_timeout=1
                ):
                    if body:
                        doc = orjson.loads(body)
                        self.seen.setdefault(doc["data"]["command_id"], doc["type"])
            except pika.exceptions.AMQPError:  # the broker restarting: listen again
                time.sleep(0.5)

    def publish(self, docs: list[dict[str, Any]]) -> None:
        """Each message once, with confirms; a lost connection resumes at the next one."""
        i = 0
        while i < len(docs):
            try:
                connection = pika.BlockingConnection(self.url)
                channel = connection.channel()
                channel.confirm_delivery()
                while i < len(docs):
                    doc = docs[i]
                    channel.basic_publish(
                        "ordercare.commands", doc["type"], orjson.dumps(doc),
                        pika.BasicProperties(delivery_mode=2, message_id=doc["id"]),
                        mandatory=True,
                    )  # fmt: skip
                    i += 1
                    self.fault(i)
                    self.supervise()
                connection.close()
            except pika.exceptions.AMQPError:
                time.sleep(1)

    def fault(self, i: int) -> None:
        due = ["kill worker", "kill relay", "restart postgres", "restart rabbitmq"]
        what = due[len(self.done)] if len(self.done) < len(due) else None
        if what is None or i < (len(self.done) + 1) * self.n // 5:
            return
        started = time.time()
        if what == "kill worker":
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
            self.worker = self.start(WORKER)
        elif what == "kill relay":
            os.killpg(self.relay.pid, signal.SIGKILL)
            self.relay.wait()
            self.relay = self.start(RELAY)
        elif what == "restart postgres":
            version = sorted(os.listdir("/etc/postgresql"))[-1]
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                            "restart"], check=True)  # fmt: skip
        else:
            subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True)
            time.sleep(3)
            subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True)
        self.done.append(what)
        print(f"fault at message {i}: {what} ({time.time() - started:.1f} s)", flush=True)

    def supervise(self) -> None:
        """What systemd or Kubernetes would do: start again a process that exited (a worker
        started while PostgreSQL is restarting exits with one line, by design)."""
        if self.worker.poll() is not None:
            self.worker = self.start(WORKER)
        if self.relay.poll() is not None:
            self.relay = self.start(RELAY)

    def stop(self) -> None:
        for process in (self.worker, self.relay):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)


def main() -> int:
    run = Run(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
    run.prepare()
    started = time.time()
    try:
        run.publish([m.catalog(), m.account("acc_ada")])
        docs = [m.order(f"ord_f{n}") for n in range(run.n)]
        run.publish(docs)
        ids = {d["id"] for d in docs}
        deadline = time.time() + 300
        while time.time() < deadline and not ids <= set(run.seen):
            run.supervise()
            time.sleep(1)
        took = time.time() - started
    finally:
        run.stop()
    got = ids & set(run.seen)
    accepted = sum(1 for i in got if run.seen[i] == "command.accepted")
    with psycopg.connect(f"host=127.0.0.1 user=root dbname={run.database}") as conn:
        row = conn.execute("SELECT count(*) FROM orders WHERE id LIKE 'ord_f%'").fetchone()
        orders = row[0] if row else 0
    print(
        f"commands {run.n}, faults {len(run.done)}, outcomes {len(got)} ({accepted} accepted), "
        f"missing {len(ids - got)}, orders in PostgreSQL {orders} (doubled "
        f"{max(orders - accepted, 0)}), {took:.0f} s to the last outcome"
    )
    return 0 if not ids - got and orders == accepted else 1


if __name__ == "__main__":
    sys.exit(main())
