"""Which errors are worth retrying: infrastructure always, anything else a few times."""

from __future__ import annotations

from collections.abc import Callable

import pika.exceptions
from dramatiq.errors import BrokerConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from actors import metrics


def is_infrastructure(exc: BaseException) -> bool:
    """Database or broker unreachable, a lost connection, a deadlock or serialisation failure."""
    if isinstance(exc, OperationalError | InterfaceError | BrokerConnectionError | PoolTimeout):
        return True
    if isinstance(exc, ProgrammingError) and "UndefinedTable" in type(exc.orig).__name__:
        return True  # a worker started before `ordercare db upgrade`: wait for it
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, pika.exceptions.AMQPError | ConnectionError | TimeoutError)


def retry_policy(max_retries: int) -> Callable[[int, BaseException], bool]:
    """Dramatiq's `retry_when`: infrastructure errors retry without bound, others `max_retries` times."""

    def retry_when(retries: int, exc: BaseException) -> bool:
        if is_infrastructure(exc):
            metrics.RETRIES.labels("infrastructure").inc()
            return True
        if retries < max_retries:
            metrics.RETRIES.labels("unexpected").inc()
            return True
        return False

    return retry_when
