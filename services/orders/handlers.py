"""Order command and query handlers: lock, change, settle, record (services/orders/recording.py)."""

from __future__ import annotations

from typing import Any

from contracts.common import Address
from contracts.orders import (
    AddLine,
    AmendOrder,
    CancelOrder,
    ChangeDelivery,
    CreateOrder,
    Delivery,
    GetOrder,
    OrderCreated,
    RemoveLine,
    ReplaceLine,
)
from services.addresses import validate_address
from services.context import AuditEntry, Change, Context
from services.errors import AlreadyExists, Forbidden, Invalid, NotAllowedInState, NotFound
from services.money import check_currency, is_rounded
from services.orders import events, model
from services.orders.model import DeliveryInfo, Line, LineEdit, Order
from services.orders.placing import (
    build_lines,
    catalog_price,
    payment_facts,
    pickup_delivery,
    resolve_delivery,
)
from services.orders.recording import lock, record
from services.orders.told import NOTHING
from services.orders.views import order_view
from services.ports import UnitOfWork


def create_order(cmd: CreateOrder, ctx: Context, uow: UnitOfWork) -> Change:
    check_currency(cmd.currency)
    account = uow.accounts.get(cmd.account_id)
    if account is None:
        raise NotFound(f"billing account {cmd.account_id} does not exist", field="data.account_id")
    if account.status != "active":
        raise NotAllowedInState(f"billing account {cmd.account_id} is {account.status}")
    delivery = resolve_delivery(cmd.delivery, cmd.currency, uow.reference)
    lines = build_lines(cmd, uow.catalog.get_many({line.sku for line in cmd.lines}))
    order, invoice = Order.place(
        order_id=cmd.order_id or ctx.ids("ord"),
        account_id=account.account_id,
        currency=cmd.currency,
        lines=lines,
        delivery=delivery,
        tax_rates=uow.reference.tax_rates(delivery.country),
        payment=payment_facts(cmd),
        invoice_id=ctx.ids("inv"),
        now=ctx.now,
        tax_included=uow.reference.prices_include_tax(cmd.currency),
    )
    order.collect()  # placed: described below
    order.tell(None if ctx.notify_customer else NOTHING)
    if not uow.orders.add(order):
        raise AlreadyExists(f"order {order.order_id} already exists", field="data.order_id")
    uow.ledger.add_invoice(invoice, ctx.command_id)
    created: OrderCreated = events.order_created(order, invoice.invoice_id)
    return Change(
        order.order_id,
        order.version,
        {"order_id": order.order_id, "totals": created.totals.model_dump(mode="json")},
        [created],
        [AuditEntry("order", order.order_id, "order.created", None, events.audit_state(order))],
    )


# --- amend -----------------------------------------------------------------------------------


def amend_order(cmd: AmendOrder, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, cmd.order_id, cmd.expected_version, preview=cmd.preview)
    order.amend(_edits(cmd, order, ctx, uow), cmd.reason, cmd.settle_to)
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow, preview=cmd.preview)


def _edits(cmd: AmendOrder, order: Order, ctx: Context, uow: UnitOfWork) -> list[LineEdit]:
    """The command's changes as the aggregate takes them, new lines priced from the catalogue."""
    skus = {c.sku for c in cmd.changes if isinstance(c, AddLine | ReplaceLine)}
    entries = uow.catalog.get_many(skus) if skus else {}
    edits: list[LineEdit] = []
    for n, edit in enumerate(cmd.changes):
        at = f"data.changes.{n}"
        if isinstance(edit, AddLine):
            line = _new_line(order, edit, edit.quantity, edit.line_id, entries, ctx, at)
            edits.append(model.AddLine(line))
        elif isinstance(edit, RemoveLine):
            edits.append(model.RemoveLine(edit.line_id))
        elif isinstance(edit, ReplaceLine):
            line = _new_line(order, edit, edit.quantity or 0, edit.new_line_id, entries, ctx, at)
            edits.append(model.ReplaceLine(edit.line_id, line))
        else:
            edits.append(model.SetQuantity(edit.line_id, edit.quantity))
    return edits


