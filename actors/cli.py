"""`ordercare`: run workers, the relay and the notifier, migrate, publish a command, write schemas, demo."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from actors.memory import tune_malloc
from actors.settings import Settings

if TYPE_CHECKING:
    from notifier.main import Notifier
    from notifier.settings import NotifierSettings
    from notifier.store import NotificationStore


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    return _reported(lambda settings: run(args, settings))


def _reported(run: Callable[[Settings], int]) -> int:
    """Run a command; a failure the user can fix is one line on stderr and exit 2 (usage,
    configuration) or 1 (run time), never a traceback (actors/cli_errors.py)."""
    from actors.cli_errors import Servers, explain

    servers = None
    try:
        settings = Settings()
        servers = Servers(settings.amqp_url, settings.database_url)
        return run(settings)
    except Exception as exc:
        failure = explain(exc, servers)
        if failure is None:
            raise
        print(failure.line(), file=sys.stderr)
        return failure.code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ordercare {version('ordercare')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "ordercare (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ordercare", description=__doc__)
    from actors.version import build_version

    parser.add_argument("--version", action="version", version=f"ordercare {build_version()}")
    sub = parser.add_subparsers(metavar="COMMAND")

    worker = sub.add_parser("worker", help="run Dramatiq worker processes for the commands queue")
    worker.add_argument(
        "--processes", "-p", type=int, help="worker processes (ORDERCARE_WORKER_PROCESSES)"
    )
    worker.add_argument(
        "--threads", "-t", type=int, help="threads per process (ORDERCARE_WORKER_THREADS)"
    )
    worker.add_argument(
        "--metrics-port", type=int, help="Prometheus port (ORDERCARE_WORKER_METRICS_PORT); 0: off"
    )
    worker.set_defaults(run=_worker)

    relay = sub.add_parser("relay", help="publish the outbox to RabbitMQ with publisher confirms")
    relay.add_argument(
        "--metrics-port", type=int, help="Prometheus port (ORDERCARE_RELAY_METRICS_PORT); 0: off"
    )
    relay.set_defaults(run=_relay)

    route = sub.add_parser(
        "route",
        help="ordering mode: move inbound messages to their order's partition "
        "(ORDERCARE_ORDERED_PARTITIONS)",
    )
    route.add_argument(
        "--metrics-port", type=int, help="Prometheus port (ORDERCARE_ROUTER_METRICS_PORT); 0: off"
    )
    route.set_defaults(run=_route)

    notifier = sub.add_parser("notifier", help="e-mail customers about events through SendGrid")
    notifier.add_argument(
        "--metrics-port", type=int, help="Prometheus port (ORDERCARE_NOTIFIER_METRICS_PORT); 0: off"
    )
    notifier.set_defaults(run=_notifier)

    sweep = sub.add_parser(
        "sweep", help="send the commands of due deadlines (expiring appeasements and returns)"
    )
    sweep.add_argument("--once", action="store_true", help="one round, then exit")
    sweep.add_argument(
        "--interval", type=float, default=60.0, help="seconds between rounds (default 60)"
    )
    sweep.add_argument(
        "--metrics-port", type=int, help="Prometheus port (ORDERCARE_SWEEP_METRICS_PORT); 0: off"
    )
    sweep.set_defaults(run=_sweep)

    prune = sub.add_parser(
        "prune",
        help="remove what is past its retention window (inbox, kept bodies, dead letters, "
        "notifications; the audit log only when ORDERCARE_RETENTION_AUDIT_DAYS is set)",
    )
    prune.add_argument("--dry-run", action="store_true", help="count what is due, change nothing")
    prune.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    prune.set_defaults(run=_prune)
    db = sub.add_parser("db", help="database tasks").add_subparsers(metavar="TASK")
    db.add_parser(
        "upgrade", help="create the database if missing and apply migrations"
    ).set_defaults(run=_db_upgrade)
    db.add_parser(
        "check",
        help="migrate a throwaway database on the configured server and fail if its schema "
        "differs from persistence/tables.py (alembic check)",
    ).set_defaults(run=_db_check)

    broker = sub.add_parser("broker", help="broker tasks").add_subparsers(metavar="TASK")
    broker.add_parser("setup", help="declare exchanges, queues and bindings").set_defaults(
        run=_broker_setup
    )

    publish = sub.add_parser(
        "publish", help="publish a command from a JSON file and print its outcome"
    )
    publish.add_argument(
        "file", type=Path, help="a CloudEvent (id, time, source and specversion are filled in)"
    )
    publish.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the outcome"
    )
    publish.set_defaults(run=_publish)

    schema = sub.add_parser("schema", help="write the AsyncAPI document and JSON Schemas")
    schema.add_argument(
        "--check", action="store_true", help="fail if the committed files are stale"
    )
    schema.add_argument(
        "--out", type=Path, default=None, help="folder (default: contracts/schemas)"
    )
    schema.set_defaults(run=_schema)

    demo = sub.add_parser(
        "demo", help="run a care story and print it (embedded unless ORDERCARE_* URLs are set)"
    )
    demo.add_argument(
        "--embedded",
        action="store_true",
        help="in-process broker even when ORDERCARE_* URLs are set (a throwaway database on "
        "ORDERCARE_DATABASE_URL's server)",
    )
    demo.set_defaults(run=_demo)
    _operator_parsers(sub)
    return parser


def _operator_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """dead-letters, outbox, inbox, doctor: kept in actors/cli_ops.py."""
    from actors.cli_ops import add_operator_parsers

    add_operator_parsers(sub)


def _schema_is_current(settings: Settings) -> bool:
    """Refuse to start against a database that is missing or behind this code's migrations."""
    from actors.cli_errors import CliFailure, database_place
    from persistence.database import current_and_head

    current, head = current_and_head(settings.database_url)  # unreachable: one line in main
    if current != head:
        raise CliFailure(
            f"the database is at migration {current or '(none)'}, this code needs {head}",
            database_place(settings.database_url),
            "run `ordercare db upgrade`",
        )
    return True


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    _declare_topology(settings)  # a wrong broker: one line and exit 1, before any fork
    tune_malloc()  # before Dramatiq forks: its processes inherit it
    # Before anything imports prometheus_client: worker processes write to this folder.
    from actors.metrics_dirs import make_metrics_dir

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = given or str(make_metrics_dir())  # ours: removed on exit, below
    os.makedirs(metrics_dir, exist_ok=True)
    for pattern in ("*.db", "heartbeat_*.json"):  # a previous run's, never other files
        for stale in Path(metrics_dir).glob(pattern):
            stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    port = settings.worker_metrics_port if args.metrics_port is None else args.metrics_port
    os.environ["ORDERCARE_WORKER_METRICS_PORT"] = str(port)
    processes = args.processes or settings.worker_processes
    os.environ["ORDERCARE_WORKER_PROCESSES"] = str(processes)  # the health endpoint expects them
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from actors.logs import configure_logging

    configure_logging(settings.log_level)  # JSON lines; the forked processes inherit it
    argv = [
        "actors.worker",
        "--skip-logging",
        "--processes",
        str(processes),
        "--threads",
        str(args.threads or settings.worker_threads),
    ]
    if port:
        argv += ["--fork-function", "actors.metrics_server:serve_forever"]
    parsed = make_argument_parser().parse_args(argv)  # type: ignore[no-untyped-call]
    try:  # Dramatiq's parent returns once its processes stopped (SIGTERM and SIGINT too)
        return int(dramatiq_main(parsed) or 0)  # type: ignore[no-untyped-call]
    finally:
        if not given:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _declare_topology(settings: Settings) -> None:
    """Connect and declare what topology.py declares; a failure is the caller's one line.
    Imports neither actors.metrics nor prometheus_client: `_worker` must set
    PROMETHEUS_MULTIPROC_DIR first."""
    import amqp_nodes
    from actors.topology import declare

    connection = amqp_nodes.connect(settings.amqp_url)
    try:
        declare(connection.channel(), settings)
    finally:
        connection.close()


