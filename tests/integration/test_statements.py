"""Every hand-written statement runs on the migrated schema.

The hot path's statements are raw driver SQL (persistence/sql.py), which no ORM checks
against the tables. This test finds every place in persistence/ that hands a statement to
`Sql` (by reading the source), then runs the demo's whole care story in process on a
database the migrations built, plus the few reads and writes the story does not make, and
fails naming any such place that never ran. So a misspelt column or table, a wrong cast or a
statement a migration broke fails here, and a new statement with no test that runs it does
too. (The notifier's store builds its statements from persistence/tables.py, which
tests/integration/test_schema.py holds to the migrations.)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import persistence
from actors.demo import EmbeddedBus, tell_story
from actors.demo_story import DEMO_MARKET
from actors.embedded import EmbeddedOrderCare
from actors.settings import Settings
from persistence.journal import Inbox
from persistence.operations import Operations
from persistence.outbox import OutboundMessage, OutboxStore
from persistence.repositories import ReferenceCache
from persistence.retention import RetentionWindows, prune
from persistence.sql import Sql
from persistence.uow import SqlUnitOfWork
from services.accounts.records import SearchTerm
from services.accounts.scrub import Scrub

PERSISTENCE = Path(persistence.__file__).parent
STATEMENT_METHODS = {"one", "all", "run", "insert"}

Site = tuple[str, int]


def statement_sites() -> set[Site]:
    """(file, line) of every call handing a statement to Sql: `self.sql.all(…)`, `sql.run(…)`,
    `Sql(conn).one(…)`."""
    sites = set()
    for path in sorted(PERSISTENCE.glob("*.py")):
        if path.name == "sql.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in STATEMENT_METHODS
            ):
                continue
            receiver = ast.unparse(node.func.value)
            if receiver in {"self.sql", "sql"} or receiver.startswith("Sql("):
                sites.add((path.name, node.lineno))
    return sites


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> set[Site]:
    """Where each statement run from here on was handed to Sql, by file and line."""
    sites: set[Site] = set()
    cursor = Sql._cursor

    def recorded(self: Sql, sql: str, params: dict[str, Any] | None) -> Any:
        frame = sys._getframe(1)
        while Path(frame.f_code.co_filename) == PERSISTENCE / "sql.py":
            frame = frame.f_back  # type: ignore[assignment]
        if Path(frame.f_code.co_filename).parent == PERSISTENCE:
            sites.add((Path(frame.f_code.co_filename).name, frame.f_lineno))
        return cursor(self, sql, params)

    monkeypatch.setattr(Sql, "_cursor", recorded)
    return sites


@pytest.fixture
def care(database_url: str) -> Iterator[EmbeddedOrderCare]:
    care = EmbeddedOrderCare(Settings(), database_url)
    care.include_tax(frozenset({DEMO_MARKET}))  # the story's shop prices EUR tax-included
    yield care
    care.close()


def test_the_source_is_read_right() -> None:
    sites = statement_sites()
    assert len(sites) > 40
    assert ("journal.py", _line_of("journal.py", "self.sql.one(_journal(")) in sites


def test_every_statement_persistence_writes_runs_on_the_migrated_schema(
    care: EmbeddedOrderCare, ran: set[Site], capsys: pytest.CaptureFixture[str]
) -> None:
    assert tell_story(EmbeddedBus(care)) == 0, capsys.readouterr().out
    _the_rest(care)

    assert sorted(statement_sites() - ran) == []


def _the_rest(care: EmbeddedOrderCare) -> None:
    """The reads and writes the story does not make: the helpdesk's account screens, an
    account update, store credit entries, a bare inbox record, the relay's deferral and
    backlog, direct publishing's delete, an erasure's search and replace, and a prune of everything."""
    now = datetime.now(UTC)
    with SqlUnitOfWork(care.engine, ReferenceCache()) as uow:
        account_id, order_id = uow.conn.exec_driver_sql(
            "SELECT account_id, id FROM orders ORDER BY created_at LIMIT 1"
        ).one()
        account = uow.accounts.get_for_update(account_id)
        assert account is not None
        uow.accounts.save(account)
        views = uow.account_views
        for field in ("name", "email", "phone", "postal_code", "order_id"):
            views.search([SearchTerm(field, "ada")], limit=5, candidates=50)
        assert views.cards([account_id])
        assert views.orders(account_id, limit=5)[1] >= 1
        ledger = views.ledgers([order_id])[order_id]
        assert ledger.invoices and ledger.refunds
        uow.ledger.add_store_credit(account_id, ledger.refunds[0], "cmd-statements")
        views.store_credit(account_id, limit=5)
        assert uow.audit_trail.entries("order", order_id, before=None, limit=5)
        found, total = uow.appeasements.for_account(account_id, limit=1)
        assert len(found) == 1 and total >= 1
        uow.appeasements.add_store_credit(
            account_id, "EUR", Decimal("1.00"), "apz_statements", now, "cmd-statements"
        )
        assert Inbox(Sql(uow.conn)).record(
            "statements", "cmd-1", type="order.get", subject=None,
            outcome_type="command.accepted", outcome=b"{}", at=now,
        )  # fmt: skip
        uow.outbox.add([OutboundMessage("", "a-queue", "msg-statements", b"{}", {})], now)
        uow.commit()
    store = OutboxStore(care.engine)
    with store.claim(10) as claim:
        claim.defer(claim.ids, 0)
    store.backlog()
    store.delete(claim.ids)  # direct publishing's batched delete
    _operator_commands(care)  # before the prune below removes what they read
    with SqlUnitOfWork(care.engine, ReferenceCache()) as uow:
        orders = uow.erasure.order_ids(account_id)
        assert uow.erasure.audit_values(account_id, orders)
        scrub = Scrub(account_id, tuple(orders), (("Ada Lovelace", "erased"),), ("Ada Lovelace",))
        assert uow.erasure.scrub(scrub)
        uow.commit()
    windows = RetentionWindows(audit_days=1)
    for dry_run in (True, False):
        prune(care.engine, windows, now + timedelta(days=400), batch=10, dry_run=dry_run)


def _operator_commands(care: EmbeddedOrderCare) -> None:
    """What `ordercare dead-letters|outbox|inbox` read and delete (the story leaves dead
    letters and inbox rows behind)."""
    now = datetime.now(UTC)
    with care.engine.connect() as conn, conn.begin():
        ops = Operations(Sql(conn))
        [newest] = ops.dead_letters(reason=None, limit=1)
        assert ops.dead_letter(newest.id) is not None
        assert newest.id in ops.dead_letter_ids(newest.reason)
        ops.remove_dead_letter(newest.id)
        ops.purge_dead_letters(now)
        ops.outbox_backlog(now)
        assert ops.inbox("cmd-1", "statements")
        ops.set_market("USD", False, now)
        assert ops.markets() == {DEMO_MARKET: True, "USD": False}


def _line_of(name: str, text: str) -> int:
    lines = (PERSISTENCE / name).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)
