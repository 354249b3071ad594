"""The metrics and health endpoint of `ordercare worker`, run by Dramatiq as a fork process.

It stays up when the worker processes freeze, so its `/livez` judges them by the heartbeat
files they write (actors/health.py), not by its own health.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

from actors import health
from actors.settings import Settings


def serve_forever() -> int:
    """Serve the aggregate of every worker process until the worker stops."""
    settings = Settings()
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    expected = int(os.environ.get("ORDERCARE_WORKER_PROCESSES", settings.worker_processes))

    def registry() -> CollectorRegistry:
        built = CollectorRegistry()
        multiprocess.MultiProcessCollector(built)  # type: ignore[no-untyped-call]
        return built

    health.serve(
        int(os.environ.get("ORDERCARE_WORKER_METRICS_PORT", settings.worker_metrics_port)),
        settings.metrics_host,
        process="worker",
        heartbeats=health.worker_heartbeats(folder),
        live=health.workers_live(folder, expected),
        ready=health.combine(
            health.database_ready(settings.database_url), health.workers_ready(folder, expected)
        ),
        registry=registry,
    )
    threading.Event().wait()
    return 0
