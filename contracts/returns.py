"""Returns and exchanges: what a helpdesk asks, what a warehouse reports on receipt, and
what OrderCare publishes about it."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from contracts.common import (
    CommandData,
    Identifier,
    PartnerData,
    ReasonCode,
    SettleTo,
    Sku,
    Wire,
)
from contracts.orders import (
    Condition,
    LineView,
    OrderChanged,
    Outcome,
    ReturnMethod,
    ReturnView,
)

# --- from helpdesks (ordercare.commands) ---------------------------------------------------


class ReturnLineRequest(Wire):
    """Shipped units of one line the customer sends back, and why."""

    line_id: Identifier
    quantity: int = Field(ge=1, le=9999)
    reason: ReasonCode = Field(
        description="Why this line comes back; the return-reasons table (README) says whose "
        "fault it is and when an exchange's replacement ships."
    )


class Replacement(Wire):
    """What the customer gets instead of returned units of a line: the same or another SKU."""

    line_id: Identifier = Field(description="The returned line these units replace.")
    sku: Sku
    quantity: int | None = Field(
        default=None, ge=1, le=9999, description="Default: the units returned of that line."
    )


class CreateReturn(CommandData):
    """Sent by a helpdesk: authorise a return of shipped units, or an exchange (with
    `replacements`)."""

    TYPE: ClassVar[str] = "return.create"

    order_id: Identifier
    return_id: Identifier | None = Field(
        default=None, description="Chosen by the client; generated (rma_…) when absent."
    )
    lines: list[ReturnLineRequest] = Field(min_length=1, max_length=200)
    method: ReturnMethod = "carrier_label"
    replacements: list[Replacement] = Field(default_factory=list, max_length=200)
    override_window: bool = Field(
        default=False,
        description="A manager authorises units whose return window has closed; `reason` "
        "and `note` say why.",
    )
    settle_to: SettleTo = "original_payment"

    @model_validator(mode="after")
    def _one_entry_per_line(self) -> CreateReturn:
        seen = [line.line_id for line in self.lines]
        if len(seen) != len(set(seen)):
            raise ValueError("each line may appear once in `lines`")
        return self


class CancelReturn(CommandData):
    """Sent by a helpdesk: the customer keeps the units after all (nothing received yet)."""

    TYPE: ClassVar[str] = "return.cancel"

    order_id: Identifier
    return_id: Identifier


class Decision(Wire):
    """A manager's verdict on received units that the verification rules leave to a person."""

    line_id: Identifier
    condition: Condition
    outcome: Outcome
    quantity: int | None = Field(
        default=None, ge=1, le=9999, description="Default: every unit awaiting this decision."
    )


class DecideReturn(CommandData):
    """Sent by a helpdesk (a manager): decide units awaiting a decision."""

    TYPE: ClassVar[str] = "return.decide"

    order_id: Identifier
    return_id: Identifier
    decisions: list[Decision] = Field(min_length=1, max_length=200)
    settle_to: SettleTo = "original_payment"


class ExpireReturn(CommandData):
    """Sent by OrderCare's sweeper: a return's parcel did not arrive by its due date."""

    TYPE: ClassVar[str] = "return.expire"

    order_id: Identifier
    return_id: Identifier


# --- from warehouses (ordercare.warehouse) -------------------------------------------------


class ReceivedUnits(Wire):
    """Units of one line found in the parcel in one condition."""

    condition: Condition
    quantity: int = Field(ge=1, le=9999)


class ReceivedLine(Wire):
    """What arrived of one line."""

    line_id: Identifier
    sku: Sku
    units: list[ReceivedUnits] = Field(min_length=1, max_length=10)


class ReturnReceived(PartnerData):
    """Sent by a warehouse: the parcel of a return arrived; the condition of every unit.
    Authorised units the message does not mention count as missing."""

    TYPE: ClassVar[str] = "warehouse.return_received"

    order_id: Identifier
    return_id: Identifier
    warehouse: Identifier
    lines: list[ReceivedLine] = Field(max_length=200)


# --- views and events ------------------------------------------------------------------------


class ReturnChanged(OrderChanged):
    """Every return event: the order's money (old and new totals, settlement) and the return."""

    rma: ReturnView = Field(description="The return authorisation as it now stands.")


class ReturnAuthorized(ReturnChanged):
    """Published by OrderCare when a return was authorised."""

    TYPE: ClassVar[str] = "return.authorized"


class ExchangeCreated(ReturnChanged):
    """Published by OrderCare when a return came with replacements: the new lines, and one
    netted settlement of the price difference."""

    TYPE: ClassVar[str] = "exchange.created"

    replacements: list[LineView]


class ReturnReceivedEvent(ReturnChanged):
    """Published by OrderCare when a return's parcel was received and verified."""

    TYPE: ClassVar[str] = "return.received"


class ReturnDecided(ReturnChanged):
    """Published by OrderCare when a manager decided units awaiting a decision."""

    TYPE: ClassVar[str] = "return.decided"


class ReturnCancelled(ReturnChanged):
    """Published by OrderCare when a return was cancelled before anything arrived."""

    TYPE: ClassVar[str] = "return.cancelled"


class ReturnExpired(ReturnChanged):
    """Published by OrderCare when a return's parcel did not arrive in time: units credited
    in advance are charged again."""

    TYPE: ClassVar[str] = "return.expired"
