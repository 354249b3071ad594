"""Memorable events for the notifier's tests, built with the contract models: Ada's order
ord_ada_1 (2 x Organic tee, M at 25.00 and a Grey hoodie, L at 59.90; 4.95 shipping; 19 %
German VAT; 136.67 EUR) as OrderCare publishes it, and what happens to it next."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from contracts.common import SettleTo
from contracts.fulfillment import LineBackordered, LineShortPicked, OrderDelivered, OrderShipped
from contracts.orders import (
    ConditionCount,
    CreditMemoLine,
    CreditMemoView,
    DeliveryView,
    LineChange,
    LineView,
    OrderAmended,
    OrderCancelled,
    OrderCreated,
    OrderDeliveryChanged,
    PaymentState,
    RefundSettled,
    RefundView,
    ReturnLineView,
    ReturnView,
    SettlementView,
    ShipmentLine,
    ShipmentView,
    Totals,
)
from contracts.returns import ReturnDecided, ReturnReceivedEvent
from notifier.kinds import Customer

Direction = Literal["none", "decrease", "increase"]

ORDER = "ord_ada_1"
ACCOUNT = "acc_ada"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ADA = Customer(ACCOUNT, "Ada Lovelace", "ada@example.com", "de-DE")
BERLIN = {"name": "Ada Lovelace", "line1": "Invalidenstraße 117", "line2": None,
          "city": "Berlin", "region": None, "postal_code": "10115", "country": "DE"}  # fmt: skip
DHL_URL = "https://www.dhl.de/track?piececode=00340434161094015902"


def _d(value: str) -> Decimal:
    return Decimal(value)


def totals(subtotal: str, shipping: str, tax: str, total: str) -> Totals:
    return Totals(currency="EUR", subtotal=_d(subtotal), discounts=_d("0.00"),
                  shipping=_d(shipping), tax=_d(tax), total=_d(total))  # fmt: skip


ADA_TOTALS = totals("109.90", "4.95", "21.82", "136.67")


def payment(refunded: str = "0.00", balance_due: str = "0.00") -> PaymentState:
    return PaymentState(currency="EUR", authorized=_d("136.67"), captured=_d("136.67"),
                        refunded=_d(refunded), to_capture=_d("0.00"),
                        balance_due=_d(balance_due), credit_owed=_d("0.00"))  # fmt: skip


def line(
    line_id: str, sku: str, name: str, quantity: int, unit: str, net: str, tax: str
) -> LineView:
    return LineView(line_id=line_id, sku=sku, name=name, quantity=quantity, cancelled=0, shipped=0,
                    delivered=0, state="open", unit_price=_d(unit), tax_rate=_d("0.19"),
                    net=_d(net), tax=_d(tax))  # fmt: skip


TEE = line("l1", "TEE-ORGANIC-M", "Organic tee, M", 2, "25.00", "50.00", "9.50")
HOODIE = line("l2", "HOODIE-GREY-L", "Grey hoodie, L", 1, "59.90", "59.90", "11.38")
STANDARD = DeliveryView(method="standard", country="DE", address=BERLIN)


def refund(amount: str, method: SettleTo = "original_payment") -> RefundView:
    return RefundView(refund_id="rf_1", credit_memo_id="cm_1", currency="EUR", amount=_d(amount),
                      method=method, status="settled", requested_at=NOW)  # fmt: skip


def settlement(
    difference: str, refund_due: str = "0.00", balance_due: str = "0.00"
) -> SettlementView:
    refunds = [refund(refund_due)] if _d(refund_due) else []
    direction: Direction = (
        "decrease" if _d(difference) < 0 else "increase" if _d(difference) else "none"
    )
    return SettlementView(direction=direction, difference=_d(difference), refunds=refunds,
                          refund_due=_d(refund_due), authorization_released=_d("0.00"),
                          balance_due=_d(balance_due))  # fmt: skip


def order_created() -> OrderCreated:
    return OrderCreated(order_id=ORDER, account_id=ACCOUNT, version=1, lines=[TEE, HOODIE],
                        delivery=STANDARD, totals=ADA_TOTALS, payment=payment(),
                        invoice_id="inv_1")  # fmt: skip


def order_amended() -> OrderAmended:
    """One tee fewer: 106.92, 29.75 back to Ada."""
    change = LineChange(action="quantity_changed", line_id="l1", sku=TEE.sku, name=TEE.name,
                        old_quantity=2, new_quantity=1)  # fmt: skip
    tee = TEE.model_copy(update={"quantity": 1})
    return OrderAmended(order_id=ORDER, account_id=ACCOUNT, version=2, reason="customer_request",
                        old_totals=ADA_TOTALS, new_totals=totals("84.90", "4.95", "17.07", "106.92"),
                        payment=payment("29.75"), settlement=settlement("-29.75", "29.75"),
                        changes=[change], lines=[tee, HOODIE])  # fmt: skip


def order_delivery_changed() -> OrderDeliveryChanged:
    """Express instead of standard: 142.62, a balance of 5.95."""
    express = STANDARD.model_copy(update={"method": "express"})
    return OrderDeliveryChanged(
        order_id=ORDER, account_id=ACCOUNT, version=2, reason="customer_request",
        old_totals=ADA_TOTALS, new_totals=totals("109.90", "9.95", "22.77", "142.62"),
        payment=payment(balance_due="5.95"), settlement=settlement("5.95", balance_due="5.95"),
        old_delivery=STANDARD, new_delivery=express,
    )  # fmt: skip


def order_cancelled() -> OrderCancelled:
    """Everything cancelled, everything refunded."""
    changes = [LineChange(action="cancelled", line_id=x.line_id, sku=x.sku, name=x.name,
                          old_quantity=x.quantity, new_quantity=0) for x in (TEE, HOODIE)]  # fmt: skip
    return OrderCancelled(
        order_id=ORDER, account_id=ACCOUNT, version=2, reason="customer_request",
        old_totals=ADA_TOTALS, new_totals=totals("0.00", "0.00", "0.00", "0.00"),
        payment=payment("136.67"), settlement=settlement("-136.67", "136.67"),
        scope="order", status="cancelled", changes=changes,
    )  # fmt: skip


def line_short_picked() -> LineShortPicked:
    """The hoodie could not be picked: 65.39, 71.28 back to Ada."""
    return LineShortPicked(
        order_id=ORDER, account_id=ACCOUNT, version=2, line_id="l2", sku=HOODIE.sku,
        name=HOODIE.name, quantity_short=1, quantity_left=0, warehouse="wh_berlin",
        why="short_picked", old_totals=ADA_TOTALS,
        new_totals=totals("50.00", "4.95", "10.44", "65.39"), payment=payment("71.28"),
        settlement=settlement("-71.28", "71.28"),
    )  # fmt: skip


def line_backordered() -> LineBackordered:
    return LineBackordered(order_id=ORDER, account_id=ACCOUNT, version=2, line_id="l1",
                           sku=TEE.sku, name=TEE.name, quantity=2,
                           expected_date=date(2026, 12, 10), warehouse="wh_berlin")  # fmt: skip


def order_shipped() -> OrderShipped:
    shipment = ShipmentView(
        shipment_id="sh_1", carrier="DHL", tracking_number="00340434161094015902",
        tracking_url=DHL_URL, shipped_at=NOW,
        lines=[ShipmentLine(line_id=x.line_id, sku=x.sku, name=x.name, quantity=x.quantity)
               for x in (TEE, HOODIE)],
    )  # fmt: skip
    return OrderShipped(order_id=ORDER, account_id=ACCOUNT, version=3, status="shipped",
                        shipment=shipment)  # fmt: skip


def order_delivered() -> OrderDelivered:
    lines = [ShipmentLine(line_id=x.line_id, sku=x.sku, name=x.name, quantity=x.quantity)
             for x in (TEE, HOODIE)]  # fmt: skip
    return OrderDelivered(order_id=ORDER, account_id=ACCOUNT, version=4, status="delivered",
                          shipment_id="sh_1", lines=lines,
                          delivered_at=datetime(2026, 11, 28, 10, 30, tzinfo=UTC))  # fmt: skip


def refund_settled() -> RefundSettled:
    return RefundSettled(order_id=ORDER, account_id=ACCOUNT, refund=refund("29.75"))


# --- Ada sends back both tees (changed her mind) and the hoodie (not as described) ---------


def returned(line: LineView, reason: str, counts: dict[str, int], **settled: Any) -> ReturnLineView:
    def listed(condition_counts: dict[str, int]) -> list[ConditionCount]:
        return [ConditionCount.model_validate({"condition": c, "quantity": n})
                for c, n in condition_counts.items()]  # fmt: skip

    return ReturnLineView(line_id=line.line_id, sku=line.sku, name=line.name,
                          quantity=line.quantity, reason=reason, received=listed(counts),
                          awaiting_decision=listed(settled.pop("awaiting", {})), **settled)  # fmt: skip


def rma(status: str, *lines: ReturnLineView) -> ReturnView:
    return ReturnView.model_validate({
        "return_id": "rma_ada_1", "status": status, "method": "drop_off", "exchange": False,
        "advance": False, "lines": lines, "created_at": NOW, "return_by": NOW + timedelta(days=30),
        "received_at": NOW + timedelta(days=5),
    })  # fmt: skip


def return_memo(*lines: tuple[str, str, str, str]) -> CreditMemoView:
    """A return's credit memo of (reason, description, net, tax) lines."""
    memo = [CreditMemoLine(reason=r, description=d, net=_d(n), tax=_d(t)) for r, d, n, t in lines]
    net, tax = sum(x.net for x in memo), sum(x.tax for x in memo)
    return CreditMemoView(credit_memo_id="cm_2", invoice_id="inv_1", currency="EUR", net=net,
                          tax=tax, total=net + tax, lines=memo, settle_to="original_payment",
                          issued_at=NOW)  # fmt: skip


