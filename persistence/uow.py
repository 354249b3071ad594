"""The SQL unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

from types import TracebackType
from typing import Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from persistence.accounts import SqlAccountViews, SqlAuditTrail, SqlBillingAccounts
from persistence.appeasements import SqlAppeasements
from persistence.erasure import SqlErasure
from persistence.journal import DeadLetters, Inbox, Journal
from persistence.outbox import Outbox
from persistence.repositories import (
    ReferenceCache,
    SqlCatalog,
    SqlDeadlines,
    SqlLedger,
    SqlOrders,
    SqlReference,
)
from persistence.sql import Sql


class SqlUnitOfWork:
    """`with SqlUnitOfWork(engine, cache) as uow: …; uow.commit()` — rolls back unless committed."""

    def __init__(self, engine: Engine, reference: ReferenceCache) -> None:
        self._engine = engine
        self._reference = reference

    def __enter__(self) -> SqlUnitOfWork:
        self.conn: Connection = self._engine.connect()
        self.conn.begin()
        self._bind(self.conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
        except DBAPIError:
            if exc is None:
                raise
            # The error already on its way out says what went wrong (a lost connection makes
            # the rollback fail too); the pool has invalidated the connection either way.
        finally:
            self.conn.close()

    def commit(self) -> None:
        self.conn.commit()

    def restart(self) -> None:
        """Roll back everything so far and begin a fresh transaction on the same connection."""
        self.conn.rollback()
        self.conn.begin()

    def _bind(self, conn: Connection) -> None:
        sql = Sql(conn)
        self.catalog = SqlCatalog(sql)
        self.accounts = SqlBillingAccounts(sql)
        self.account_views = SqlAccountViews(sql)
        self.audit_trail = SqlAuditTrail(sql)
        self.orders = SqlOrders(sql)
        self.reference = SqlReference(sql, self._reference)
        self.ledger = SqlLedger(sql)
        self.deadlines = SqlDeadlines(sql)
        self.appeasements = SqlAppeasements(sql)
        self.erasure = SqlErasure(sql)
        self.inbox = Inbox(sql)
        self.outbox = Outbox(sql)
        self.dead_letters = DeadLetters(sql)
        self.journal = Journal(sql)
        self._sql = sql

    def version_of(self, entity: Literal["order", "billing_account"], entity_id: str) -> int | None:
        """The stored version of an order or billing account (None: not there)."""
        row = self._sql.one(_VERSION_OF[entity], {"id": entity_id})
        return int(row[0]) if row else None


_VERSION_OF = {
    "order": "SELECT version FROM orders WHERE id = %(id)s",
    "billing_account": "SELECT version FROM billing_accounts WHERE id = %(id)s",
}
