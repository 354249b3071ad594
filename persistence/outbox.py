"""The relay's side of the outbox: claim a batch, delete what was published, defer the rest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Engine, Table, delete, func, make_url, select, update

from persistence.messages import OutboundMessage
from persistence.tables import OutboxRow

_outbox = cast(Table, OutboxRow.__table__)


@dataclass(slots=True)
class Claim:
    """Rows locked for this relay until the claim's transaction ends."""

    conn: Connection
    ids: list[int]
    messages: list[OutboundMessage]

    def published(self, ids: list[int]) -> None:
        if ids:
            self.conn.execute(delete(_outbox).where(_outbox.c.id.in_(ids)))

    def defer(self, ids: list[int], seconds: float) -> None:
        """Publish these again later, not on the next pass."""
        if ids:
            later = datetime.now(UTC) + timedelta(seconds=seconds)
            self.conn.execute(
                update(_outbox)
                .where(_outbox.c.id.in_(ids))
                .values(attempts=_outbox.c.attempts + 1, available_at=later)
            )


class OutboxStore:
    """Outbox access for relays. Several relays may run: SKIP LOCKED keeps their batches apart."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def claim(self, limit: int) -> Iterator[Claim]:
        stmt = (
            select(_outbox)
            .where(_outbox.c.available_at <= datetime.now(UTC))
            .order_by(_outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.engine.connect() as conn, conn.begin():
            rows = conn.execute(stmt).all()
            messages = [
                OutboundMessage(r.exchange, r.routing_key, r.message_id, r.body, r.properties)
                for r in rows
            ]
            yield Claim(conn, [r.id for r in rows], messages)

    def backlog(self) -> tuple[int, float]:
        """Rows waiting, and the age in seconds of the oldest."""
        with self.engine.connect() as conn:
            count, oldest = conn.execute(select(func.count(), func.min(_outbox.c.created_at))).one()
        if oldest is None:
            return 0, 0.0
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        return int(count), max((datetime.now(UTC) - oldest).total_seconds(), 0.0)


class OutboxSignal:
    """Waits for PostgreSQL's NOTIFY from the outbox trigger; a plain timeout elsewhere."""

    CHANNEL = "ordercare_outbox"

    def __init__(self, url: str) -> None:
        self._conn: Any = None
        target = make_url(url)
        self._dsn: str | None = None
        if target.get_backend_name() == "postgresql":
            self._dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)

    def wait(self, timeout: float) -> None:
        """Return on the next notification or after `timeout` seconds. A lost connection is
        made again on the next call; meanwhile this is a plain sleep."""
        if self._dsn is None:
            time.sleep(min(timeout, 0.05))
            return
        try:
            for _ in self._listening().notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error:
            self.close()
            time.sleep(timeout)

    def _listening(self) -> Any:
        if self._conn is None:
            assert self._dsn is not None
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {self.CHANNEL}")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
