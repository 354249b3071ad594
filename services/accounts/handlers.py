"""Billing-account command and query handlers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.accounts import (
    AccountField,
    AccountSearchResult,
    BillingAccountUpdated,
    CreateBillingAccount,
    GetBillingAccount,
    SearchBillingAccounts,
    UpdateBillingAccount,
)
from services.accounts import search
from services.accounts.model import UPDATABLE, Account, PaymentMethod
from services.accounts.views import account_view
from services.addresses import validate_address
from services.appeasements.views import appeasements_for_account
from services.context import AuditEntry, Change, Context
from services.errors import AlreadyExists, NotFound
from services.ids import IdFactory
from services.ports import UnitOfWork


def create_account(cmd: CreateBillingAccount, ctx: Context, uow: UnitOfWork) -> Change:
    if cmd.billing_address is not None:
        validate_address(cmd.billing_address, "data.billing_address")
    account = Account(
        account_id=cmd.account_id or ctx.ids("acc"),
        name=cmd.name,
        email=cmd.email,
        phone=cmd.phone,
        locale=cmd.locale,
        billing_address=cmd.billing_address.model_dump() if cmd.billing_address else None,
    )
    if not uow.accounts.add(account):
        raise AlreadyExists(
            f"billing account {account.account_id} already exists", field="data.account_id"
        )
    audit = AuditEntry(
        "billing_account",
        account.account_id,
        "billing_account.created",
        None,
        {"status": account.status, "locale": account.locale},
    )
    result = {"account_id": account.account_id}
    return Change(account.account_id, account.version, result, [], [audit])


def update_account(cmd: UpdateBillingAccount, ctx: Context, uow: UnitOfWork) -> Change:
    """Lock, check the version, apply every change, and take one version step for them all."""
    account = locked(cmd.account_id, uow)
    account.check_version(cmd.expected_version)
    before = account.state()
    apply_update(account, cmd, ctx.now, ctx.ids)
    after = account.state()
    changed = [f for f in UPDATABLE if after[f] != before[f]]
    if not changed:  # the values it sent are the ones the account has: nothing to record
        return Change(account.account_id, account.version, _result(account, changed))
    account.version += 1
    uow.accounts.save(account)
    audit = AuditEntry(
        "billing_account",
        account.account_id,
        "billing_account.updated",
        {f: before[f] for f in changed},
        {f: after[f] for f in changed},
    )
    event = updated_event(account, changed, before, after)
    return Change(account.account_id, account.version, _result(account, changed), [event], [audit])


def _result(account: Account, changed: list[AccountField]) -> dict[str, Any]:
    return {"account_id": account.account_id, "changed": changed, "version": account.version}


def apply_update(
    account: Account, cmd: UpdateBillingAccount, now: datetime, ids: IdFactory
) -> None:
    given = cmd.model_fields_set
    if cmd.billing_address is not None:
        validate_address(cmd.billing_address, "data.billing_address")
    for field in ("name", "email", "phone", "locale"):
        if field in given:
            setattr(account, field, getattr(cmd, field))
    if cmd.notification_opt_outs is not None:
        account.notification_opt_outs = list(dict.fromkeys(cmd.notification_opt_outs))
    if "billing_address" in given:
        account.billing_address = cmd.billing_address.model_dump() if cmd.billing_address else None
    if cmd.hold is not None:
        account.hold(cmd.hold)
    for n, pm_id in enumerate(cmd.remove_payment_methods):
        account.remove_payment_method(pm_id, f"data.remove_payment_methods.{n}")
    for n, new in enumerate(cmd.add_payment_methods):
        method = PaymentMethod(
            new.payment_method_id or ids("pm"),
            new.brand,
            new.last4,
            new.exp_month,
            new.exp_year,
            new.token_ref,
        )
        account.add_payment_method(method, now, f"data.add_payment_methods.{n}")


def updated_event(
    account: Account, changed: list[AccountField], before: dict[str, Any], after: dict[str, Any]
) -> BillingAccountUpdated:
    """What changed, without the values: the event fans out to every consumer."""
    old = {m["payment_method_id"] for m in before["payment_methods"]}
    new = {m["payment_method_id"] for m in after["payment_methods"]}
    return BillingAccountUpdated(
        account_id=account.account_id,
        version=account.version,
        changed=changed,
        status=account.status,
        payment_methods_added=sorted(new - old),
        payment_methods_removed=sorted(old - new),
    )


def locked(account_id: str, uow: UnitOfWork) -> Account:
    account = uow.accounts.get_for_update(account_id)
    if account is None:
        raise NotFound(f"billing account {account_id} does not exist", field="data.account_id")
    return account


def search_accounts(query: SearchBillingAccounts, uow: UnitOfWork) -> dict[str, Any]:
    """A page of the best matches: every term's best `offset + size + 1`, merged, cut."""
    terms = search.plan(query.q, query.field)
    offset = (query.page - 1) * query.page_size
    wanted = offset + query.page_size + 1
    found, truncated = uow.account_views.search(terms, wanted, max(search.CANDIDATES, wanted))
    rows = search.ranked(found)
    page = rows[offset : offset + query.page_size]
    cards = uow.account_views.cards([r.account_id for r in page])
    return AccountSearchResult(
        page=query.page,
        page_size=query.page_size,
        has_more=len(rows) > offset + query.page_size,
        truncated=truncated,
        hits=[search.hit(r, cards[r.account_id]) for r in page if r.account_id in cards],
    ).model_dump(mode="json")


def get_account(query: GetBillingAccount, uow: UnitOfWork) -> dict[str, Any]:
    account = uow.accounts.get(query.account_id)
    if account is None:
        raise NotFound(
            f"billing account {query.account_id} does not exist", field="data.account_id"
        )
    views = uow.account_views
    orders, orders_total = views.orders(account.account_id, query.max_orders)
    ledgers = views.ledgers([o.order_id for o in orders])
    balances, entries = views.store_credit(account.account_id, 100)
    appeasements, appeasements_total = appeasements_for_account(uow, account.account_id)
    view = account_view(account, orders, orders_total, ledgers, balances, entries, appeasements,
                        appeasements_total)  # fmt: skip
    return view.model_dump(mode="json")
