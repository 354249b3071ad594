"""A broker outage is one line when it starts and one when it ends, per process."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from actors.logs import Outage, ReconnectNoise


def test_an_outage_logs_its_start_once_and_its_end_with_the_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = Outage(logging.getLogger("ordercare.test"), "broker")
    outage.recovered()  # nothing was wrong: nothing to say
    for queue in ("ordercare.commands", "ordercare.commands.DQ", "ordercare.warehouse"):
        outage.failed(f"127.0.0.1:5672 (lost by {queue})")
    outage.recovered()
    outage.recovered()

    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 2
    assert lines[0] == ("ERROR", "broker unreachable: 127.0.0.1:5672 (lost by ordercare.commands); "
                                 "retrying until it is back")  # fmt: skip
    assert lines[1][0] == "WARNING" and lines[1][1].startswith("broker reachable again after ")
    assert "outage_s" in vars(caplog.records[1])


def record(
    name: str, msg: str, level: int = logging.ERROR, func: str | None = None
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None, func)


def test_the_per_attempt_reconnect_lines_are_dropped_and_nothing_else() -> None:
    noise = ReconnectNoise()
    dropped = [
        record("pika.adapters.utils.connection_workflow", "TCP Connection attempt failed"),
        record("pika.adapters.blocking_connection", "Error in _create_connection().",
               func="_create_connection"),
        record("pika.adapters.utils.io_services_utils", "Socket failed to connect"),
        record("dramatiq.worker.ConsumerThread(ordercare.commands)",
               "Consumer encountered a connection error: AMQPConnectionError", logging.CRITICAL),
        record("dramatiq.worker.ConsumerThread(ordercare.payments.DQ)",
               "Restarting consumer in 3.00 seconds.", logging.INFO),
    ]  # fmt: skip
    kept = [
        record("dramatiq.worker.ConsumerThread(ordercare.commands)",
               "Consumer encountered an unexpected error.", logging.CRITICAL),
        record("pika.channel", "something else"),
        # A publish the broker returned or nacked is no outage: it stays.
        record("pika.adapters.blocking_connection", "Message was Nack'ed by broker: nack=1",
               logging.WARNING, func="basic_publish"),
        record("pika.adapters.blocking_connection", "Published message was returned",
               logging.WARNING, func="_on_puback_message_returned"),
        record("ordercare.worker", "broker unreachable: 127.0.0.1:5672"),
    ]  # fmt: skip
    outage = record("dramatiq.worker.WorkerThread", "Failed to process message x")
    outage.exc_info = (OperationalError, OperationalError("SELECT 1", {}, Exception("down")), None)
    dropped.append(outage)
    bug = record("dramatiq.worker.WorkerThread", "Failed to process message y")
    bug.exc_info = (KeyError, KeyError("line_id"), None)
    kept.append(bug)
    assert [noise.filter(r) for r in dropped] == [False] * len(dropped)
    assert [noise.filter(r) for r in kept] == [True] * len(kept)
