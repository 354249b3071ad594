"""The two explicit maps from message type to handler, and who may send each."""

from __future__ import annotations

from contracts.accounts import CreateBillingAccount
from contracts.catalog import UpsertCatalog
from contracts.common import Actor
from contracts.orders import CancelOrder, CreateOrder, GetOrder
from services.accounts.handlers import create_account
from services.catalog.handlers import upsert_catalog
from services.errors import Forbidden
from services.handling import CommandHandler, QueryHandler
from services.orders.handlers import cancel_order, create_order, get_order

COMMAND_HANDLERS: dict[str, CommandHandler] = {
    UpsertCatalog.TYPE: upsert_catalog,
    CreateBillingAccount.TYPE: create_account,
    CreateOrder.TYPE: create_order,
    CancelOrder.TYPE: cancel_order,
}

QUERY_HANDLERS: dict[str, QueryHandler] = {
    GetOrder.TYPE: get_order,
}

_EVERYONE = frozenset({"agent", "supervisor", "manager", "system"})

#: Roles allowed to send each type; the catalogue is the storefront's or a manager's.
ALLOWED_ROLES: dict[str, frozenset[str]] = {
    UpsertCatalog.TYPE: frozenset({"system", "manager"}),
    CreateBillingAccount.TYPE: _EVERYONE,
    CreateOrder.TYPE: _EVERYONE,
    CancelOrder.TYPE: _EVERYONE,
    GetOrder.TYPE: _EVERYONE,
}


def authorize(message_type: str, actor: Actor) -> None:
    """Refuse an actor whose role may not send this message type."""
    if actor.role not in ALLOWED_ROLES.get(message_type, frozenset()):
        raise Forbidden(f"role '{actor.role}' may not send {message_type}", role=actor.role)
