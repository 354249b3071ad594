"""`billing_account.erase`: which of a customer's data is personal, and what replaces it.

The domain decides here, without I/O: the personal fields are the account's name, e-mail,
phone and billing address, and every delivery address of its orders (name, street lines,
city, region, postal code, phone; the country stays, since tax and shipping were priced by
it). Each value is replaced by a pseudonym derived from the account id, so erased rows of
one customer still read as one customer, and nothing of the original can be recovered from
it. The account and its orders are rewritten through their repositories (the order document
through its codec); the same values are then replaced wherever else they were stored, by the
`Erasure` port (persistence/erasure.py): kept command bodies and outcomes, customer e-mails,
dead letters, unpublished events, the audit log's before and after values and notes.
Amounts, invoices, credit memos, refunds, store credit and the audit rows themselves stay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from contracts.accounts import AccountField, EraseBillingAccount
from services.accounts.handlers import locked, updated_event
from services.accounts.model import Account
from services.accounts.scrub import SEARCHABLE_LENGTH, Scrub
from services.context import AuditEntry, Change, Context
from services.ports import UnitOfWork

#: The fields of an address (billing or delivery) that name or locate a person.
ADDRESS_PERSONAL = ("name", "line1", "line2", "city", "region", "postal_code", "phone")
#: The values that find a row beyond the customer's own: an e-mail address or a phone
#: number is one person's; a name or a street line may be another customer's too.
IDENTIFYING = frozenset({"email", "phone"})
#: What stands in for every other personal value.
ERASED = "[erased]"
ERASED_FIELDS: tuple[AccountField, ...] = ("name", "email", "phone", "billing_address")


def pseudonym(account_id: str) -> str:
    """A stable stand-in for the customer's name: the same for every erase of the account."""
    return "erased-" + hashlib.sha256(account_id.encode()).hexdigest()[:12]


def erased_address(address: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """The address with its personal fields replaced; the country (and any other field) kept."""
    out = dict(address)
    for key in ADDRESS_PERSONAL:
        if out.get(key) is not None:
            out[key] = pseudonym(account_id) if key == "name" else ERASED
    return out


def is_erased(account: Account) -> bool:
    return account.name == pseudonym(account.account_id) and account.email is None


def values_in(doc: Any, top: bool = True) -> Iterable[tuple[str, str]]:
    """The personal values in an audit value: the personal fields of any `address` or
    `billing_address`, any `email` or `phone`, and a `name` at the top (an account's; a
    `name` deeper down is a product's); each with its field's name."""
    if isinstance(doc, list):
        for item in doc:
            yield from values_in(item, top=False)
    if not isinstance(doc, Mapping):
        return
    for key, value in doc.items():
        if key in ("address", "billing_address") and isinstance(value, Mapping):
            yield from ((f, value[f]) for f in ADDRESS_PERSONAL if isinstance(value.get(f), str))
        elif (key in ("email", "phone") or (top and key == "name")) and isinstance(value, str):
            yield key, value
        elif isinstance(value, Mapping | list):
            yield from values_in(value, top=False)


def replacements(account: Account, found: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Each value to its stand-in (the name by the pseudonym, the e-mail by an address that
    cannot be delivered to, any other by ERASED), longest first so a value inside another is
    not replaced first."""
    name = pseudonym(account.account_id)
    out: dict[str, str] = {}
    if account.email:
        out[account.email] = f"{name}@erased.invalid"
    out[account.name] = name
    for field, value in found:
        if value in out or value in (name, ERASED) or not value.strip():
            continue
        if field == "name":
            out[value] = name
        elif field == "email":
            out[value] = f"{name}@erased.invalid"
        else:
            out[value] = ERASED
    return tuple(sorted(out.items(), key=lambda kv: (-len(kv[0]), kv[0])))


def erase_account(cmd: EraseBillingAccount, ctx: Context, uow: UnitOfWork) -> Change:
    """Pseudonymise one customer's personal data everywhere it is stored; the result counts
    the rows changed per table. An erased account is erased again as a no-op."""
    account = locked(cmd.account_id, uow)
    if is_erased(account):
        result = {
            "account_id": account.account_id,
            "already_erased": True,
            "fields": [],
            "erased": {},
        }
        return Change(account.account_id, account.version, result)
    order_ids = tuple(uow.erasure.order_ids(account.account_id))
    orders = [uow.orders.get_for_update(order_id) for order_id in order_ids]
    found = [(f, v) for f, v in (("email", account.email), ("phone", account.phone)) if v]
    found += values_in({"billing_address": account.billing_address})
    for order in orders:
        if order is not None:
            found += values_in({"address": order.delivery.address})
    for doc in uow.erasure.audit_values(account.account_id, order_ids):
        found += values_in(doc)
    found.append(("name", account.name))
    searched = tuple(
        dict.fromkeys(
            v for f, v in found if f in IDENTIFYING and len(v.strip()) >= SEARCHABLE_LENGTH
        )
    )
    scrub = Scrub(account.account_id, order_ids, replacements(account, found), searched)

    erased: dict[str, int] = {"billing_accounts": 1}
    account.name = pseudonym(account.account_id)
    account.email = None
    account.phone = None
    if account.billing_address is not None:
        account.billing_address = erased_address(account.billing_address, account.account_id)
    account.version += 1
    uow.accounts.save(account)
    changed_orders = 0
    for order in orders:
        if order is not None and order.delivery.address:
            order.delivery.address = erased_address(order.delivery.address, account.account_id)
            uow.orders.save(order)
            changed_orders += 1
    erased["orders"] = changed_orders
    erased.update(uow.erasure.scrub(scrub))

    fields = [*ERASED_FIELDS, *(["delivery_address"] if changed_orders else [])]
    state = account.state()
    event = updated_event(account, list(ERASED_FIELDS), state, state)
    audit = AuditEntry(
        "billing_account",
        account.account_id,
        "billing_account.erased",
        None,
        {"fields": fields, "erased": erased},
    )
    result = {
        "account_id": account.account_id,
        "already_erased": False,
        "fields": fields,
        "erased": erased,
    }
    return Change(account.account_id, account.version, result, [event], [audit])
