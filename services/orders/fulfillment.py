"""What warehouses report: short picks, backorders, shipments and deliveries."""

from __future__ import annotations

from contracts.fulfillment import Backordered, Delivered, Shipped, ShortPicked
from services.context import Change, Context
from services.errors import Invalid
from services.orders.model import Shipment
from services.orders.recording import lock, record
from services.ports import UnitOfWork


def short_picked(msg: ShortPicked, ctx: Context, uow: UnitOfWork) -> Change:
    """Units the warehouse cannot pick are cancelled and settled before anything ships."""
    order, before = lock(uow, msg.order_id, msg.expected_version)
    order.short_pick(
        msg.line_id, msg.quantity, sku=msg.sku, warehouse=msg.warehouse, why="short_picked"
    )
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow)


def backordered(msg: Backordered, ctx: Context, uow: UnitOfWork) -> Change:
    """Backorderable SKUs wait with an expected date; others are cancelled like a short pick."""
    order, before = lock(uow, msg.order_id, msg.expected_version)
    sku = order.line(msg.line_id).sku
    entry = uow.catalog.get_many({sku}).get(sku)
    if entry is not None and entry.backorderable:
        order.backorder(
            msg.line_id, msg.quantity, msg.expected_date, sku=msg.sku, warehouse=msg.warehouse
        )
    else:
        order.short_pick(
            msg.line_id, msg.quantity, sku=msg.sku, warehouse=msg.warehouse,
            why="not_backorderable",
        )  # fmt: skip
        order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow)


def shipped(msg: Shipped, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, msg.order_id, msg.expected_version)
    counts: dict[str, int] = {}
    for n, line in enumerate(msg.lines):
        if line.line_id in counts:
            raise Invalid(
                f"line {line.line_id} appears twice in the shipment",
                field=f"data.lines.{n}.line_id",
            )
        counts[line.line_id] = line.quantity
    order.ship(
        Shipment(
            msg.shipment_id, msg.carrier, msg.tracking_number, msg.tracking_url, counts, ctx.now
        )
    )
    return record(order, before, ctx, uow)


def delivered(msg: Delivered, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, msg.order_id, msg.expected_version)
    order.deliver(msg.shipment_id, msg.delivered_at or ctx.now)
    return record(order, before, ctx, uow)
