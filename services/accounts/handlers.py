"""Billing-account command handlers."""

from __future__ import annotations

from contracts.accounts import CreateBillingAccount
from services.accounts.model import Account
from services.addresses import validate_address
from services.errors import AlreadyExists
from services.handling import AuditEntry, Change, Context
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
    return Change(account.account_id, None, {"account_id": account.account_id}, [], [audit])
