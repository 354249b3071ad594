"""`python -m tests.hostile --n N --seed S [--workers P] [--threads T]` (`ops/run fuzz …`).

Creates its own scratch database from the migrations and its own RabbitMQ vhost (as
tests/servers.py does for the tests), starts `ordercare relay` and `ordercare worker`,
publishes N hostile messages and prints one summary line, the first violating messages
above it. Exits 1 on any violation. The same seed publishes the same messages.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from actors.settings import Settings
from tests import servers
from tests.e2e.conftest import Processes
from tests.hostile.harness import Harness, Options, Report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="messages to publish (2000)")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (1)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process (4)")
    parser.add_argument("--examples", type=int, default=3, help="examples per violation (3)")
    parser.add_argument("--verbose", "-v", action="store_true", help="notes and a table by kind")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args(argv)
    options = Options(n=args.n, seed=args.seed, processes=args.workers, threads=args.threads)

    folder = Path(tempfile.mkdtemp(prefix="ordercare-hostile-"))
    template = servers.create_template()
    vhost = servers.create_vhost()
    try:
        with servers.database_from(template) as database_url:
            settings = Settings(
                database_url=database_url,
                amqp_url=servers.amqp_url(vhost),
                relay_poll_seconds=0.05,
                worker_threads=args.threads,
                **servers.names(f"fz{args.seed}-{uuid.uuid4().hex[:6]}"),
            )
            processes = Processes(settings, folder)
            try:
                report = Harness(settings, processes, options).run()
            finally:
                processes.stop_all()
    finally:
        servers.rabbitmqctl("delete_vhost", vhost)
        servers.drop_database(template)
    return _finish(report, folder, args.examples, args.verbose, args.keep_logs)


def _finish(report: Report, folder: Path, examples: int, verbose: bool, keep: bool) -> int:
    if keep or not report.ok:
        print(f"logs: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    print(report.render(examples, verbose))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
