"""`ordercare notifier`: the consumer, the sender threads and the metrics endpoint, stopped
cleanly by SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from notifier import metrics
from notifier.consumer import Consumer
from notifier.intake import EventIntake
from notifier.mail import Mailer
from notifier.outage import Outage
from notifier.retry import RetryPolicy
from notifier.sender import Sender
from notifier.sendgrid_mailer import SendGridMailer
from notifier.settings import NotifierSettings
from notifier.store import NotificationStore

log = logging.getLogger("ordercare.notifier")

#: How often the oldest-unsent gauge is brought up to date.
GAUGE_SECONDS = 5.0


def sendgrid_mailer(settings: NotifierSettings) -> SendGridMailer:
    return SendGridMailer(
        settings.sendgrid_api_key.get_secret_value(),
        host=settings.sendgrid_host,
        from_email=settings.notifier_from_email,
        from_name=settings.notifier_from_name,
        sandbox=settings.sendgrid_sandbox_mode,
        timeout=settings.sendgrid_timeout_seconds,
    )


def retry_policy(settings: NotifierSettings) -> RetryPolicy:
    return RetryPolicy(
        base_seconds=settings.notifier_retry_base_seconds,
        cap_seconds=settings.notifier_retry_cap_seconds,
        max_age_seconds=settings.notifier_max_age_seconds,
        max_attempts=settings.notifier_max_attempts,
    )


class Notifier:
    """The consumer and the senders in threads over `store` (closed by `stop`): `start`, then
    `stop`."""

    def __init__(
        self,
        settings: NotifierSettings,
        store: NotificationStore,
        mailer: Callable[[NotifierSettings], Mailer] = sendgrid_mailer,
    ) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.store = store
        self.intake = EventIntake(self.store, settings.notifier_templates, self.wake)
        #: Each thread's last beat (Unix time), by thread name: liveness.
        self.beats: dict[str, float] = {}
        self.consumer = Consumer(
            settings, self.intake.accept, self.stopping, self._beat("notifier-consumer")
        )
        outage = Outage(log, "notifier senders")
        self.senders = [
            Sender(
                self.store,
                mailer(settings),
                retry_policy(settings),
                batch=settings.notifier_batch,
                poll_seconds=settings.notifier_poll_seconds,
                lease_seconds=settings.notifier_sending_lease_seconds,
                stopping=self.stopping,
                wake=self.wake,
                beat=self._beat(f"notifier-sender-{n}"),
                outage=outage,
            )
            for n in range(settings.notifier_senders)
        ]
        # Every thread's key exists before any runs: the health probe copies the dict.
        self._gauge_beat = self._beat("notifier-gauge")
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        targets = [self.consumer.run, self._watch_backlog, *(s.run for s in self.senders)]
        names = ["consumer", "gauge", *(f"sender-{n}" for n in range(len(self.senders)))]
        self.threads = [
            threading.Thread(target=t, name=f"notifier-{name}", daemon=True)
            for t, name in zip(targets, names, strict=True)
        ]
        for thread in self.threads:
            thread.start()
        log.info("notifier started", extra={"queue": self.settings.notifier_queue,
                                            "senders": len(self.senders)})  # fmt: skip

    def stop(self) -> None:
        """Stop consuming, let each sender finish the e-mail it is sending, close."""
        self.stopping.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(self.settings.sendgrid_timeout_seconds + 5)
        self.store.close()
        log.info("notifier stopped")

    def _beat(self, name: str) -> Callable[..., None]:
        def beat(at: float | None = None) -> None:
            """`at`: a thread about to wait says when it will be back."""
            self.beats[name] = time.time() if at is None else at

        beat()  # a thread that never starts is stale from the beginning
        return beat

    def _watch_backlog(self) -> None:
        beat = self._gauge_beat
        while not self.stopping.is_set():
            beat()
            try:
                metrics.OLDEST_UNSENT.set(self.store.oldest_unsent_age(datetime.now(UTC)))
            except Exception:
                log.exception("could not read the oldest unsent notification")
            self.stopping.wait(GAUGE_SECONDS)


def run(
    settings: NotifierSettings,
    open_store: Callable[[NotifierSettings], NotificationStore],
    metrics_port: int | None = None,
    serve: Callable[[int, str, Notifier], object] | None = None,
) -> int:
    """Run the notifier on the store `open_store` gives until SIGTERM or SIGINT; returns the
    exit code. `serve(port, host, notifier)` serves its metrics and health endpoints (by
    default metrics only)."""
    if not settings.sendgrid_api_key.get_secret_value():
        log.error("ORDERCARE_SENDGRID_API_KEY is not set: refusing to start")
        return 1
    if not settings.notifier_templates:
        log.warning("ORDERCARE_NOTIFIER_TEMPLATES is empty: every e-mail is recorded as skipped")
    port = settings.notifier_metrics_port if metrics_port is None else metrics_port
    metrics.export_zeros()
    notifier = Notifier(settings, open_store(settings))
    if port:
        if serve is None:
            metrics.serve(port, settings.metrics_host)
        else:
            serve(port, settings.metrics_host, notifier)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping notifier", extra={"signal": signum})
        notifier.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    notifier.start()
    while not notifier.stopping.wait(1.0):
        pass
    notifier.stop()
    return 0
