"""Order command and query handlers: load, call the aggregate, settle, record.

Every change follows one shape (`apply_change`): lock the order, remember it as it was,
change it, price it again and settle the difference, take one version step, save it with
its money documents, and describe it in events and audit rows. A preview does all of that
but the saving, and answers with what would have been published.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from contracts.common import Address, SettleTo
from contracts.orders import (
    AddLine,
    AmendOrder,
    CancelOrder,
    ChangeDelivery,
    CreateOrder,
    Delivery,
    GetOrder,
    OrderAmended,
    OrderCancelled,
    OrderCreated,
    OrderDeliveryChanged,
    RemoveLine,
    ReplaceLine,
    SetQuantity,
)
from services.addresses import validate_address
from services.context import AuditEntry, Change, Context
from services.errors import AlreadyExists, Forbidden, Invalid, NotAllowedInState, NotFound
from services.money import check_currency, is_rounded
from services.orders import events
from services.orders.events import Before
from services.orders.model import DeliveryInfo, Edited, Line, Order
from services.orders.placing import (
    build_lines,
    catalog_price,
    payment_facts,
    pickup_delivery,
    resolve_delivery,
)
from services.orders.settlement import SHIPPING, Reason, Settlement
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
    )
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


# --- the shape of every order change -------------------------------------------------------

Describe = Callable[[Order, Before, Settlement], BaseModel]


def apply_change(
    order_id: str,
    ctx: Context,
    uow: UnitOfWork,
    change: Callable[[Order], dict[str, Reason]],
    default_reason: Reason,
    describe: Describe,
    *,
    expected_version: int | None = None,
    settle_to: SettleTo | Callable[[Order], SettleTo] = "original_payment",
    preview: bool = False,
    net: bool = False,
) -> Change:
    """Lock, change, settle, step the version, save, describe. `change` mutates the order and
    returns the credit/debit reason per line it touched; `describe` builds the main event."""
    order = uow.orders.get(order_id) if preview else uow.orders.get_for_update(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="data.order_id")
    order.check_version(expected_version)
    before = Before.of(order)
    reasons = change(order)
    settlement = order.settle(
        before.priced,
        reasons=reasons,
        default_reason=default_reason,
        settle_to=settle_to(order) if callable(settle_to) else settle_to,
        now=ctx.now,
        ids=ctx.ids,
        net=net,
    )
    order.finish(ctx.now)
    main = describe(order, before, settlement)
    produced = [
        main,
        *events.money_events(order, settlement),
        *events.fulfillment_changed(order, ctx.command_type, before),
    ]
    if preview:
        return Change(
            order.order_id, before.version, events.preview_result(order, before, produced)
        )
    uow.orders.save(order)
    record_settlement(order, settlement, ctx, uow)
    after = events.audit_state(order)
    edits = getattr(main, "changes", None)
    if edits:
        after["changes"] = [e.model_dump(mode="json", exclude_defaults=True) for e in edits]
    return Change(
        order.order_id,
        order.version,
        events.change_result(main),  # type: ignore[arg-type]
        produced,
        [
            AuditEntry("order", order.order_id, getattr(main, "TYPE"), before.audit, after),  # noqa: B009
            *events.settlement_audit(order, settlement),
        ],
    )


def record_step(
    order: Order,
    before: dict[str, Any],
    ctx: Context,
    uow: UnitOfWork,
    describe: Callable[[], tuple[dict[str, Any], list[BaseModel]]],
) -> Change:
    """A change that moves no money by itself (a shipment, a backorder, a capture): one
    version step, saved; `describe` gives the result and events of the stepped order; the
    audit keeps the order before and after."""
    order.finish(ctx.now)
    uow.orders.save(order)
    result, produced = describe()
    after = events.audit_state(order)
    audit = AuditEntry("order", order.order_id, ctx.command_type, before, after)
    return Change(order.order_id, order.version, result, produced, [audit])


def record_settlement(order: Order, settlement: Settlement, ctx: Context, uow: UnitOfWork) -> None:
    """Write a settlement's money documents: invoice, credit memos, refunds, store credit."""
    if settlement.invoice:
        uow.ledger.add_invoice(settlement.invoice, ctx.command_id)
    for memo in settlement.credit_memos:
        uow.ledger.add_credit_memo(memo, ctx.command_id)
    for refund in settlement.refunds:
        uow.ledger.add_refund(refund, ctx.command_id)
        if refund.method == "store_credit":
            uow.ledger.add_store_credit(order.account_id, refund, ctx.command_id)


# --- amend -----------------------------------------------------------------------------------

