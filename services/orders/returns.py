"""Returns and exchanges of an order's shipped units: the RMA entity and its rules.

A return authorisation (RMA) names shipped units, a reason per line and how the parcel comes
back. On receipt the warehouse reports each unit's condition, and the verification table
decides what it refunds; units a person must judge wait for a manager's decision. An
exchange is a return with replacement lines: the returned units are credited at once, so
the price difference nets into one settlement, and whatever does not come back (or comes
back refused) is charged again. README.md shows the tables below.

The order changes through its own methods (`Order.authorize_return`, `receive_return`,
`decide_return`, `close_return`): accepted units leave a line's `charged` units
(`Line.returned`), a restocking fee or return label is a `Charge` on the order, and the
original shipping is dropped (`Order.shipping_refunded`) when the policy says so. This
module holds what a return is and the tables those methods read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from contracts.common import SettleTo
from contracts.orders import Condition, Outcome, ReturnMethod, ReturnStatus
from services.errors import NotFound
from services.orders.settlement import Reason


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a unit in one condition refunds, and whether a manager must decide it first."""

    outcome: Outcome
    manager: bool
    why: str


#: condition -> verdict. The only place the verification rules are written.
VERIFICATION: dict[Condition, Verdict] = {
    "resellable": Verdict("full", False, "back in stock as sold: refunded in full"),
    "damaged_in_transit": Verdict(
        "full", False, "the carrier's damage, not the customer's: refunded in full"
    ),
    "damaged_by_customer": Verdict("restocking_fee", False, "refunded less the restocking fee"),
    "wrong_item": Verdict(
        "none", True, "not the item sold: nothing is refunded unless a manager decides otherwise"
    ),
    "missing": Verdict("none", False, "not in the parcel: nothing to refund"),
}

Fault = Literal["merchant", "customer"]


@dataclass(frozen=True, slots=True)
class ReturnReason:
    """Whose fault a return reason is, and when an exchange's replacement ships."""

    fault: Fault
    exchange: Literal["advance", "after_receipt"]


#: reason code -> policy. The merchant's faults ship the replacement at once and return free.
RETURN_REASONS: dict[str, ReturnReason] = {
    "damaged": ReturnReason("merchant", "advance"),
    "defective": ReturnReason("merchant", "advance"),
    "wrong_item_sent": ReturnReason("merchant", "advance"),
    "not_as_described": ReturnReason("merchant", "after_receipt"),
    "wrong_size": ReturnReason("customer", "advance"),
    "changed_mind": ReturnReason("customer", "after_receipt"),
    "no_longer_needed": ReturnReason("customer", "after_receipt"),
}

#: The return shipping policy, as README states it.
SHIPPING_POLICY = (
    "A prepaid label (`carrier_label`) is free when any returned line's reason is the "
    "merchant's fault and for every exchange; otherwise its cost (the order currency's fee "
    "of the `standard` delivery method) is deducted from the refund, once per return and "
    "only when the return refunds at least that much. `drop_off` (the customer posts it) and "
    "`in_store` cost the customer nothing here. The original shipping is refunded when a "
    "return leaves nothing of the order charged and one of its reasons is the merchant's "
    "fault."
)

RETURN: Reason = ("return", "return_not_accepted")
EXCHANGE: Reason = ("exchange_return", "exchange_replacement")


@dataclass(slots=True)
class ReturnLine:
    """One line of a return: units authorised, what arrived in which condition, and how
    each was settled."""

    line_id: str
    sku: str
    quantity: int
    reason: str
    received: dict[str, int] = field(default_factory=dict)
    refunded: int = 0
    restocking_fee: int = 0
    refused: int = 0
    missing: int = 0
    awaiting: dict[str, int] = field(default_factory=dict)
    #: Units an exchange credited when it was created.
    credited_in_advance: int = 0
    #: Of those, the ones no receipt or decision has settled yet.
    advance_left: int = 0

    @property
    def back(self) -> int:
        """Units that physically came back (in any condition but missing)."""
        return sum(n for c, n in self.received.items() if c != "missing")

    @property
    def outstanding(self) -> int:
        """Units authorised that no parcel has brought yet (nor the return's end counted
        missing)."""
        return self.quantity - sum(self.received.values())


@dataclass(slots=True)
class Return:
    """A return authorisation (RMA)."""

    return_id: str
    status: ReturnStatus
    method: ReturnMethod
    lines: list[ReturnLine]
    created_at: datetime
    return_by: datetime
    replacement_line_ids: list[str] = field(default_factory=list)
    advance: bool = False
    window_override: bool = False
    received_at: datetime | None = None
    exceptions: list[dict[str, object]] = field(default_factory=list)
    settle_to: SettleTo = "original_payment"
    #: What an exchange's credit memo would have paid out at once (its price difference),
    #: as (credit memo, amount): held until no unit it credited in advance is still to come.
    held_refunds: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def exchange(self) -> bool:
        return bool(self.replacement_line_ids)

    @property
    def outstanding(self) -> int:
        return sum(rl.outstanding for rl in self.lines)

    @property
    def expecting(self) -> bool:
        """Whether a parcel may still bring units of it: not closed, and units are still to
        come (until `return_by`, when the sweeper expires what is left)."""
        return self.status not in ("cancelled", "expired") and self.outstanding > 0

    def line(self, line_id: str, at: str) -> ReturnLine:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise NotFound(f"return {self.return_id} has no line {line_id}", field=at)

    def keep_exception(self, unit: Arrived, why: str) -> None:
        """Units that arrived but were not authorised: kept for a person to look at."""
        self.exceptions.append(
            {
                "line_id": unit.line_id,
                "sku": unit.sku,
                "condition": unit.condition,
                "quantity": unit.quantity,
                "why": why,
            }
        )

    def reasons(self) -> dict[str, Reason]:
        """The credit/debit reason of each line the return settles."""
        reason = EXCHANGE if self.exchange else RETURN
        reasons: dict[str, Reason] = {rl.line_id: reason for rl in self.lines}
        for line_id in self.replacement_line_ids:
            reasons[line_id] = EXCHANGE
        return reasons


@dataclass(frozen=True, slots=True)
class Requested:
    """Units of a line asked back (from the command)."""

    line_id: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class Arrived:
    """Units of a line found in the parcel in one condition (from the warehouse message)."""

    line_id: str
    sku: str
    condition: Condition
    quantity: int


def markdown() -> str:
    """The verification and return-reason tables as README.md shows them."""
    rows = [
        "| condition | refunds | manager decides | rule |",
        "| --- | --- | --- | --- |",
        *(
            f"| `{c}` | {v.outcome.replace('_', ' ')} | {'yes' if v.manager else 'no'} | {v.why} |"
            for c, v in VERIFICATION.items()
        ),
        "",
        "| return reason | whose fault | exchange replacement ships |",
        "| --- | --- | --- |",
        *(
            f"| `{r}` | {p.fault} | {'at once' if p.exchange == 'advance' else 'after receipt'} |"
            for r, p in RETURN_REASONS.items()
        ),
        "",
        SHIPPING_POLICY,
    ]
    return "\n".join(rows) + "\n"
