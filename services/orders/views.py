"""The order as the wire shows it: built from the aggregate and its ledger."""

from __future__ import annotations

from contracts.orders import (
    ConditionCount,
    CreditMemoLine,
    CreditMemoView,
    DeliveryView,
    InvoiceView,
    LineView,
    OrderView,
    RefundView,
    ReturnException,
    ReturnLineView,
    ReturnView,
    ShipmentLine,
    ShipmentView,
    Totals,
)
from contracts.orders import (
    PaymentState as PaymentStateView,
)
from services.ledger import CreditLine, CreditMemo, Invoice, LedgerView, Refund
from services.money import round_money
from services.orders.model import DeliveryInfo, Order, Shipment
from services.orders.returns import Return
from services.orders.settlement import PaymentState
from services.pricing import Priced


def totals_view(priced: Priced) -> Totals:
    return Totals(
        currency=priced.currency,
        tax_included=priced.tax_included,
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
    for line in order.lines:
        money = priced.line(line.line_id)
        views.append(
            LineView(
                line_id=line.line_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                cancelled=line.cancelled,
                shipped=line.shipped,
                delivered=line.delivered,
                backordered=line.backordered,
                expected_date=line.expected_date,
                state=line.state,
                replaces=line.replaces,
                price_override=line.price_override,
                unit_price=line.unit_price,
                discount=money.discount,
                returned=line.returned,
                exchange_for=line.exchange_for,
                hold=line.hold,
                tax_rate=money.tax_rate,
                net=money.net,
                tax=money.tax,
            )
        )
    return views


def delivery_view(d: DeliveryInfo) -> DeliveryView:
    return DeliveryView(
        method=d.method,
        country=d.country,
        address=d.address,
        pickup_location_id=d.pickup_location_id,
    )


def shipment_view(order: Order, shipment: Shipment) -> ShipmentView:
    return ShipmentView(
        shipment_id=shipment.shipment_id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        tracking_url=shipment.tracking_url,
        lines=shipment_lines(order, shipment),
        shipped_at=shipment.shipped_at,
        delivered_at=shipment.delivered_at,
    )


def shipment_lines(order: Order, shipment: Shipment) -> list[ShipmentLine]:
    lines = []
    for line_id, quantity in shipment.lines.items():
        line = order.line(line_id)
        lines.append(ShipmentLine(line_id=line_id, sku=line.sku, name=line.name, quantity=quantity))
    return lines


def invoice_view(invoice: Invoice) -> InvoiceView:
    return InvoiceView(
        invoice_id=invoice.invoice_id,
        currency=invoice.currency,
        net=invoice.net,
        tax=invoice.tax,
        total=invoice.total,
        issued_at=invoice.issued_at,
        lines=[credit_line_view(x) for x in invoice.lines],
    )


def credit_line_view(x: CreditLine) -> CreditMemoLine:
    return CreditMemoLine(
        reason=x.reason, description=x.description, line_id=x.line_id, net=x.net, tax=x.tax
    )


def credit_memo_view(memo: CreditMemo) -> CreditMemoView:
    lines = [credit_line_view(x) for x in memo.lines]
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
        failure_reason=refund.failure_reason,
        retry_of=refund.retry_of,
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
        delivery=delivery_view(order.delivery),
        totals=totals_view(priced),
        payment=payment_view(order.payment_state(priced), order.currency),
        invoices=[invoice_view(i) for i in ledger.invoices],
        credit_memos=[credit_memo_view(m) for m in ledger.credit_memos],
        refunds=[refund_view(r) for r in ledger.refunds],
        shipments=[shipment_view(order, s) for s in order.shipments],
        returns=[return_view(order, r) for r in order.returns],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def return_view(order: Order, rma: Return) -> ReturnView:
    return ReturnView(
        return_id=rma.return_id,
        status=rma.status,
        method=rma.method,
        exchange=rma.exchange,
        advance=rma.advance,
        lines=[
            ReturnLineView(
                line_id=rl.line_id,
                sku=rl.sku,
                name=order.line(rl.line_id).name,
                quantity=rl.quantity,
                reason=rl.reason,
                received=_counts(rl.received),
                refunded=rl.refunded,
                restocking_fee=rl.restocking_fee,
                refused=rl.refused,
                missing=rl.missing,
                awaiting_decision=_counts(rl.awaiting),
                credited_in_advance=rl.credited_in_advance,
            )
            for rl in rma.lines
        ],
        replacement_line_ids=list(rma.replacement_line_ids),
        created_at=rma.created_at,
        return_by=rma.return_by,
        received_at=rma.received_at,
        window_override=rma.window_override,
        exceptions=[ReturnException.model_validate(e) for e in rma.exceptions],
    )


def _counts(counts: dict[str, int]) -> list[ConditionCount]:
    return [
        ConditionCount.model_validate({"condition": c, "quantity": n})
        for c, n in counts.items()
        if n
    ]
