"""The account as the wire shows it: contact, cards, store credit, orders and their money."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from contracts.accounts import (
    AccountOrderView,
    BillingAccountView,
    PaymentMethodView,
    StoreCreditEntryView,
)
from contracts.appeasements import AppeasementView
from contracts.common import Money
from services.accounts.model import Account, PaymentMethod
from services.accounts.records import OrderSummary, StoreCreditEntry
from services.ledger import LedgerView
from services.money import round_money
from services.orders.settlement import payment_state
from services.orders.views import credit_memo_view, invoice_view, refund_view


def account_view(
    account: Account,
    orders: Sequence[OrderSummary],
    orders_total: int,
    ledgers: dict[str, LedgerView],
    balances: dict[str, Decimal],
    entries: Sequence[StoreCreditEntry],
    appeasements: Sequence[AppeasementView] = (),
    appeasements_total: int | None = None,
) -> BillingAccountView:
    return BillingAccountView(
        account_id=account.account_id,
        version=account.version,
        status=account.status,
        name=account.name,
        email=account.email,
        phone=account.phone,
        billing_address=account.billing_address,
        locale=account.locale,
        notification_opt_outs=list(account.notification_opt_outs),
        payment_methods=[payment_method_view(m) for m in account.payment_methods],
        store_credit_balance=[
            Money(amount=round_money(amount, currency), currency=currency)
            for currency, amount in sorted(balances.items())
        ],
        store_credit_entries=[store_credit_view(e) for e in entries],
        orders=[order_view(o, ledgers.get(o.order_id, LedgerView())) for o in orders],
        orders_total=orders_total,
        appeasements=list(appeasements),
        appeasements_total=len(appeasements) if appeasements_total is None else appeasements_total,
    )


def payment_method_view(method: PaymentMethod) -> PaymentMethodView:
    return PaymentMethodView(**method.as_dict())


def store_credit_view(entry: StoreCreditEntry) -> StoreCreditEntryView:
    return StoreCreditEntryView(
        entry_id=entry.entry_id,
        currency=entry.currency,
        amount=round_money(entry.amount, entry.currency),
        reason=entry.reason,
        reference=entry.reference,
        created_at=entry.created_at,
    )


def order_view(order: OrderSummary, ledger: LedgerView) -> AccountOrderView:
    """The order's money position from its total and payment facts (no repricing)."""
    total = round_money(order.total, order.currency)
    state = payment_state(total, order.payment)
    return AccountOrderView(
        order_id=order.order_id,
        status=order.status,
        version=order.version,
        currency=order.currency,
        total=total,
        balance_due=round_money(state.balance_due, order.currency),
        credit_owed=round_money(state.credit_owed, order.currency),
        invoices=[invoice_view(i) for i in ledger.invoices],
        credit_memos=[credit_memo_view(m) for m in ledger.credit_memos],
        refunds=[refund_view(r) for r in ledger.refunds],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
