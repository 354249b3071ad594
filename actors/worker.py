"""The module `dramatiq` loads in each worker process (`ordercare worker` points it here)."""

from __future__ import annotations

import dramatiq

from actors import metrics
from actors.bootstrap import BrokerReplier, Runtime, build_broker, register_actors
from actors.logs import configure_logging
from actors.settings import Settings

settings = Settings()
configure_logging(settings.log_level)
broker = build_broker(settings)
dramatiq.set_broker(broker)
runtime = Runtime(settings, BrokerReplier(broker))
handle_command = register_actors(broker, runtime)
metrics.export_worker_zeros()