def returned_money(refund_due: str, *memo: tuple[str, str, str, str]) -> SettlementView:
    return settlement("-" + refund_due, refund_due).model_copy(
        update={"credit_memos": [return_memo(*memo)]}
    )


#: The tees: one resellable, one damaged by Ada (20 % of 25.00 kept, with its VAT).
TEE_BACK = returned(TEE, "changed_mind", {"resellable": 1, "damaged_by_customer": 1},
                    refunded=1, restocking_fee=1)  # fmt: skip
TEE_MONEY = returned_money("53.55", ("return", TEE.name, "50.00", "9.50"),
                           ("restocking_fee", "restocking fee 20% of 1 x Organic tee, M",
                            "-5.00", "-0.95"))  # fmt: skip


def return_received() -> ReturnReceivedEvent:
    """Both tees and the hoodie arrive: the tees are refunded less a restocking fee (53.55);
    the hoodie is not the one sold and waits for a manager."""
    hoodie = returned(HOODIE, "not_as_described", {"wrong_item": 1}, awaiting={"wrong_item": 1})
    return ReturnReceivedEvent(
        order_id=ORDER, account_id=ACCOUNT, version=6, reason="return_received",
        old_totals=ADA_TOTALS, new_totals=totals("64.90", "4.95", "13.27", "83.12"),
        payment=payment("53.55"), settlement=TEE_MONEY,
        rma=rma("awaiting_decision", TEE_BACK, hoodie),
    )  # fmt: skip


