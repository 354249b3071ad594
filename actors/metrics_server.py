"""The metrics endpoint of `ordercare worker`, run by Dramatiq as a fork process."""

from __future__ import annotations

import os
import threading

from actors.metrics import serve
from actors.settings import Settings


def serve_forever() -> int:
    """Serve the aggregate of every worker process until the worker stops."""
    settings = Settings()
    serve(
        int(os.environ.get("ORDERCARE_WORKER_METRICS_PORT", settings.worker_metrics_port)),
        settings.metrics_host,
    )
    threading.Event().wait()
    return 0
