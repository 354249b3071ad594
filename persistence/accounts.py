"""Billing accounts in SQL: the account with its version and cards, the helpdesk's search
and account view, and the audit trail.

Search matches each field in its normal form (services/accounts/search.py) through an
expression that migration 0004 indexes with a GIN trigram index (`SEARCH_EXPRESSIONS`,
declared with those indexes in persistence/tables.py): a query `expression LIKE '%q%'` is
answered from the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from persistence.documents import read_payment
from persistence.repositories import (
    REFUND_SELECT,
    SqlAccounts,
    credit_lines,
    money_of,
    refund_from_row,
)
from persistence.sql import Sql, jsonb
from persistence.tables import SEARCH_EXPRESSIONS
from services.accounts.model import Account, PaymentMethod
from services.accounts.records import (
    AccountCard,
    OrderSummary,
    SearchRow,
    SearchTerm,
    StoreCreditEntry,
)
from services.audit.model import AuditRecord
from services.ledger import CreditMemo, Invoice, LedgerView

_ACCOUNT = (
    "SELECT id, name, email, phone, billing_address, locale, status, version, "
    "notification_opt_outs, payment_methods FROM billing_accounts WHERE id = %(id)s"
)


class SqlBillingAccounts(SqlAccounts):
    """Billing accounts with their version, preferences and cards."""

    def get(self, account_id: str) -> Account | None:
        row = self.sql.one(_ACCOUNT, {"id": account_id})
        return _account(row) if row else None

    def get_for_update(self, account_id: str) -> Account | None:
        row = self.sql.one(f"{_ACCOUNT} FOR UPDATE", {"id": account_id})
        return _account(row) if row else None

    def save(self, account: Account) -> None:
        self.sql.run(
            "UPDATE billing_accounts SET name = %(name)s, email = %(email)s, phone = %(phone)s, "
            "billing_address = %(address)s::jsonb, locale = %(locale)s, status = %(status)s, "
            "version = %(version)s, notification_opt_outs = %(opt_outs)s::jsonb, "
            "payment_methods = %(cards)s::jsonb, updated_at = %(now)s WHERE id = %(id)s",
            {
                "id": account.account_id,
                "name": account.name,
                "email": account.email,
                "phone": account.phone,
                "address": None
                if account.billing_address is None
                else jsonb(account.billing_address),
                "locale": account.locale,
                "status": account.status,
                "version": account.version,
                "opt_outs": jsonb(account.notification_opt_outs),
                "cards": jsonb([m.as_dict() for m in account.payment_methods]),
                "now": datetime.now(UTC),
            },
        )


def _account(row: tuple[Any, ...]) -> Account:
    id_, name, email, phone, address, locale, status, version, opt_outs, cards = row
    return Account(
        id_,
        name,
        email,
        phone,
        address,
        locale,
        status,
        version=version,
        notification_opt_outs=list(opt_outs or []),
        payment_methods=[PaymentMethod(**m) for m in cards or []],
    )


class SqlAccountViews:
    """The helpdesk's reads: search, the account's orders with their documents, store credit."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    # --- search -----------------------------------------------------------------------

    def search(
        self, terms: Sequence[SearchTerm], limit: int, candidates: int
    ) -> tuple[list[SearchRow], bool]:
        if not terms:
            return [], False
        statement, params = self.statement(terms, limit, candidates)
        # Plan each search for its own pattern, never generically.
        self.sql.run("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = self.sql.all(statement, params)
        found = [SearchRow(a, f, int(t), float(s), o) for a, f, t, s, o, _ in rows]
        return found, any(int(n) >= candidates for *_, n in rows)

    def statement(
        self, terms: Sequence[SearchTerm], limit: int, candidates: int
    ) -> tuple[str, dict[str, Any]]:
        """The one statement a search runs, and its parameters (EXPLAIN it to see the plan)."""
        params: dict[str, Any] = {"k": limit, "cap": candidates}
        ctes, parts = [], []
        for n, term in enumerate(terms):
            cte, ranked = self._matches(term, n)
            ctes.append(cte)
            parts.append(f"SELECT * FROM ({ranked}) AS t{n}")
            value = _like(term.value)
            params.update({f"v{n}": term.value, f"e{n}": value, f"p{n}": value + "%"})
            params[f"c{n}"] = "%" + value + "%"
        return f"WITH {', '.join(ctes)} " + " UNION ALL ".join(parts), params

    def _matches(self, term: SearchTerm, n: int) -> tuple[str, str]:
        """The best `k` accounts whose field contains the term, each once: the first `cap`
        exact matches and prefixes (B-tree: cheap) and, only when they are fewer than `k`,
        the first `cap` values containing it that the trigram index finds, ranked together
        (`found`: how many were ranked)."""
        table, expr = SEARCH_EXPRESSIONS[term.field]
        key = (
            "account_id, id AS order_id"
            if table == "orders"
            else "id AS account_id, CAST(NULL AS TEXT) AS order_id"
        )

        def first(pattern: str) -> str:  # the first `cap` rows the index finds
            return (
                f"SELECT * FROM (SELECT {key}, {expr} AS v FROM {table} WHERE {expr} LIKE "
                f"%({pattern}{n})s ESCAPE '\\' LIMIT %(cap)s) AS {pattern}{n}"
            )

        # PostgreSQL skips the partial scan (a one-time filter) when the page is full without it.
        fewer = f"(SELECT count(*) FROM s{n}) < %(k)s"
        found = f"SELECT * FROM s{n} UNION {first('c')} WHERE {fewer}"
        tier = f"CASE WHEN v = %(v{n})s THEN 2 WHEN v LIKE %(p{n})s ESCAPE '\\' THEN 1 ELSE 0 END"
        score = f"similarity(v, %(v{n})s)"
        ranked = (
            f"SELECT account_id, order_id, {tier} AS tier, {score} AS score, "
            f"count(*) OVER () AS found FROM ({found}) AS m{n}"
        )
        field = f"'{term.field}' AS field"
        if table == "orders":  # an account once, however many of its orders match
            best = (
                f"SELECT account_id, {field}, max(tier), max(score), min(order_id), max(found) "
                f"FROM ({ranked}) AS r{n} GROUP BY account_id"
            )
        else:
            best = (
                f"SELECT account_id, {field}, tier, score, order_id, found FROM ({ranked}) AS r{n}"
            )
        starts = f"s{n} AS ({first('e')} UNION {first('p')})"
        return starts, f"{best} ORDER BY 3 DESC, 4 DESC, 1 LIMIT %(k)s"

    def cards(self, account_ids: Sequence[str]) -> dict[str, AccountCard]:
        if not account_ids:
            return {}
        rows = self.sql.all(
            "SELECT id, name, email, phone, status, billing_address FROM billing_accounts "
            "WHERE id = ANY(%(ids)s)",
            {"ids": list(account_ids)},
        )
        cards = {}
        for id_, name, email, phone, status, raw in rows:
            address = raw or {}
            postal, country = address.get("postal_code"), address.get("country")
            cards[id_] = AccountCard(id_, name, email, phone, status, postal, country)
        return cards

    # --- the account's documents -------------------------------------------------------

    def orders(self, account_id: str, limit: int) -> tuple[list[OrderSummary], int]:
        key = {"id": account_id, "limit": limit}
        rows = self.sql.all(
            "SELECT id, status, version, currency, total, doc -> 'v', doc -> 'payment', created_at, "
            "updated_at "
            "FROM orders WHERE account_id = %(id)s ORDER BY created_at DESC, id DESC "
            "LIMIT %(limit)s",
            key,
        )
        counted = self.sql.one("SELECT count(*) FROM orders WHERE account_id = %(id)s", key)
        return [_order(row) for row in rows], int(counted[0]) if counted else 0

    def ledgers(self, order_ids: Sequence[str]) -> dict[str, LedgerView]:
        if not order_ids:
            return {}
        key = {"ids": list(order_ids)}
        where = "WHERE order_id = ANY(%(ids)s)"
        invoices = self.sql.all(
            f"SELECT id, order_id, currency, net, tax, issued_at FROM invoices {where} "
            "ORDER BY issued_at, id",
            key,
        )
        memos = self.sql.all(
            "SELECT id, order_id, invoice_id, currency, lines, settle_to, issued_at "
            f"FROM credit_memos {where} ORDER BY issued_at, id",
            key,
        )
        refunds = self.sql.all(f"{REFUND_SELECT} {where} ORDER BY requested_at, id", key)
        found: dict[str, dict[str, list[Any]]] = {
            o: {"invoices": [], "memos": [], "refunds": []} for o in order_ids
        }
        for i, o, c, n, t, at in invoices:
            found[o]["invoices"].append(Invoice(i, o, c, money_of(n, c), money_of(t, c), at))
        for i, o, inv, c, lines, settle_to, at in memos:
            memo = CreditMemo(i, o, inv, c, credit_lines(i, lines), settle_to, at)
            found[o]["memos"].append(memo)
        for row in refunds:
            found[row[1]]["refunds"].append(refund_from_row(row))
        return {
            o: LedgerView(tuple(d["invoices"]), tuple(d["memos"]), tuple(d["refunds"]))
            for o, d in found.items()
        }

    def store_credit(
        self, account_id: str, limit: int
    ) -> tuple[dict[str, Decimal], list[StoreCreditEntry]]:
        key = {"id": account_id, "limit": limit}
        sums = self.sql.all(
            "SELECT currency, sum(amount) FROM store_credit_entries WHERE account_id = %(id)s "
            "GROUP BY currency",
            key,
        )
        balances: dict[str, Decimal] = dict(sums)
        rows = self.sql.all(
            "SELECT id, currency, amount, reason, reference, created_at FROM store_credit_entries "
            "WHERE account_id = %(id)s ORDER BY id DESC LIMIT %(limit)s",
            key,
        )
        entries = [StoreCreditEntry(i, c, a, r, ref, at) for i, c, a, r, ref, at in rows]
        return balances, entries


def _order(row: tuple[Any, ...]) -> OrderSummary:
    id_, status, version, currency, total, v, payment, created_at, updated_at = row
    facts = read_payment(v, payment, f"order {id_}")
    return OrderSummary(id_, status, version, currency, total, facts, created_at, updated_at)


def _like(value: str) -> str:
    """A value as a LIKE pattern matching itself (ESCAPE '\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlAuditTrail:
    """The audit log, read newest first by its (entity_type, entity_id, id) index."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def entries(
        self, entity_type: str, entity_id: str, before: int | None, limit: int
    ) -> list[AuditRecord]:
        older = "AND id < %(before)s " if before is not None else ""
        rows = self.sql.all(
            "SELECT id, entity_type, entity_id, action, actor_id, actor_role, source, reason, "
            "note, before, after, command_id, correlation_id, at FROM audit_log "
            f"WHERE entity_type = %(type)s AND entity_id = %(id)s {older}"
            "ORDER BY id DESC LIMIT %(limit)s",
            {"type": entity_type, "id": entity_id, "before": before, "limit": limit},
        )
        return [_audit(row) for row in rows]


def _audit(row: tuple[Any, ...]) -> AuditRecord:
    id_, etype, eid, action, actor_id, role, source, reason, note, before, after, cmd, corr, at = (
        row
    )
    return AuditRecord(
        int(id_),
        etype,
        eid,
        action,
        actor_id,
        role,
        source,
        reason,
        note,
        before,
        after,
        cmd,
        corr,
        at,
    )
