"""The two explicit maps from message type to handler, and who may send each."""

from __future__ import annotations

from contracts.accounts import CreateBillingAccount
from contracts.catalog import UpsertCatalog
from contracts.common import Actor
from contracts.fulfillment import Backordered, Delivered, Shipped, ShortPicked
from contracts.orders import (
    AmendOrder,
    CancelOrder,
    ChangeDelivery,
    CreateOrder,
    GetOrder,
    RetryRefund,
)
from contracts.payments import Captured, RefundConfirmed, RefundDeclined
from services.accounts.handlers import create_account
from services.catalog.handlers import upsert_catalog
from services.errors import Forbidden
from services.handling import CommandHandler, QueryHandler
from services.orders import fulfillment, payments
from services.orders.handlers import (
    amend_order,
    cancel_order,
    change_delivery,
    create_order,
    get_order,
)

COMMAND_HANDLERS: dict[str, CommandHandler] = {
    UpsertCatalog.TYPE: upsert_catalog,
    CreateBillingAccount.TYPE: create_account,
    CreateOrder.TYPE: create_order,
    AmendOrder.TYPE: amend_order,
    ChangeDelivery.TYPE: change_delivery,
    CancelOrder.TYPE: cancel_order,
    RetryRefund.TYPE: payments.retry_refund,
    ShortPicked.TYPE: fulfillment.short_picked,
    Backordered.TYPE: fulfillment.backordered,
    Shipped.TYPE: fulfillment.shipped,
    Delivered.TYPE: fulfillment.delivered,
    RefundConfirmed.TYPE: payments.refund_settled,
    RefundDeclined.TYPE: payments.refund_failed,
    Captured.TYPE: payments.captured,
}

QUERY_HANDLERS: dict[str, QueryHandler] = {
    GetOrder.TYPE: get_order,
}

_EVERYONE = frozenset({"agent", "supervisor", "manager", "system"})
#: Partner systems: their broker user may publish only their own types (definitions.json).
_SYSTEM = frozenset({"system"})

#: Roles allowed to send each type; the catalogue is the storefront's or a manager's.
ALLOWED_ROLES: dict[str, frozenset[str]] = {
    UpsertCatalog.TYPE: frozenset({"system", "manager"}),
    CreateBillingAccount.TYPE: _EVERYONE,
    CreateOrder.TYPE: _EVERYONE,
    AmendOrder.TYPE: _EVERYONE,
    ChangeDelivery.TYPE: _EVERYONE,
    CancelOrder.TYPE: _EVERYONE,
    RetryRefund.TYPE: _EVERYONE,
    GetOrder.TYPE: _EVERYONE,
    **{
        t: _SYSTEM
        for t in (
            ShortPicked.TYPE,
            Backordered.TYPE,
            Shipped.TYPE,
            Delivered.TYPE,
            RefundConfirmed.TYPE,
            RefundDeclined.TYPE,
            Captured.TYPE,
        )
    },
}


def authorize(message_type: str, actor: Actor) -> None:
    """Refuse an actor whose role may not send this message type."""
    if actor.role not in ALLOWED_ROLES.get(message_type, frozenset()):
        raise Forbidden(f"role '{actor.role}' may not send {message_type}", role=actor.role)
