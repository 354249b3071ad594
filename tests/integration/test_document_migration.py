"""Migration 0007 on the real PostgreSQL: rows every earlier release wrote become keyed
version 2 documents that read back as the same orders, and the downgrade puts back what
the last positional release reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import psycopg
import pytest
from alembic import command

from persistence.database import alembic_config
from persistence.documents import CURRENT, order_as_v1
from persistence.engine import make_engine
from persistence.mapping import order_to_doc
from persistence.repositories import ReferenceCache
from persistence.uow import SqlUnitOfWork
from services.accounts.model import Account
from tests import servers
from tests.unit.test_documents import EXPECTED, MEMO_LINES, fixture

#: More orders than one batch of the migration holds, so that it pages.
COPIES = 1_100


@pytest.fixture
def at_0006() -> Iterator[str]:
    """A database migrated to 0006 only: the schema the last positional release ran on."""
    name = f"oc_mig_{uuid.uuid4().hex[:10]}"
    servers.admin(f'CREATE DATABASE "{name}"')
    url = servers.sqlalchemy_url(name)
    try:
        command.upgrade(alembic_config(url), "0006")
        yield url
    finally:
        servers.drop_database(name)


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def insert_legacy_rows(url: str) -> None:
    """Orders as each release left them, plus copies, and a credit memo of version 1."""
    with psycopg.connect(plain(url)) as conn:
        conn.execute(
            "INSERT INTO billing_accounts (id, name, locale, status, created_at, updated_at) "
            "VALUES ('acc_ada', 'Ada Lovelace', 'en', 'active', now(), now())"
        )
        rows: list[tuple[Any, ...]] = []
        for name in EXPECTED:
            f = fixture(name)
            r = f["row"]
            rows.append((r["id"], f["doc"], r))
        legacy = fixture("v1_a367a7e.json")
        rows += [(f"ord_copy_{n:05d}", legacy["doc"], legacy["row"]) for n in range(COPIES)]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO orders (id, account_id, status, currency, version, total, doc, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 0, %s::jsonb, %s, %s)",
                [
                    (i, r["account_id"], r["status"], r["currency"], r["version"],
                     orjson.dumps(doc).decode(), r["created_at"], r["updated_at"])
                    for i, doc, r in rows
                ],
            )  # fmt: skip
        conn.execute(
            "INSERT INTO invoices (id, order_id, currency, net, tax, total, issued_at, command_id) "
            "VALUES ('inv_1', 'ord_a367a7e', 'EUR', 50, 11, 61, now(), 'c1')"
        )
        conn.execute(
            "INSERT INTO credit_memos (id, order_id, invoice_id, currency, net, tax, total, lines, "
            "settle_to, issued_at, command_id) VALUES ('cm_1', 'ord_a367a7e', 'inv_1', 'EUR', "
            "39.02, 7.41, 46.43, %s::jsonb, 'original_payment', now(), 'c1')",
            (orjson.dumps(fixture("credit_memo_lines.json")["v1"]).decode(),),
        )


def stored(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(plain(url)) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type,unused-ignore]


def test_0007_rewrites_every_legacy_row_keyed_and_the_orders_read_back_the_same(
    at_0006: str,
) -> None:
    insert_legacy_rows(at_0006)
    before = dict(stored(at_0006, "SELECT id, updated_at FROM orders"))

    command.upgrade(alembic_config(at_0006), "0007")

    docs = dict(stored(at_0006, "SELECT id, doc FROM orders"))
    assert len(docs) == len(EXPECTED) + COPIES
    assert {doc.get("v") for doc in docs.values()} == {2, CURRENT}
    for name, expected in EXPECTED.items():
        if name.startswith("v1"):  # positional: rewritten keyed
            assert docs[expected.order_id] == order_to_doc(expected), name
        else:  # already keyed, of any version: left as it is
            assert docs[expected.order_id] == fixture(name)["doc"], name
    copy = EXPECTED["v1_a367a7e.json"]
    assert docs["ord_copy_01099"]["lines"] == order_to_doc(copy)["lines"]
    # Only the representation changed: not the order's version, not when it last changed.
    assert dict(stored(at_0006, "SELECT id, updated_at FROM orders")) == before

    # 0009: every order placed before markets existed was priced tax-exclusive, and stays so.
    command.upgrade(alembic_config(at_0006), "head")
    assert stored(at_0006, "SELECT DISTINCT tax_included FROM orders") == [(False,)]
    assert stored(at_0006, "SELECT count(*) FROM markets") == [(0,)]
    assert stored(at_0006, "SELECT DISTINCT lines FROM invoices") == [(None,)]

    engine = make_engine(at_0006, pool_size=1)
    try:
        with SqlUnitOfWork(engine, ReferenceCache()) as u:
            for expected in EXPECTED.values():
                assert u.orders.get(expected.order_id) == expected
            [memo] = u.ledger.for_order("ord_a367a7e").credit_memos
            summaries, _ = u.account_views.orders("acc_ada", 2 * COPIES)
    finally:
        engine.dispose()
    assert memo.lines == MEMO_LINES
    payments = {s.order_id: s.payment for s in summaries}
    assert len(payments) == len(EXPECTED) + COPIES
    assert all(payments[o.order_id] == o.payment for o in EXPECTED.values())
    [(lines,)] = stored(at_0006, "SELECT lines FROM credit_memos")
    assert lines == fixture("credit_memo_lines.json")["v2"]


def test_an_order_saved_after_0007_reads_and_a_legacy_row_written_late_still_reads(
    at_0006: str,
) -> None:
    """A worker of the previous release may write a positional row after the migration ran
    (a rolling deploy): the reader takes it, and the next save writes it keyed."""
    command.upgrade(alembic_config(at_0006), "head")
    engine = make_engine(at_0006, pool_size=1)
    try:
        with SqlUnitOfWork(engine, ReferenceCache()) as u:
            u.accounts.add(Account("acc_ada", "Ada Lovelace"))
            u.commit()
        late = fixture("v1_a367a7e.json")
        r = late["row"]
        with psycopg.connect(plain(at_0006)) as conn:
            conn.execute(
                "INSERT INTO orders (id, account_id, status, currency, version, total, doc, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 0, %s::jsonb, %s, %s)",
                (r["id"], r["account_id"], r["status"], r["currency"], r["version"],
                 orjson.dumps(late["doc"]).decode(), r["created_at"], r["updated_at"]),
            )  # fmt: skip
        with SqlUnitOfWork(engine, ReferenceCache()) as u:
            [summary], _ = u.account_views.orders("acc_ada", 10)
            assert summary.payment == EXPECTED["v1_a367a7e.json"].payment
            order = u.orders.get_for_update("ord_a367a7e")
            assert order == EXPECTED["v1_a367a7e.json"]
            order.payment.refunded += Decimal("1.00")
            u.orders.save(order)
            u.commit()
        [(doc,)] = stored(at_0006, "SELECT doc FROM orders WHERE id = 'ord_a367a7e'")
        assert doc["v"] == CURRENT and doc["payment"]["refunded"] == "13.30"
    finally:
        engine.dispose()


def test_the_downgrade_writes_back_what_the_last_positional_release_reads(at_0006: str) -> None:
    insert_legacy_rows(at_0006)
    command.upgrade(alembic_config(at_0006), "0007")

    command.downgrade(alembic_config(at_0006), "0006")

    docs = dict(stored(at_0006, "SELECT id, doc FROM orders"))
    assert "v" not in docs["ord_485ebee"]
    assert docs["ord_a367a7e"] == fixture("v1_a367a7e.json")["doc"]
    for name, expected in EXPECTED.items():
        assert docs[expected.order_id] == order_as_v1(order_to_doc(expected), name)
        assert all(len(line) == 17 for line in docs[expected.order_id]["lines"])
    [(lines,)] = stored(at_0006, "SELECT lines FROM credit_memos")
    assert lines == fixture("credit_memo_lines.json")["v1"]

    command.upgrade(alembic_config(at_0006), "0007")  # and forward again
    docs = dict(stored(at_0006, "SELECT id, doc FROM orders"))
    for expected in EXPECTED.values():
        # Version 1 keeps no `told` (what the customer was last told): the round trip forgets it.
        forgotten = {k: v for k, v in order_to_doc(expected).items() if k != "told"}
        assert docs[expected.order_id] == forgotten


def test_0007_stops_at_a_row_it_cannot_read_naming_it(at_0006: str) -> None:
    insert_legacy_rows(at_0006)
    with psycopg.connect(plain(at_0006)) as conn:
        conn.execute(
            "UPDATE orders SET doc = jsonb_set(doc, '{lines,0}', doc -> 'lines' -> 0 || '[0]') "
            "WHERE id = 'ord_25dd115'"
        )
    before = dict(stored(at_0006, "SELECT id, doc FROM orders"))

    with pytest.raises(Exception, match=r"order ord_25dd115: lines\[0\]: an array of 14 fields"):
        command.upgrade(alembic_config(at_0006), "0007")

    # one transaction: nothing was rewritten, the database is still at 0006
    assert dict(stored(at_0006, "SELECT id, doc FROM orders")) == before
    assert stored(at_0006, "SELECT version_num FROM alembic_version") == [("0006",)]


def saved_at_head(url: str, order: Any) -> None:
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url, pool_size=1)
    try:
        with SqlUnitOfWork(engine, ReferenceCache()) as u:
            u.accounts.add(Account("acc_ada", "Ada Lovelace"))
            assert u.orders.add(order)
            u.commit()
    finally:
        engine.dispose()


def test_the_0009_downgrade_writes_documents_release_0008_reads(at_0006: str) -> None:
    told = EXPECTED["v3_told.json"]
    assert told.told is not None
    saved_at_head(at_0006, told)
    [(doc,)] = stored(at_0006, "SELECT doc FROM orders")
    assert doc["v"] == 3 and "told" in doc

    command.downgrade(alembic_config(at_0006), "0008")

    [(doc,)] = stored(at_0006, "SELECT doc FROM orders")
    assert doc == {**{k: v for k, v in order_to_doc(told).items() if k != "told"}, "v": 2}


def test_the_0009_downgrade_refuses_while_an_order_is_priced_tax_included(at_0006: str) -> None:
    order = EXPECTED["v3_told.json"]
    order.tax_included = True
    try:
        saved_at_head(at_0006, order)
    finally:
        order.tax_included = False
    heads = stored(at_0006, "SELECT version_num FROM alembic_version")

    with pytest.raises(RuntimeError, match=r"cannot downgrade below 0009: 1 order\(s\) priced"):
        command.downgrade(alembic_config(at_0006), "0008")

    assert stored(at_0006, "SELECT version_num FROM alembic_version") == heads
    [(doc, included)] = stored(at_0006, "SELECT doc, tax_included FROM orders")
    assert doc["v"] == 3 and included is True