def return_decided() -> ReturnDecided:
    """A manager accepts the hoodie after all: 71.28 back to Ada."""
    hoodie = returned(HOODIE, "not_as_described", {"wrong_item": 1}, refunded=1)
    return ReturnDecided(
        order_id=ORDER, account_id=ACCOUNT, version=7, reason="goodwill",
        old_totals=totals("64.90", "4.95", "13.27", "83.12"),
        new_totals=totals("5.00", "4.95", "1.89", "11.84"), payment=payment("124.83"),
        settlement=returned_money("71.28", ("return", HOODIE.name, "59.90", "11.38")),
        rma=rma("received", TEE_BACK, hoodie),
    )  # fmt: skip


def return_refund_settled() -> RefundSettled:
    """The refund of the tees' return, paid as store credit (settled at once)."""
    paid = refund("53.55", "store_credit").model_copy(update={"credit_memo_id": "cm_2"})
    return RefundSettled(order_id=ORDER, account_id=ACCOUNT, refund=paid)


#: One event of every mailed type, by type.
EVERY = {
    m.TYPE: m
    for m in (order_created(), order_amended(), order_delivery_changed(), order_cancelled(),
              line_short_picked(), line_backordered(), order_shipped(), order_delivered(),
              refund_settled(), return_received(), return_decided())
}  # fmt: skip


def cloudevent(
    data: BaseModel, *, event_id: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """The CloudEvent OrderCare publishes for `data`, with extension attributes such as
    notifycustomer=False."""
    event_type = getattr(data, "TYPE")  # noqa: B009
    return {
        "specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "ordercare",
        "type": event_type, "time": NOW.isoformat().replace("+00:00", "Z"), "subject": ORDER,
        "datacontenttype": "application/json", "correlationid": "ticket-4411",
        "causationid": "cmd-1", "data": data.model_dump(mode="json"), **extensions,
    }  # fmt: skip
