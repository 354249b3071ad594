"""The bare shape OrderCare is compared with: Dramatiq actors on RabbitMQ and nothing else.

Run by the benchmark as `dramatiq bare_actors --path ops/bench --queues bench.noop` (or
`bench.pg`). Configured through the environment:

  BENCH_AMQP_URL     the RabbitMQ URL (a dedicated vhost)
  BENCH_PG_DSN       libpq DSN of the bench database (psycopg actor only)
  BENCH_DONE_SOCKET  Unix stream socket the benchmark listens on
  BENCH_PG_NOTIFY    "1": the psycopg actor also runs pg_notify (OrderCare's outbox trigger)

Completion is signalled per message: after its work (after COMMIT for the psycopg actor)
the actor writes its 4-byte index to the done socket, one connection per worker thread.
The middleware mirrors OrderCare's (actors/bootstrap.py) so the Dramatiq overhead matches.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

import dramatiq
import psycopg
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import (
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

NOOP_QUEUE = "bench.noop"
PG_QUEUE = "bench.pg"
#: Rows the psycopg actor spreads its locks over.
ACCOUNTS = 1000

#: BENCH_PG_NOTIFY=1 adds a pg_notify to the transaction, like OrderCare's outbox trigger.
NOTIFY = os.environ.get("BENCH_PG_NOTIFY") == "1"

_RECORD = struct.Struct("<I")
_local = threading.local()


def make_broker(url: str) -> RabbitmqBroker:
    middleware: list[Middleware] = [
        TimeLimit(time_limit=120_000),
        ShutdownNotifications(),
        CurrentMessage(),
        Retries(max_retries=3, min_backoff=250, max_backoff=60_000),
    ]
    return RabbitmqBroker(url=url, middleware=middleware)


broker = make_broker(os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"))
dramatiq.set_broker(broker)


def _done(index: int) -> None:
    sock: socket.socket | None = getattr(_local, "sock", None)
    if sock is None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(os.environ["BENCH_DONE_SOCKET"])
        _local.sock = sock
    sock.sendall(_RECORD.pack(index))


def _pg() -> psycopg.Connection[tuple[object, ...]]:
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "pg", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["BENCH_PG_DSN"])
        _local.pg = conn
    return conn


@dramatiq.actor(queue_name=NOOP_QUEUE, actor_name="bench.noop")
def noop(index: int, _message_id: str, _body: str) -> None:
    """Does nothing but say it is done."""
    _done(index)


@dramatiq.actor(queue_name=PG_QUEUE, actor_name="bench.pg")
def pg_transaction(index: int, message_id: str, body: str) -> None:
    """The row shape of a command: lock one row, update it, two inserts, commit."""
    conn = _pg()
    account = index % ACCOUNTS
    payload = body.encode()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT balance, version FROM bench_account WHERE id = %s FOR UPDATE", (account,)
            )
            cur.fetchone()
            cur.execute(
                "UPDATE bench_account SET balance = balance + 1, version = version + 1,"
                " updated_at = now() WHERE id = %s",
                (account,),
            )
            cur.execute(
                "INSERT INTO bench_inbox (message_id, body, received_at) VALUES (%s, %s, now())",
                (message_id, payload),
            )
            cur.execute(
                "INSERT INTO bench_outbox (body, created_at) VALUES (%s, now())", (payload,)
            )
            if NOTIFY:
                # What OrderCare's outbox trigger does in every command's transaction.
                cur.execute("SELECT pg_notify('bench_outbox', '')")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    _done(index)


#: DDL the benchmark runs before a psycopg run (in the bench database).
SCHEMA = (
    "DROP TABLE IF EXISTS bench_account, bench_inbox, bench_outbox",
    "CREATE TABLE bench_account (id integer PRIMARY KEY, balance bigint NOT NULL,"
    " version integer NOT NULL, updated_at timestamptz NOT NULL)",
    "CREATE TABLE bench_inbox (message_id text PRIMARY KEY, body bytea NOT NULL,"
    " received_at timestamptz NOT NULL)",
    "CREATE TABLE bench_outbox (id bigserial PRIMARY KEY, body bytea NOT NULL,"
    " created_at timestamptz NOT NULL)",
    f"INSERT INTO bench_account SELECT g, 0, 1, now() FROM generate_series(0, {ACCOUNTS - 1}) g",
    "ANALYZE bench_account",
)
