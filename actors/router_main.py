"""`ordercare route`: the router process with a graceful stop."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from actors import health
from actors.logs import configure_logging
from actors.router import Router
from actors.settings import Settings

log = logging.getLogger("ordercare.router")


def run_router(settings: Settings, metrics_port: int) -> int:
    configure_logging(settings.log_level)
    router = Router(settings)
    if metrics_port:
        health.serve(
            metrics_port,
            settings.metrics_host,
            process="route",
            heartbeats=health.own_heartbeat(router.heartbeats),
            live=router.heartbeats.stale,
            ready=lambda: [] if router.ready else ["broker: not connected"],
        )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping router", extra={"signal": signum})
        router.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    router.run()
    return 0