_REASONS: dict[str, Reason] = {
    "added": ("line_added", "line_added"),
    "removed": ("line_removed", "line_removed"),
    "replaced": ("cheaper_replacement", "dearer_replacement"),
    "quantity_changed": ("quantity_reduced", "quantity_increased"),
}


def amend_order(cmd: AmendOrder, ctx: Context, uow: UnitOfWork) -> Change:
    edits: list[Edited] = []

    def change(order: Order) -> dict[str, Reason]:
        skus = {c.sku for c in cmd.changes if isinstance(c, AddLine | ReplaceLine)}
        entries = uow.catalog.get_many(skus) if skus else {}
        # Shipping changes only when the last live unit goes (or the first comes back).
        reasons: dict[str, Reason] = {SHIPPING: ("shipping_change", "shipping_change")}
        for n, edit in enumerate(cmd.changes):
            at = f"data.changes.{n}"
            if isinstance(edit, AddLine):
                line = _new_line(order, edit, edit.quantity, edit.line_id, entries, ctx, at)
                done = order.add_line(line, at)
            elif isinstance(edit, RemoveLine):
                done = order.remove_line(edit.line_id, f"{at}.line_id")
            elif isinstance(edit, ReplaceLine):
                quantity = edit.quantity or order.line(edit.line_id, f"{at}.line_id").quantity
                line = _new_line(order, edit, quantity, edit.new_line_id, entries, ctx, at)
                done = order.replace_line(edit.line_id, line, f"{at}.line_id")
            else:
                assert isinstance(edit, SetQuantity)
                done = order.set_quantity(edit.line_id, edit.quantity, at)
            reasons[done.replaces or done.line_id] = _REASONS[done.action]
            edits.append(done)
        return reasons

    def describe(order: Order, before: Before, settlement: Settlement) -> OrderAmended:
        return events.order_amended(order, cmd.reason, edits, before, settlement)

    return apply_change(
        cmd.order_id,
        ctx,
        uow,
        change,
        ("amendment", "amendment"),
        describe,
        expected_version=cmd.expected_version,
        settle_to=cmd.settle_to,
        preview=cmd.preview,
    )


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
        line_id or order.next_line_id(),
        edit.sku,
        entry.name,
        price,
        entry.tax_class,
        quantity,
        price_override=override,
    )


# --- delivery --------------------------------------------------------------------------------


def change_delivery(cmd: ChangeDelivery, ctx: Context, uow: UnitOfWork) -> Change:
    def change(order: Order) -> dict[str, Reason]:
        old = order.delivery
        if cmd.method is None or cmd.method == old.method:
            new = _same_method(cmd, old, uow)
        else:
            new = _new_method(cmd, cmd.method, old, order.currency, uow)
        order.change_delivery(new, uow.reference.tax_rates(new.country))
        return {}

    def describe(order: Order, before: Before, settlement: Settlement) -> OrderDeliveryChanged:
        return events.order_delivery_changed(order, cmd.reason, before, settlement)

    return apply_change(
        cmd.order_id,
        ctx,
        uow,
        change,
        ("shipping_change", "shipping_change"),
        describe,
        expected_version=cmd.expected_version,
        settle_to=cmd.settle_to,
        preview=cmd.preview,
    )


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
    edits: list[Edited] = []

    def change(order: Order) -> dict[str, Reason]:
        if cmd.scope == "lines":
            for n, chosen in enumerate(cmd.lines or []):
                edits.append(
                    order.cancel_units(chosen.line_id, chosen.quantity, field=f"data.lines.{n}")
                )
        else:
            edits.extend(order.cancel(cmd.scope))
        return {}

    def describe(order: Order, before: Before, settlement: Settlement) -> OrderCancelled:
        return events.order_cancelled(order, cmd.reason, cmd.scope, edits, before, settlement)

    return apply_change(
        cmd.order_id,
        ctx,
        uow,
        change,
        ("cancellation", "cancellation"),
        describe,
        expected_version=cmd.expected_version,
        settle_to=cmd.settle_to,
    )


# --- read ------------------------------------------------------------------------------------


def get_order(query: GetOrder, uow: UnitOfWork) -> dict[str, Any]:
    order = uow.orders.get(query.order_id)
    if order is None:
        raise NotFound(f"order {query.order_id} does not exist", field="data.order_id")
    return order_view(order, uow.ledger.for_order(order.order_id)).model_dump(mode="json")


def locked(order_id: str, uow: UnitOfWork) -> Order:
    """The order, locked until the unit of work ends, or a rejection."""
    order = uow.orders.get_for_update(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="data.order_id")
    return order