def _relay(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    from actors.relay_main import run_relay

    # Once now: a relay pointed at a wrong broker would otherwise say nothing until the
    # outbox had a row. A failure here is one line (cli_errors) and exit 1.
    _declare_topology(settings)
    tune_malloc()

    port = settings.relay_metrics_port if args.metrics_port is None else args.metrics_port
    return run_relay(settings, port)


def _route(args: argparse.Namespace, settings: Settings) -> int:
    from actors.router_main import run_router

    if not settings.ordered_partitions:
        print("ordercare route: ordering mode is off; set ORDERCARE_ORDERED_PARTITIONS (e.g. 8)")
        return 2
    _declare_topology(settings)
    port = settings.router_metrics_port if args.metrics_port is None else args.metrics_port
    return run_router(settings, port)


def _notifier(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    from actors.logs import configure_logging
    from notifier.main import run
    from notifier.settings import NotifierSettings

    notifier_settings = NotifierSettings()  # invalid: one line in main (cli_errors)
    configure_logging(settings.log_level)
    tune_malloc()
    return run(notifier_settings, _notification_store, args.metrics_port, _serve_notifier)


def _serve_notifier(port: int, host: str, notifier: Notifier) -> None:
    """The notifier's /metrics, /livez (every thread beating) and /readyz (database at
    head, consumer attached)."""
    from actors import health

    def oldest() -> dict[int, float]:
        beats = dict(notifier.beats)
        return {os.getpid(): min(beats.values())} if beats else {}

    def live() -> list[str]:
        now = time.time()
        return [
            f"{name}: no heartbeat for {now - at:.0f} s"
            for name, at in sorted(dict(notifier.beats).items())
            if now - at > health.STALE_SECONDS
        ]

    def consumer() -> list[str]:
        return [] if notifier.consumer.consuming else ["broker: no consumer attached"]

    health.serve(port, host, process="notifier", heartbeats=oldest, live=live,
                 ready=health.combine(health.database_ready(notifier.settings.database_url),
                                      consumer))  # fmt: skip


def _notification_store(settings: NotifierSettings) -> NotificationStore:
    """The notifier's store: its SQL adapter on the one engine policy (persistence/engine.py)."""
    from persistence.notifications import open_notification_store

    return open_notification_store(
        settings.database_url, settings.events_exchange, senders=settings.notifier_senders
    )


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    from actors.logs import configure_logging
    from actors.sweep import run_sweeper

    configure_logging(settings.log_level)
    return run_sweeper(
        settings, once=args.once, interval=args.interval, metrics_port=args.metrics_port
    )


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    from actors.logs import configure_logging
    from actors.prune import run_prune

    configure_logging(settings.log_level)
    return run_prune(settings, dry_run=args.dry_run, as_json=args.json)


def _db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from persistence.database import create_database, upgrade

    if create_database(settings.database_url):
        print("created the database")
    upgrade(settings.database_url)
    print("database is at the latest migration")
    return 0


def _db_check(_args: argparse.Namespace, settings: Settings) -> int:
    from alembic.util.exc import AutogenerateDiffsDetected

    from persistence.database import check, scratch_database, upgrade

    with scratch_database(settings.database_url, prefix="ordercare_check") as url:
        upgrade(url)
        try:
            check(url)
        except AutogenerateDiffsDetected as exc:
            print(f"the migrations and persistence/tables.py differ:\n{exc}", file=sys.stderr)
            return 1
    print("the migrations build exactly the schema persistence/tables.py describes")
    return 0


def _broker_setup(_args: argparse.Namespace, settings: Settings) -> int:
    import amqp_nodes
    from actors.relay_main import declare_topology
    from actors.topology import retire_partitions

    declare_topology(settings)
    print("exchanges, queues and bindings are declared")
    connection = amqp_nodes.connect(settings.amqp_url)
    try:
        busy = retire_partitions(connection, settings)
    finally:
        connection.close()
    if busy:
        print(
            f"partition queues above ORDERCARE_ORDERED_PARTITIONS={settings.ordered_partitions} "
            f"still hold messages and were kept: {', '.join(busy)}; let workers that still "
            "consume them drain them, then run `ordercare broker setup` again",
            file=sys.stderr,
        )
        return 1
    return 0


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from actors.cli_publish import publish_and_wait

    return publish_and_wait(settings, args.file, args.timeout)


def _schema(args: argparse.Namespace, _settings: Settings) -> int:
    from actors.schemas import write_schemas

    return write_schemas(args.out, check=args.check)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from actors.demo import run_demo

    return run_demo(settings, embedded=args.embedded or not _servers_configured())


def _servers_configured() -> bool:
    return bool(os.environ.get("ORDERCARE_AMQP_URL") or os.environ.get("ORDERCARE_DATABASE_URL"))


if __name__ == "__main__":
    sys.exit(main())
