"""Encode and decode of the order document, the codec every command runs twice.

Times persistence/mapping.py alone, no database: the aggregate to its JSON text
(`order_to_doc` + orjson, as SqlOrders.save sends it) and the JSON text back to the
aggregate (orjson, as psycopg parses JSONB here, + `order_from_row`), for a 10-line and a
200-line order with discounts, backorders, shipments, a charge and a return. Prints the
best of `--repeat` rounds of `--n` round trips each, per round trip, and the document's size.

    ops/run sh python ops/bench/documents.py [--n 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson

from persistence.mapping import order_from_row, order_to_doc
from services.orders.charges import Charge
from services.orders.model import (
    DeliveryInfo,
    InvoiceRef,
    Line,
    Order,
    PaymentFacts,
    Shipment,
)
from services.orders.returns import Return, ReturnLine

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def an_order(lines: int) -> Order:
    """An order as a busy one looks: most lines plain, some discounted, backordered,
    shipped, delivered or returned; one shipment per ten lines, a charge and a return."""
    made = []
    for n in range(1, lines + 1):
        line = Line(f"l{n}", f"SKU-{n:04d}", f"Item number {n}", Decimal("19.90"), "standard", 2)
        if n % 3 == 0:
            line.discounts = [(Decimal("1.5"), 2)]
        if n % 4 == 0:
            line.shipped = line.delivered = 2
        if n % 7 == 0:
            line.backordered, line.expected_date = 1, date(2026, 12, 24)
        if n % 11 == 0:
            line.cancelled = 1
        made.append(line)
    shipped = [ln for ln in made if ln.shipped]
    shipments = [
        Shipment(f"shp_{n}", "dhl", f"JD{n:012d}", None,
                 {ln.line_id: ln.shipped for ln in shipped[n : n + 10]}, NOW, NOW + timedelta(days=2))
        for n in range(0, len(shipped), 10)
    ]  # fmt: skip
    returns = []
    if shipped:
        first = shipped[0]
        first.returned = 1
        back = ReturnLine(first.line_id, first.sku, 1, "damaged", {"damaged": 1}, refunded=1)
        rma = Return("rma_1", "received", "carrier_label", [back], NOW, NOW + timedelta(days=30))
        rma.received_at = NOW
        returns.append(rma)
    return Order(
        order_id="ord_bench",
        account_id="acc_bench",
        currency="EUR",
        status="partially_shipped",
        version=7,
        lines=made,
        delivery=DeliveryInfo("standard", "DE", Decimal("4.90"), {"line1": "Hauptstr. 1"}),
        tax_rates={"standard": Decimal("0.19"), "reduced": Decimal("0.07")},
        payment=PaymentFacts(Decimal("500.00"), Decimal("500.00"), Decimal("10.00"), "pay_1"),
        created_at=NOW,
        updated_at=NOW,
        invoices=[InvoiceRef("inv_1", Decimal("500.00"), Decimal("10.00"))],
        shipments=shipments,
        charges=[Charge("#fee1", "restocking_fee", "Restocking fee", Decimal("2.50"))],
        returns=returns,
    )


def row_of(order: Order, text: bytes) -> tuple[object, ...]:
    return (order.order_id, order.account_id, order.currency, order.status, order.version,
            orjson.loads(text), order.created_at, order.updated_at, order.tax_included)  # fmt: skip


def timed(order: Order, n: int, repeat: int) -> tuple[float, float, int]:
    """Best microseconds per encode and per decode, and the document's bytes."""
    text = orjson.dumps(order_to_doc(order))
    assert order_from_row(row_of(order, text)) == order, "the codec does not round-trip"
    encode = decode = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            orjson.dumps(order_to_doc(order))
        encode = min(encode, (time.perf_counter() - start) / n * 1e6)
        start = time.perf_counter()
        for _ in range(n):
            order_from_row(row_of(order, text))
        decode = min(decode, (time.perf_counter() - start) / n * 1e6)
    return encode, decode, len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="round trips per round (10 lines)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{'order':>10} {'encode µs':>10} {'decode µs':>10} {'both µs':>10} {'bytes':>7}")
    for lines in (10, 200):
        n = max(args.n * 10 // lines, 10)
        encode, decode, size = timed(an_order(lines), n, args.repeat)
        print(
            f"{lines:>4} lines {encode:>10.1f} {decode:>10.1f} {encode + decode:>10.1f} {size:>7}"
        )


if __name__ == "__main__":
    main()
