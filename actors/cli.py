"""`ordercare`: run workers, the relay and the notifier, migrate, publish a command, write schemas, demo."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from actors.memory import tune_malloc
from actors.settings import Settings

if TYPE_CHECKING:
    from notifier.settings import NotifierSettings
    from notifier.store import NotificationStore


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    return run(args, Settings())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ordercare", description=__doc__)
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
    return parser


def _schema_is_current(settings: Settings) -> bool:
    """Refuse to start against a database that is missing or behind this code's migrations."""
    from sqlalchemy.exc import OperationalError

    from persistence.database import current_and_head

    try:
        current, head = current_and_head(settings.database_url)
    except OperationalError as exc:
        print(
            f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}", file=sys.stderr
        )
        return False
    if current != head:
        print(f"the database is at migration {current or '(none)'}, this code needs {head}: "
              "run `ordercare db upgrade`", file=sys.stderr)  # fmt: skip
        return False
    return True


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    tune_malloc()  # before Dramatiq forks: its processes inherit it
    # Before anything imports prometheus_client: worker processes write to this folder.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="ordercare-metrics-"
    )
    os.makedirs(metrics_dir, exist_ok=True)
    for stale in Path(metrics_dir).glob("*.db"):  # a previous run's values, never other files
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    port = settings.worker_metrics_port if args.metrics_port is None else args.metrics_port
    os.environ["ORDERCARE_WORKER_METRICS_PORT"] = str(port)
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from actors.logs import configure_logging

    configure_logging(settings.log_level)  # JSON lines; the forked processes inherit it
    argv = [
        "actors.worker",
        "--skip-logging",
        "--processes",
        str(args.processes or settings.worker_processes),
        "--threads",
        str(args.threads or settings.worker_threads),
    ]
    if port:
        argv += ["--fork-function", "actors.metrics_server:serve_forever"]
    parsed = make_argument_parser().parse_args(argv)  # type: ignore[no-untyped-call]
    return int(dramatiq_main(parsed) or 0)  # type: ignore[no-untyped-call]


def _relay(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    from actors.relay_main import run_relay

    tune_malloc()

    port = settings.relay_metrics_port if args.metrics_port is None else args.metrics_port
    return run_relay(settings, port)


def _notifier(args: argparse.Namespace, settings: Settings) -> int:
    if not _schema_is_current(settings):
        return 1
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from actors.logs import configure_logging
    from notifier.main import run
    from notifier.settings import NotifierSettings

    try:
        notifier_settings = NotifierSettings()
    except (ValidationError, SettingsError) as exc:
        print(f"invalid notifier settings: {exc}", file=sys.stderr)
        return 1
    configure_logging(settings.log_level)
    tune_malloc()
    return run(notifier_settings, _notification_store, args.metrics_port)


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
    return run_sweeper(settings, once=args.once, interval=args.interval)


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
    from actors.relay_main import declare_topology

    declare_topology(settings)
    print("exchanges, queues and bindings are declared")
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
