"""Which message types exist, and the model of each. The AsyncAPI document is built from here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from contracts.accounts import (
    BillingAccountUpdated,
    CreateBillingAccount,
    EraseBillingAccount,
    GetBillingAccount,
    SearchBillingAccounts,
    UpdateBillingAccount,
)
from contracts.appeasements import (
    AppeasementExpired,
    AppeasementGranted,
    AppeasementPendingApproval,
    AppeasementRejected,
    ApproveAppeasement,
    ExpireAppeasement,
    OfferAppeasement,
    OrderDiscounted,
    RejectAppeasement,
)
from contracts.audit import GetAuditTrail
from contracts.catalog import UpsertCatalog
from contracts.common import Inbound, QueryData
from contracts.fulfillment import (
    Backordered,
    Delivered,
    FulfillmentChanged,
    LineBackordered,
    LineShortPicked,
    OrderDelivered,
    OrderShipped,
    Shipped,
    ShortPicked,
)
from contracts.notifications import CustomerNotificationFailed, CustomerNotified
from contracts.orders import (
    AmendOrder,
    AuthorizationReduced,
    BalanceDue,
    CancelOrder,
    ChangeDelivery,
    CreateOrder,
    CreditMemoIssued,
    GetOrder,
    OrderAmended,
    OrderCancelled,
    OrderCreated,
    OrderDeliveryChanged,
    PaymentCaptured,
    RefundFailed,
    RefundRequested,
    RefundSettled,
    RetryRefund,
)
from contracts.outcomes import CommandAccepted, CommandRejected
from contracts.payments import Captured, RefundConfirmed, RefundDeclined
from contracts.returns import (
    CancelReturn,
    CreateReturn,
    DecideReturn,
    ExchangeCreated,
    ExpireReturn,
    ReturnAuthorized,
    ReturnCancelled,
    ReturnDecided,
    ReturnExpired,
    ReturnReceived,
    ReturnReceivedEvent,
)

Origin = Literal["commands", "warehouse", "payments"]

#: Messages that change something, by CloudEvents type (= routing key), with the exchange
#: each must arrive on: a type travels only on its own publishers' exchange.
_INBOUND: dict[Origin, tuple[type[Inbound], ...]] = {
    "commands": (
        UpsertCatalog,
        CreateBillingAccount,
        UpdateBillingAccount,
        EraseBillingAccount,
        CreateOrder,
        AmendOrder,
        ChangeDelivery,
        CancelOrder,
        RetryRefund,
        CreateReturn,
        CancelReturn,
        DecideReturn,
        ExpireReturn,
        OfferAppeasement,
        ApproveAppeasement,
        RejectAppeasement,
        ExpireAppeasement,
    ),
    "warehouse": (ShortPicked, Backordered, Shipped, Delivered, ReturnReceived),
    "payments": (RefundConfirmed, RefundDeclined, Captured),
}
COMMANDS: dict[str, type[Inbound]] = {m.TYPE: m for ms in _INBOUND.values() for m in ms}
ORIGINS: dict[str, Origin] = {m.TYPE: o for o, ms in _INBOUND.items() for m in ms}

#: Queries: answered on reply_to only, never recorded or published as events.
QUERIES: dict[str, type[QueryData]] = {
    m.TYPE: m for m in (GetOrder, SearchBillingAccounts, GetBillingAccount, GetAuditTrail)
}

#: Events published on the events exchange.
EVENTS: dict[str, type[BaseModel]] = {
    m.TYPE: m
    for m in (
        CommandAccepted,
        CommandRejected,
        OrderCreated,
        OrderAmended,
        OrderDeliveryChanged,
        OrderCancelled,
        CreditMemoIssued,
        RefundRequested,
        RefundSettled,
        RefundFailed,
        BalanceDue,
        PaymentCaptured,
        AuthorizationReduced,
        FulfillmentChanged,
        LineShortPicked,
        LineBackordered,
        OrderShipped,
        OrderDelivered,
        ReturnAuthorized,
        ExchangeCreated,
        ReturnReceivedEvent,
        ReturnDecided,
        ReturnCancelled,
        ReturnExpired,
        OrderDiscounted,
        AppeasementGranted,
        AppeasementPendingApproval,
        AppeasementRejected,
        AppeasementExpired,
        CustomerNotified,
        CustomerNotificationFailed,
        BillingAccountUpdated,
    )
}
