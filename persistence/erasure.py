"""The Erasure port on PostgreSQL: find one customer's personal values wherever they are
stored beside the account and its orders, and replace them (billing_account.erase).

Each target table names the columns that can hold free text or documents, and which of its
rows are the customer's own (by account, order or subject). A row is rewritten when it is
the customer's own or when one of its columns contains a searched value (at least
SEARCHABLE_LENGTH characters): as the bytes of the value's UTF-8 and of its JSON escape in
bytea bodies, as text in text columns, and as jsonb prints it in documents. The replacing is
done here in Python, in the same transaction as the rest of the command, on rows it locked.

The content search reads the whole of each target table (the inbox for its idempotency
window, the audit log for ever): an erasure is a rare manager's command, and its cost grows
with those tables, not with the command traffic. Matching is exact and case-sensitive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from persistence.sql import Sql, jsonb
from services.accounts.scrub import SEARCHABLE_LENGTH, Scrub

Kind = Literal["bytea", "text", "jsonb"]


@dataclass(frozen=True, slots=True)
class _Target:
    table: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, Kind], ...]
    #: The customer's own rows, by the parameters account_id, orders and subjects.
    own: str | None = None


TARGETS: tuple[_Target, ...] = (
    _Target(
        "inbox",
        ("source", "message_id"),
        (("raw", "bytea"), ("outcome", "bytea")),
        "subject = ANY(%(subjects)s)",
    ),
    _Target("outbox", ("id",), (("body", "bytea"), ("properties", "jsonb"))),
    _Target("dead_letters", ("id",), (("body", "bytea"), ("detail", "text"))),
    _Target(
        "notifications",
        ("id",),
        (("data", "jsonb"), ("last_error", "text")),
        "account_id = %(account_id)s",
    ),
    _Target(
        "audit_log",
        ("id",),
        (("before", "jsonb"), ("after", "jsonb"), ("note", "text")),
        "(entity_type = 'billing_account' AND entity_id = %(account_id)s) "
        "OR (entity_type = 'order' AND entity_id = ANY(%(orders)s))",
    ),
    _Target(
        "appeasements",
        ("id",),
        (("note", "text"), ("decision_note", "text"), ("ticket", "text")),
        "account_id = %(account_id)s",
    ),
)


def _all_forms(value: str) -> tuple[bytes, bytes, bytes]:
    """The value as UTF-8, inside a JSON string as orjson writes it (UTF-8, quotes escaped),
    and inside one written with ASCII escapes (json.dumps, most other JSON libraries)."""
    return value.encode(), orjson.dumps(value)[1:-1], json.dumps(value)[1:-1].encode()


def _forms(value: str) -> list[bytes]:
    """The distinct byte strings a value can appear as in a stored body."""
    return list(dict.fromkeys(_all_forms(value)))


def _select(target: _Target, searched: Sequence[str]) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    found: list[str] = []
    for n, value in enumerate(searched):
        for column, kind in target.columns:
            if kind == "bytea":
                for m, form in enumerate(_forms(value)):
                    params[f"b{n}_{m}"] = form
                    found.append(f"position(%(b{n}_{m})s::bytea in {column}) > 0")
            elif kind == "text":
                params[f"t{n}"] = value
                found.append(f"strpos({column}, %(t{n})s) > 0")
            else:
                params[f"j{n}"] = orjson.dumps(value).decode()[1:-1]
                found.append(f"strpos({column}::text, %(j{n})s) > 0")
    where = [f"({target.own})"] if target.own else []
    where += found
    columns = ", ".join((*target.key, *(c for c, _ in target.columns)))
    sql = f"SELECT {columns} FROM {target.table} WHERE {' OR '.join(where)} FOR UPDATE"
    return sql, params


def _replaced(value: Any, kind: Kind, pairs: Sequence[tuple[str, str]]) -> Any:
    """The value with each personal value replaced. A value of SEARCHABLE_LENGTH characters
    or more is replaced wherever it occurs; a shorter one (a postal code, a city, a second
    address line) only where it is a whole string, so "1010" never touches "1010.00" or
    "SKU-1010", and "CA" never touches "CAD". Keys of documents are never replaced."""
    if value is None:
        return None
    long = [(old, new) for old, new in pairs if len(old) >= SEARCHABLE_LENGTH]
    short = {old: new for old, new in pairs if len(old) < SEARCHABLE_LENGTH}
    if kind == "bytea":
        body = bytes(value)
        for old, new in long:
            for old_form, new_form in zip(_all_forms(old), _all_forms(new), strict=True):
                body = body.replace(old_form, new_form)
        for old, new in short.items():
            for old_form, new_form in zip(_all_forms(old), _all_forms(new), strict=True):
                body = body.replace(b'"' + old_form + b'"', b'"' + new_form + b'"')
        return body
    if kind == "text":
        text: str = value
        if text in short:
            return short[text]
        for old, new in long:
            text = text.replace(old, new)
        return text
    return _in_document(value, long, short)


def _in_document(doc: Any, long: Sequence[tuple[str, str]], short: Mapping[str, str]) -> Any:
    if isinstance(doc, Mapping):
        return {k: _in_document(v, long, short) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_in_document(item, long, short) for item in doc]
    if isinstance(doc, str):
        if doc in short:
            return short[doc]
        for old, new in long:
            doc = doc.replace(old, new)
    return doc


class SqlErasure:
    """The Erasure port on one unit of work's connection."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def order_ids(self, account_id: str) -> list[str]:
        rows = self.sql.all(
            "SELECT id FROM orders WHERE account_id = %(id)s ORDER BY id", {"id": account_id}
        )
        return [r[0] for r in rows]

    def audit_values(self, account_id: str, order_ids: Sequence[str]) -> list[dict[str, Any]]:
        rows = self.sql.all(
            "SELECT before, after FROM audit_log WHERE (entity_type = 'billing_account' AND "
            "entity_id = %(account_id)s) OR (entity_type = 'order' AND entity_id = ANY(%(orders)s))",
            {"account_id": account_id, "orders": list(order_ids)},
        )
        return [doc for row in rows for doc in row if isinstance(doc, dict)]

    def scrub(self, scrub: Scrub) -> dict[str, int]:
        pairs = scrub.replacements
        changed: dict[str, int] = {}
        for target in TARGETS:
            if not target.own and not scrub.searched:
                continue
            select, params = _select(target, scrub.searched)
            params.update(
                account_id=scrub.account_id,
                orders=list(scrub.order_ids),
                subjects=[scrub.account_id, *scrub.order_ids],
            )
            count = 0
            width = len(target.key)
            for row in self.sql.all(select, params):
                key, values = row[:width], row[width:]
                new = [
                    _replaced(v, kind, pairs)
                    for v, (_c, kind) in zip(values, target.columns, strict=True)
                ]
                if new == [bytes(v) if isinstance(v, memoryview) else v for v in values]:
                    continue
                self.sql.run(_update(target), _update_params(target, key, new))
                count += 1
            if count:
                changed[target.table] = count
        return changed


def _update(target: _Target) -> str:
    sets = ", ".join(
        f"{column} = %(c{n})s::jsonb" if kind == "jsonb" else f"{column} = %(c{n})s"
        for n, (column, kind) in enumerate(target.columns)
    )
    where = " AND ".join(f"{k} = %(k{n})s" for n, k in enumerate(target.key))
    return f"UPDATE {target.table} SET {sets} WHERE {where}"


def _update_params(target: _Target, key: Sequence[Any], new: Sequence[Any]) -> dict[str, Any]:
    params: dict[str, Any] = {f"k{n}": k for n, k in enumerate(key)}
    for n, ((_column, kind), value) in enumerate(zip(target.columns, new, strict=True)):
        params[f"c{n}"] = jsonb(value) if kind == "jsonb" and value is not None else value
    return params
