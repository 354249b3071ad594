"""The two explicit maps from message type to handler, and who may send each."""

from __future__ import annotations

from contracts.accounts import (
    CreateBillingAccount,
    GetBillingAccount,
    SearchBillingAccounts,
    UpdateBillingAccount,
)
from contracts.appeasements import (
    ApproveAppeasement,
    ExpireAppeasement,
    OfferAppeasement,
    RejectAppeasement,
)
from contracts.audit import GetAuditTrail
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
from contracts.returns import (
    CancelReturn,
    CreateReturn,
    DecideReturn,
    ExpireReturn,
    ReturnReceived,
)
from services.accounts.handlers import (
    create_account,
    get_account,
    search_accounts,
    update_account,
)
from services.appeasements import handlers as appeasements
from services.audit.handlers import get_audit_trail
from services.catalog.handlers import upsert_catalog
from services.context import CommandHandler, QueryHandler
from services.errors import Forbidden
from services.orders import fulfillment, payments, return_handlers
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
    UpdateBillingAccount.TYPE: update_account,
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
    CreateReturn.TYPE: return_handlers.create_return,
    CancelReturn.TYPE: return_handlers.cancel_return,
    DecideReturn.TYPE: return_handlers.decide_return,
    ExpireReturn.TYPE: return_handlers.expire_return,
    ReturnReceived.TYPE: return_handlers.return_received,
    OfferAppeasement.TYPE: appeasements.offer_appeasement,
    ApproveAppeasement.TYPE: appeasements.approve_appeasement,
    RejectAppeasement.TYPE: appeasements.reject_appeasement,
    ExpireAppeasement.TYPE: appeasements.expire_appeasement,
}

QUERY_HANDLERS: dict[str, QueryHandler] = {
    GetOrder.TYPE: get_order,
    SearchBillingAccounts.TYPE: search_accounts,
    GetBillingAccount.TYPE: get_account,
    GetAuditTrail.TYPE: get_audit_trail,
}

_EVERYONE = frozenset({"agent", "supervisor", "manager", "system"})
#: Partner systems: their broker user may publish only their own types (definitions.json).
_SYSTEM = frozenset({"system"})
_PEOPLE = frozenset({"agent", "supervisor", "manager"})

#: Roles allowed to send each type; the catalogue is the storefront's or a manager's.
ALLOWED_ROLES: dict[str, frozenset[str]] = {
    UpsertCatalog.TYPE: frozenset({"system", "manager"}),
    CreateBillingAccount.TYPE: _EVERYONE,
    UpdateBillingAccount.TYPE: _EVERYONE,
    SearchBillingAccounts.TYPE: _EVERYONE,
    GetBillingAccount.TYPE: _EVERYONE,
    GetAuditTrail.TYPE: _EVERYONE,
    CreateOrder.TYPE: _EVERYONE,
    AmendOrder.TYPE: _EVERYONE,
    ChangeDelivery.TYPE: _EVERYONE,
    CancelOrder.TYPE: _EVERYONE,
    RetryRefund.TYPE: _EVERYONE,
    GetOrder.TYPE: _EVERYONE,
    CreateReturn.TYPE: _EVERYONE,
    CancelReturn.TYPE: _EVERYONE,
    #: Units the verification rules leave to a person are a manager's call.
    DecideReturn.TYPE: frozenset({"manager"}),
    #: Sent by OrderCare's own sweeper when a return's parcel is overdue.
    ExpireReturn.TYPE: _SYSTEM,
    #: People offer and decide goodwill (their role limits apply); the sweeper expires it.
    **{
        t: _PEOPLE for t in (OfferAppeasement.TYPE, ApproveAppeasement.TYPE, RejectAppeasement.TYPE)
    },
    ExpireAppeasement.TYPE: _SYSTEM,
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
            ReturnReceived.TYPE,
        )
    },
}


def authorize(message_type: str, actor: Actor) -> None:
    """Refuse an actor whose role may not send this message type."""
    if actor.role not in ALLOWED_ROLES.get(message_type, frozenset()):
        raise Forbidden(f"role '{actor.role}' may not send {message_type}", role=actor.role)
