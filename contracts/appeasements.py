"""Appeasements: goodwill a helpdesk offers a customer (store credit, or a discount on an
order or a line), approvals of those above the offering role's limits, and their events."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from contracts.common import (
    Amount,
    CommandData,
    Currency,
    Identifier,
    Published,
    ReasonCode,
    Role,
    SettleTo,
)
from contracts.orders import OrderChanged

#: What the customer gets: credit on the billing account, or money off an order (or a line).
AppeasementKind = Literal["store_credit", "discount"]

#: `pending` waits for someone whose limits cover it; the other three are final.
AppeasementStatus = Literal["pending", "granted", "rejected", "expired"]

#: The limits an appeasement is checked against (README, "Appeasements").
LimitName = Literal["per_appeasement", "percent_of_order", "per_order", "per_agent_per_day"]

# --- from helpdesks (ordercare.commands) ---------------------------------------------------


class OfferAppeasement(CommandData):
    """Sent by a helpdesk: offer a customer goodwill. Within the agent's role limits it is
    granted at once; above them it waits (`pending`) for someone whose limits cover it."""

    TYPE: ClassVar[str] = "appeasement.offer"

    appeasement_id: Identifier | None = Field(
        default=None, description="Chosen by the client; generated (apz_…) when absent."
    )
    kind: AppeasementKind
    reason: ReasonCode  # required: money moves
    ticket: str | None = Field(
        default=None, min_length=1, max_length=100, description="The helpdesk ticket, kept."
    )
    account_id: Identifier | None = Field(
        default=None,
        description="store_credit: the billing account credited (required). discount: "
        "optional, must be the order's.",
    )
    order_id: Identifier | None = Field(
        default=None,
        description="discount: the order discounted (required). store_credit: optional "
        "context, an order of that account (counts towards the order's limit).",
    )
    line_id: Identifier | None = Field(
        default=None, description="discount: one line only; the whole order when absent."
    )
    amount: Amount | None = Field(
        default=None,
        gt=0,
        description="store_credit: the credit. discount: a fixed amount in the order's price "
        "terms, like catalogue prices (net of tax, or tax included in a tax-included market). "
        "No more decimals than the currency has.",
    )
    currency: Currency | None = Field(
        default=None,
        description="store_credit: required. discount: optional, must be the order's.",
    )
    percent: Amount | None = Field(
        default=None,
        gt=0,
        le=100,
        description="discount instead of `amount`: percent of the order's (or line's) "
        "current net, rounded half-up to the currency.",
    )
    settle_to: SettleTo = Field(
        default="original_payment",
        description="discount: where the money goes back (store_credit kind: ignored).",
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        if self.kind == "store_credit":
            missing = [f for f in ("account_id", "amount", "currency") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a store_credit appeasement needs {', '.join(missing)}")
            if self.percent is not None or self.line_id is not None:
                raise ValueError("percent and line_id are for discounts, not store_credit")
            return self
        if self.order_id is None:
            raise ValueError("a discount needs the order_id of the order it discounts")
        if (self.amount is None) == (self.percent is None):
            raise ValueError("a discount gives exactly one of amount or percent")
        return self


class ApproveAppeasement(CommandData):
    """Sent by a helpdesk: grant a pending appeasement. Only by someone whose role limits
    cover it, never by the person who offered it, and only before it expires."""

    TYPE: ClassVar[str] = "appeasement.approve"

    appeasement_id: Identifier


class RejectAppeasement(CommandData):
    """Sent by a helpdesk: turn a pending appeasement down (`reason`, and `note` for the
    agent). The same people may reject who may approve."""

    TYPE: ClassVar[str] = "appeasement.reject"

    appeasement_id: Identifier
    reason: ReasonCode


class ExpireAppeasement(CommandData):
    """Sent by OrderCare's sweeper (role system): a pending appeasement was not decided in
    time."""

    TYPE: ClassVar[str] = "appeasement.expire"

    appeasement_id: Identifier


# --- views and events ------------------------------------------------------------------------


class Person(Published):
    """Who offered or decided: an agent id and role (a system for the sweeper)."""

    id: str
    role: Role


class AppeasementView(Published):
    """An appeasement as agents, approvers and the billing-account view see it."""

    appeasement_id: str
    kind: AppeasementKind
    status: AppeasementStatus
    account_id: str
    order_id: str | None = None
    line_id: str | None = None
    currency: Currency
    amount: Amount = Field(
        description="store_credit: the credit. discount: the amount off, in the order's price "
        "terms (a percent converted at the offer)."
    )
    percent: Amount | None = Field(default=None, description="As offered, for a discount.")
    value: Amount = Field(
        description="What the customer gets: the store credit, or the discount's credit "
        "with its tax. What the limits count."
    )
    settle_to: SettleTo | None = Field(default=None, description="discount only.")
    reason: str
    note: str | None = None
    ticket: str | None = None
    offered_by: Person
    offered_at: datetime
    expires_at: datetime | None = Field(default=None, description="Pending ones expire then.")
    decided_by: Person | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    decision_note: str | None = None
    credit_memo_id: str | None = Field(default=None, description="The discount's credit memo.")


class LimitExceeded(Published):
    """One limit a role's own authority stops at, and by how much an appeasement goes past it."""

    limit: LimitName
    role: Role
    cap: Amount = Field(description="The most the role grants alone, in the currency.")
    counted: Amount = Field(
        description="What the limit counts: the value, or the sum with the other granted and "
        "pending appeasements of the order or of the agent's last 24 hours."
    )
    over_by: Amount
    percent: Amount | None = Field(default=None, description="percent_of_order: the percent.")


class DiscountedLine(Published):
    """What a discount took off one line, in the order's price terms."""

    line_id: str
    sku: str
    name: str
    discount: Amount


class OrderDiscounted(OrderChanged):
    """Published by OrderCare when an appeasement discounted an order or a line: the order's
    money, the credit memo (reason `goodwill_discount`) and how it settled."""

    TYPE: ClassVar[str] = "order.discounted"

    appeasement_id: str
    line_id: str | None = None
    discount: Amount = Field(description="Net of tax.")
    lines: list[DiscountedLine]


class AppeasementGranted(Published):
    """Published by OrderCare when an appeasement was granted: at the offer, or on approval
    (`approved_by`)."""

    TYPE: ClassVar[str] = "appeasement.granted"

    appeasement: AppeasementView
    approved_by: Person | None = None


class AppeasementPendingApproval(Published):
    """Published by OrderCare when an appeasement exceeds the offering role's limits: it waits
    for approval until `expires_at`."""

    TYPE: ClassVar[str] = "appeasement.pending_approval"

    appeasement: AppeasementView
    exceeded: list[LimitExceeded]
    expires_at: datetime


class AppeasementRejected(Published):
    """Published by OrderCare when a pending appeasement was turned down."""

    TYPE: ClassVar[str] = "appeasement.rejected"

    appeasement: AppeasementView


class AppeasementExpired(Published):
    """Published by OrderCare when a pending appeasement was not decided in time."""

    TYPE: ClassVar[str] = "appeasement.expired"

    appeasement: AppeasementView
