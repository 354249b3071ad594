"""What warehouses report: short picks, backorders, shipments and deliveries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from contracts.fulfillment import (
    Backordered,
    Delivered,
    LineBackordered,
    LineShortPicked,
    OrderDelivered,
    OrderShipped,
    Shipped,
    ShortPicked,
)
from services.context import Change, Context
from services.errors import Invalid
from services.orders import events
from services.orders.events import Before
from services.orders.handlers import apply_change, locked, record_step
from services.orders.model import Order, Shipment
from services.orders.settlement import Reason, Settlement
from services.orders.views import payment_view, shipment_lines, shipment_view, totals_view
from services.ports import UnitOfWork


def short_picked(msg: ShortPicked, ctx: Context, uow: UnitOfWork) -> Change:
    """Units the warehouse cannot pick are cancelled and settled before anything ships."""
    return _cancel_short(
        msg.order_id,
        msg.line_id,
        msg.sku,
        msg.quantity,
        msg.warehouse,
        "short_picked",
        ctx,
        uow,
        msg.expected_version,
    )


def backordered(msg: Backordered, ctx: Context, uow: UnitOfWork) -> Change:
    """Backorderable SKUs wait with an expected date; others are cancelled like a short pick."""
    order = locked(msg.order_id, uow)
    order.check_version(msg.expected_version)
    line = order.line(msg.line_id)
    _check_sku(line.sku, msg.sku)
    entry = uow.catalog.get_many({line.sku}).get(line.sku)
    if entry is None or not entry.backorderable:
        return _cancel_short(
            msg.order_id,
            msg.line_id,
            line.sku,
            msg.quantity,
            msg.warehouse,
            "not_backorderable",
            ctx,
            uow,
        )
    before = events.audit_state(order)
    order.backorder(msg.line_id, msg.quantity, msg.expected_date)

    def describe() -> tuple[dict[str, Any], list[BaseModel]]:
        event = LineBackordered(
            order_id=order.order_id,
            account_id=order.account_id,
            version=order.version,
            line_id=line.line_id,
            sku=line.sku,
            name=line.name,
            quantity=msg.quantity,
            expected_date=msg.expected_date,
            warehouse=msg.warehouse,
        )
        return {"line_id": line.line_id, "backordered": line.backordered}, [event]

    return record_step(order, before, ctx, uow, describe)


def _cancel_short(
    order_id: str,
    line_id: str,
    sku: str,
    quantity: int,
    warehouse: str,
    why: Literal["short_picked", "not_backorderable"],
    ctx: Context,
    uow: UnitOfWork,
    expected_version: int | None = None,
) -> Change:
    left: list[int] = []

    def change(order: Order) -> dict[str, Reason]:
        _check_sku(order.line(line_id).sku, sku)
        order.cancel_units(line_id, quantity, action="short_picked", field="data.quantity")
        left.append(order.line(line_id).open_units)
        return {line_id: ("short_pick", "short_pick")}

    def describe(order: Order, before: Before, settlement: Settlement) -> LineShortPicked:
        line = order.line(line_id)
        new = order.priced()
        return LineShortPicked(
            order_id=order.order_id,
            account_id=order.account_id,
            version=order.version,
            line_id=line_id,
            sku=line.sku,
            name=line.name,
            quantity_short=quantity,
            quantity_left=left[0],
            warehouse=warehouse,
            why=why,
            old_totals=totals_view(before.priced),
            new_totals=totals_view(new),
            payment=payment_view(order.payment_state(new), order.currency),
            settlement=events.settlement_view(order, settlement),
        )

    return apply_change(
        order_id,
        ctx,
        uow,
        change,
        ("short_pick", "short_pick"),
        describe,
        expected_version=expected_version,
    )


def _check_sku(expected: str, reported: str | None) -> None:
    if reported is not None and reported != expected:
        raise Invalid(
            f"the line holds SKU {expected}, the warehouse reported {reported}", field="data.sku"
        )


def shipped(msg: Shipped, ctx: Context, uow: UnitOfWork) -> Change:
    order = locked(msg.order_id, uow)
    order.check_version(msg.expected_version)
    before = events.audit_state(order)
    counts: dict[str, int] = {}
    for n, shipped_line in enumerate(msg.lines):
        if shipped_line.line_id in counts:
            raise Invalid(
                f"line {shipped_line.line_id} appears twice in the shipment",
                field=f"data.lines.{n}.line_id",
            )
        counts[shipped_line.line_id] = shipped_line.quantity
    shipment = Shipment(
        msg.shipment_id, msg.carrier, msg.tracking_number, msg.tracking_url, counts, ctx.now
    )
    order.ship(shipment)

    def describe() -> tuple[dict[str, Any], list[BaseModel]]:
        event = OrderShipped(
            order_id=order.order_id,
            account_id=order.account_id,
            version=order.version,
            status=order.status,
            shipment=shipment_view(order, shipment),
        )
        return {"status": order.status, "shipment_id": shipment.shipment_id}, [event]

    return record_step(order, before, ctx, uow, describe)


def delivered(msg: Delivered, ctx: Context, uow: UnitOfWork) -> Change:
    order = locked(msg.order_id, uow)
    order.check_version(msg.expected_version)
    before = events.audit_state(order)
    shipment = order.deliver(msg.shipment_id, msg.delivered_at or ctx.now)
    delivered_at = msg.delivered_at or ctx.now

    def describe() -> tuple[dict[str, Any], list[BaseModel]]:
        event = OrderDelivered(
            order_id=order.order_id,
            account_id=order.account_id,
            version=order.version,
            status=order.status,
            shipment_id=shipment.shipment_id,
            lines=shipment_lines(order, shipment),
            delivered_at=delivered_at,
        )
        return {"status": order.status, "shipment_id": shipment.shipment_id}, [event]

    return record_step(order, before, ctx, uow, describe)
