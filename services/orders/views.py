"""The order as the wire shows it: built from the aggregate and its ledger."""

from __future__ import annotations

from contracts.orders import (
    CreditMemoLine,
    CreditMemoView,
    DeliveryView,
    InvoiceView,
    LineView,
    OrderView,
    RefundView,
    Totals,
)
from contracts.orders import (
    PaymentState as PaymentStateView,
)
from services.ledger import CreditMemo, Invoice, LedgerView, Refund
from services.money import round_money
from services.orders.model import Order
from services.orders.settlement import PaymentState
from services.pricing import Priced


def totals_view(priced: Priced) -> Totals:
    return Totals(
        currency=priced.currency,
        subtotal=priced.subtotal,
        discounts=priced.discounts,
        shipping=priced.shipping,
        tax=priced.tax,
        total=priced.total,
    )


def payment_view(state: PaymentState, currency: str) -> PaymentStateView:
    """Every amount at the currency's scale ("0.00", never "0")."""
    return PaymentStateView(
        currency=currency,
        authorized=round_money(state.authorized, currency),
        captured=round_money(state.captured, currency),
        refunded=round_money(state.refunded, currency),
        to_capture=round_money(state.to_capture, currency),
        balance_due=round_money(state.balance_due, currency),
        credit_owed=round_money(state.credit_owed, currency),
    )


def lines_view(order: Order, priced: Priced) -> list[LineView]:
    views = []
    for line, money in zip(order.lines, priced.lines, strict=True):
        views.append(
            LineView(
                line_id=line.line_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                cancelled=line.cancelled,
                shipped=line.shipped,
                delivered=line.delivered,
                state=line.state,
                unit_price=line.unit_price,
                tax_rate=money.tax_rate,
                net=money.net,
                tax=money.tax,
            )
        )
    return views


def delivery_view(order: Order) -> DeliveryView:
    d = order.delivery
    return DeliveryView(method=d.method, address=d.address, pickup_location_id=d.pickup_location_id)


def invoice_view(invoice: Invoice) -> InvoiceView:
    return InvoiceView(
        invoice_id=invoice.invoice_id,
        currency=invoice.currency,
        net=invoice.net,
        tax=invoice.tax,
        total=invoice.total,
        issued_at=invoice.issued_at,
    )


def credit_memo_view(memo: CreditMemo) -> CreditMemoView:
    lines = [
        CreditMemoLine(
            reason=x.reason, description=x.description, line_id=x.line_id, net=x.net, tax=x.tax
        )
        for x in memo.lines
    ]
    return CreditMemoView(
        credit_memo_id=memo.credit_memo_id,
        invoice_id=memo.invoice_id,
        currency=memo.currency,
        net=memo.net,
        tax=memo.tax,
        total=memo.total,
        lines=lines,
        settle_to=memo.settle_to,
        issued_at=memo.issued_at,
    )


def refund_view(refund: Refund) -> RefundView:
    return RefundView(
        refund_id=refund.refund_id,
        credit_memo_id=refund.credit_memo_id,
        currency=refund.currency,
        amount=refund.amount,
        method=refund.method,
        status=refund.status,
        requested_at=refund.requested_at,
    )


def order_view(order: Order, ledger: LedgerView) -> OrderView:
    priced = order.priced()
    return OrderView(
        order_id=order.order_id,
        account_id=order.account_id,
        status=order.status,
        version=order.version,
        currency=order.currency,
        lines=lines_view(order, priced),
        delivery=delivery_view(order),
        totals=totals_view(priced),
        payment=payment_view(order.payment_state(priced), order.currency),
        invoices=[invoice_view(i) for i in ledger.invoices],
        credit_memos=[credit_memo_view(m) for m in ledger.credit_memos],
        refunds=[refund_view(r) for r in ledger.refunds],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
