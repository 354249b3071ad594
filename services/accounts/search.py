"""Billing-account search: which fields a query is matched on, how matches rank, what a
result shows.

Each field is searched in a normal form, the same in storage (an indexed expression) and
in the query: names and e-mails lower-cased, phones as their digits, postal codes
upper-cased without spaces or dashes, order ids lower-cased. A value matches when it
contains the query; exact matches rank first, then prefixes, then the rest, each by
trigram similarity (at most CANDIDATES of each tier per field are ranked). Without
`field`, a query is matched on every field it could be: a name when it has letters and no
digit, an e-mail when it has no space, a phone when it is made of phone characters, a
postal code or an order id only when it has a digit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from contracts.accounts import AccountSearchHit, SearchField
from services.accounts.records import EXACT, PARTIAL, PREFIX, AccountCard, SearchRow, SearchTerm
from services.errors import Invalid

#: The shortest normalised query: trigram indexes need three characters.
MIN_LENGTH = 3
#: The most exact, prefix and partial matches of one field that are ranked: a query that
#: matches more (a common name fragment, four digits of a phone) is answered from the first
#: found, quickly, and flagged `truncated` so the agent refines it.
CANDIDATES = 250
FIELDS: tuple[SearchField, ...] = ("name", "email", "phone", "postal_code", "order_id")
_MATCH: dict[int, Literal["exact", "prefix", "partial"]] = {
    EXACT: "exact",
    PREFIX: "prefix",
    PARTIAL: "partial",
}
#: The longest postal code, normalised (a US ZIP+4 has nine characters).
MAX_POSTAL_CODE = 9
_PHONE_LIKE = re.compile(r"^\+?[0-9 ()./-]+$")


def normalise(field: SearchField, value: str) -> str:
    """`value` in the form `field` is searched in."""
    if field == "phone":
        return re.sub(r"[^0-9]+", "", value)
    if field == "postal_code":
        return re.sub(r"[^0-9A-Z]+", "", value.upper())
    return value.strip().lower()


def plan(q: str, field: SearchField | None) -> list[SearchTerm]:
    """The fields to search and the normalised query for each."""
    if field is not None:
        value = normalise(field, q)
        if len(value) < MIN_LENGTH:
            what = "digits" if field == "phone" else "letters or digits"
            raise Invalid(f"a {field} search needs at least {MIN_LENGTH} {what}", field="data.q")
        return [SearchTerm(field, value)]
    return [
        SearchTerm(f, value)
        for f in FIELDS
        if _plausible(f, q) and len(value := normalise(f, q)) >= MIN_LENGTH
    ]


def _plausible(field: SearchField, q: str) -> bool:
    has_digit = any(c.isdigit() for c in q)
    if field == "name":
        return any(c.isalpha() for c in q) and not has_digit
    if field == "email":
        return not any(c.isspace() for c in q.strip())
    if field == "phone":
        return _PHONE_LIKE.match(q.strip()) is not None
    if field == "postal_code":
        return has_digit and len(normalise(field, q)) <= MAX_POSTAL_CODE
    return has_digit


def tier_of(term: str, value: str) -> int | None:
    """How a normalised stored value matches a normalised query: EXACT, PREFIX, PARTIAL
    (contains), or None."""
    if term not in value:
        return None
    return EXACT if value == term else PREFIX if value.startswith(term) else PARTIAL


def ranked(rows: Iterable[SearchRow], fields: Sequence[SearchField] = FIELDS) -> list[SearchRow]:
    """One row per account, its best match; best accounts first (tier, similarity, the
    field's order in `fields`, then the account id for a stable order across pages)."""
    best: dict[str, SearchRow] = {}
    for row in rows:
        held = best.get(row.account_id)
        if held is None or _key(row, fields) < _key(held, fields):
            best[row.account_id] = row
    return sorted(best.values(), key=lambda r: (*_key(r, fields), r.account_id))


def _key(row: SearchRow, fields: Sequence[SearchField]) -> tuple[int, float, int]:
    return (-row.tier, -row.score, fields.index(row.field))


def hit(row: SearchRow, card: AccountCard) -> AccountSearchHit:
    """A result as the agent sees it: e-mail and phone masked."""
    return AccountSearchHit(
        account_id=card.account_id,
        name=card.name,
        email=mask_email(card.email),
        phone=mask_phone(card.phone),
        status=card.status,
        postal_code=card.postal_code,
        country=card.country,
        match_field=row.field,
        match=_MATCH[row.tier],
        score=round(row.score, 3),
        order_id=row.order_id,
    )


def mask_email(email: str | None) -> str | None:
    """`ada.lovelace@example.com` as `ad***e@example.com`: enough to recognise, not to write to."""
    if not email or "@" not in email:
        return None if not email else "***"
    local, domain = email.rsplit("@", 1)
    shown = f"{local[:2]}***{local[-1]}" if len(local) > 4 else f"{local[:1]}***"
    return f"{shown}@{domain}"


def mask_phone(phone: str | None) -> str | None:
    """`+49 30 1234 5678` as `********5678`: the last four digits."""
    if not phone:
        return None
    digits = normalise("phone", phone)
    return "*" * max(len(digits) - 4, 0) + digits[-4:]