def _new_line(
    order: Order,
    edit: AddLine | ReplaceLine,
    quantity: int,
    line_id: str | None,
    entries: dict[str, Any],
    ctx: Context,
    at: str,
) -> Line:
    """A line priced from the catalogue, or at an overriding price an allowed role set."""
    entry, price = catalog_price(edit.sku, order.currency, entries, f"{at}.sku")
    override = edit.unit_price is not None and edit.unit_price != price
    if edit.unit_price is not None and override:
        allowed = ctx.policy.price_override_roles
        if ctx.actor.role not in allowed:
            raise Forbidden(
                f"role '{ctx.actor.role}' may not override a unit price (allowed: "
                f"{', '.join(sorted(allowed))})",
                field=f"{at}.unit_price",
                role=ctx.actor.role,
            )
        if not is_rounded(edit.unit_price, order.currency):
            raise Invalid(
                f"unit_price {edit.unit_price} has more decimals than {order.currency} allows",
                field=f"{at}.unit_price",
            )
        price = edit.unit_price
    return Line(
        line_id or "",  # the aggregate numbers it when its edit comes
        edit.sku,
        entry.name,
        price,
        entry.tax_class,
        quantity,
        price_override=override,
    )


# --- delivery --------------------------------------------------------------------------------


def change_delivery(cmd: ChangeDelivery, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, cmd.order_id, cmd.expected_version, preview=cmd.preview)
    old = order.delivery
    if cmd.method is None or cmd.method == old.method:
        new = _same_method(cmd, old, uow)
    else:
        new = _new_method(cmd, cmd.method, old, order.currency, uow)
    order.change_delivery(new, uow.reference.tax_rates(new.country), cmd.reason, cmd.settle_to)
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow, preview=cmd.preview)


def _same_method(cmd: ChangeDelivery, old: DeliveryInfo, uow: UnitOfWork) -> DeliveryInfo:
    """A new address or pickup location by the method (and at the fee) the order has, even
    if that method is no longer offered to new orders."""
    if old.pickup_location_id is not None:
        _kind_fits(old.method, "pickup", cmd)
        location = cmd.pickup_location_id or old.pickup_location_id
        return pickup_delivery(location, old.method, old.fee, uow.reference, "data")
    _kind_fits(old.method, "address", cmd)
    if cmd.address is None:
        raise Invalid(f"the order goes by '{old.method}' already: nothing to change", field="data")
    validate_address(cmd.address, "data.address")
    return DeliveryInfo(old.method, cmd.address.country, old.fee, address=cmd.address.model_dump())


def _new_method(
    cmd: ChangeDelivery, method: str, old: DeliveryInfo, currency: str, uow: UnitOfWork
) -> DeliveryInfo:
    """Another method, priced from today's reference data; the address or pickup location
    carries over when the command gives none."""
    kind = uow.reference.delivery_method(method)
    pickup = kind is not None and kind.kind == "pickup"
    _kind_fits(method, "pickup" if pickup else "address", cmd)
    address = cmd.address
    if address is None and not pickup and old.address is not None:
        address = Address.model_validate(old.address)
    location = cmd.pickup_location_id or (old.pickup_location_id if pickup else None)
    return resolve_delivery(
        Delivery.model_construct(method=method, address=address, pickup_location_id=location),
        currency,
        uow.reference,
        at="data",
    )


def _kind_fits(method: str, kind: str, cmd: ChangeDelivery) -> None:
    if kind == "pickup" and cmd.address is not None:
        raise Invalid(
            f"delivery method '{method}' is a pickup method: give a pickup_location_id, "
            "not an address",
            field="data.address",
        )
    if kind == "address" and cmd.pickup_location_id is not None:
        raise Invalid(
            f"delivery method '{method}' delivers to an address: give an address, not a "
            "pickup_location_id",
            field="data.pickup_location_id",
        )


# --- cancel ----------------------------------------------------------------------------------


def cancel_order(cmd: CancelOrder, ctx: Context, uow: UnitOfWork) -> Change:
    order, before = lock(uow, cmd.order_id, cmd.expected_version)
    chosen = [(line.line_id, line.quantity) for line in cmd.lines or []]
    order.cancel(cmd.scope, cmd.reason, cmd.settle_to, chosen)
    order.settle(ctx.now, ctx.ids)
    return record(order, before, ctx, uow)


# --- read ------------------------------------------------------------------------------------


def get_order(query: GetOrder, uow: UnitOfWork) -> dict[str, Any]:
    order = uow.orders.get(query.order_id)
    if order is None:
        raise NotFound(f"order {query.order_id} does not exist", field="data.order_id")
    return order_view(order, uow.ledger.for_order(order.order_id)).model_dump(mode="json")
