"""One log line when an outage of a dependency starts and one, with its duration, when it
ends — not one per retry. (The notifier uses only `contracts` and its own modules, so it
has its own copy of the worker's `actors.logs.Outage`.)"""

from __future__ import annotations

import logging
import threading
import time


class Outage:
    """Shared by the threads that depend on the same thing (thread-safe)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log = logger
        self.what = what
        self.since: float | None = None
        self._lock = threading.Lock()

    def failed(self, detail: str, exc: BaseException | None = None) -> None:
        """`exc`, when given, is logged with its traceback (an unexpected error)."""
        with self._lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        self.log.error(f"{self.what} failing: {detail}; retrying until it works", exc_info=exc)

    def recovered(self) -> None:
        with self._lock:
            if self.since is None:
                return
            took, self.since = time.monotonic() - self.since, None
        self.log.warning(f"{self.what} working again after {took:.1f} s",
                         extra={"outage_s": round(took, 1)})  # fmt: skip
