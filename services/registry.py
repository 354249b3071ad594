"""The explicit tables from message type to handler and the roles that may send it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from contracts.accounts import (
    CreateBillingAccount,
    EraseBillingAccount,
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
from services.accounts.erasure import erase_account
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

_EVERYONE = frozenset({"agent", "supervisor", "manager", "system"})
#: Partner systems: their broker user may publish only their own types (definitions.json).
_SYSTEM = frozenset({"system"})
_PEOPLE = frozenset({"agent", "supervisor", "manager"})
#: The catalogue is the storefront's or a manager's.
_CATALOGUE = frozenset({"system", "manager"})
#: Units the verification rules leave to a person are a manager's call.
_MANAGER = frozenset({"manager"})

H = TypeVar("H", CommandHandler, QueryHandler)


@dataclass(frozen=True, slots=True)
class Route(Generic[H]):
    """Who handles a message type, and which roles may send it."""

    handler: H
    roles: frozenset[str]


#: command type -> handler and roles: the one table (a test checks it against the contract).
COMMAND_HANDLERS: dict[str, Route[CommandHandler]] = {
    UpsertCatalog.TYPE: Route(upsert_catalog, _CATALOGUE),
    CreateBillingAccount.TYPE: Route(create_account, _EVERYONE),
    UpdateBillingAccount.TYPE: Route(update_account, _EVERYONE),
    # A customer's request to erase their personal data: a care manager's decision.
    EraseBillingAccount.TYPE: Route(erase_account, _MANAGER),
    CreateOrder.TYPE: Route(create_order, _EVERYONE),
    AmendOrder.TYPE: Route(amend_order, _EVERYONE),
    ChangeDelivery.TYPE: Route(change_delivery, _EVERYONE),
    CancelOrder.TYPE: Route(cancel_order, _EVERYONE),
    RetryRefund.TYPE: Route(payments.retry_refund, _EVERYONE),
    # What warehouses and the payment service report.
    ShortPicked.TYPE: Route(fulfillment.short_picked, _SYSTEM),
    Backordered.TYPE: Route(fulfillment.backordered, _SYSTEM),
    Shipped.TYPE: Route(fulfillment.shipped, _SYSTEM),
    Delivered.TYPE: Route(fulfillment.delivered, _SYSTEM),
    RefundConfirmed.TYPE: Route(payments.refund_settled, _SYSTEM),
    RefundDeclined.TYPE: Route(payments.refund_failed, _SYSTEM),
    Captured.TYPE: Route(payments.captured, _SYSTEM),
    CreateReturn.TYPE: Route(return_handlers.create_return, _EVERYONE),
    CancelReturn.TYPE: Route(return_handlers.cancel_return, _EVERYONE),
    DecideReturn.TYPE: Route(return_handlers.decide_return, _MANAGER),
    #: Sent by OrderCare's own sweeper when a return's parcel is overdue.
    ExpireReturn.TYPE: Route(return_handlers.expire_return, _SYSTEM),
    ReturnReceived.TYPE: Route(return_handlers.return_received, _SYSTEM),
    # People offer and decide goodwill (their role limits apply); the sweeper expires it.
    OfferAppeasement.TYPE: Route(appeasements.offer_appeasement, _PEOPLE),
    ApproveAppeasement.TYPE: Route(appeasements.approve_appeasement, _PEOPLE),
    RejectAppeasement.TYPE: Route(appeasements.reject_appeasement, _PEOPLE),
    ExpireAppeasement.TYPE: Route(appeasements.expire_appeasement, _SYSTEM),
}

#: query type -> handler and roles.
QUERY_HANDLERS: dict[str, Route[QueryHandler]] = {
    GetOrder.TYPE: Route(get_order, _EVERYONE),
    SearchBillingAccounts.TYPE: Route(search_accounts, _EVERYONE),
    GetBillingAccount.TYPE: Route(get_account, _EVERYONE),
    GetAuditTrail.TYPE: Route(get_audit_trail, _EVERYONE),
}


def roles(message_type: str) -> frozenset[str]:
    """Who may send a message type (nobody, for a type no table names)."""
    route = COMMAND_HANDLERS.get(message_type) or QUERY_HANDLERS.get(message_type)
    return route.roles if route else frozenset()


def authorize(message_type: str, actor: Actor) -> None:
    """Refuse an actor whose role may not send this message type."""
    if actor.role not in roles(message_type):
        raise Forbidden(f"role '{actor.role}' may not send {message_type}", role=actor.role)
