"""Which message types exist, and the model of each. The AsyncAPI document is built from here."""

from __future__ import annotations

from pydantic import BaseModel

from contracts.accounts import CreateBillingAccount
from contracts.catalog import UpsertCatalog
from contracts.common import CommandData, QueryData
from contracts.orders import (
    CancelOrder,
    CreateOrder,
    CreditMemoIssued,
    GetOrder,
    OrderCancelled,
    OrderCreated,
    RefundRequested,
)
from contracts.outcomes import CommandAccepted, CommandRejected

#: Commands consumed from the commands exchange, by CloudEvents type (= routing key).
COMMANDS: dict[str, type[CommandData]] = {
    m.TYPE: m for m in (UpsertCatalog, CreateBillingAccount, CreateOrder, CancelOrder)
}

#: Queries: answered on reply_to only, never recorded or published as events.
QUERIES: dict[str, type[QueryData]] = {m.TYPE: m for m in (GetOrder,)}

#: Events published on the events exchange.
EVENTS: dict[str, type[BaseModel]] = {
    m.TYPE: m
    for m in (
        CommandAccepted,
        CommandRejected,
        OrderCreated,
        OrderCancelled,
        CreditMemoIssued,
        RefundRequested,
    )
}
