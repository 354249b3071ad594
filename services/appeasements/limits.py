"""Which of a role's appeasement limits an appeasement goes past, and by how much.

Every limit must hold for a role to grant alone: the amount per appeasement, the percent
of the order's total, the sum per order, and the sum the acting person offered in the last
24 hours. Amount limits are major units scaled per currency (`Policy`); sums count granted
and pending appeasements, in the appeasement's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contracts.appeasements import LimitName
from contracts.common import Role
from services.money import ZERO, round_money
from services.policy import Policy


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the limits count for one appeasement. None: the limit does not apply (no order
    named; the per-day sum is the offerer's, not an approver's)."""

    currency: str
    value: Decimal
    order_total: Decimal | None = None
    on_order: Decimal | None = None
    offered_today: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Exceeded:
    """A limit the appeasement goes past: the role's cap and what the limit counted."""

    limit: LimitName
    role: Role
    cap: Decimal
    counted: Decimal
    percent: Decimal | None = None

    @property
    def over_by(self) -> Decimal:
        return self.counted - self.cap

    def describe(self, currency: str) -> str:
        what = {
            "per_appeasement": "per appeasement",
            "percent_of_order": f"({self.percent} % of the order's total) per appeasement",
            "per_order": "in total on one order",
            "per_agent_per_day": "in total per person in 24 hours",
        }[self.limit]
        return (
            f"role '{self.role}' grants up to {self.cap} {currency} {what}; this comes to "
            f"{self.counted} {currency}, {self.over_by} {currency} over"
        )


def exceeded(policy: Policy, role: Role, exposure: Exposure) -> list[Exceeded]:
    """The limits of `role` the appeasement goes past; empty when the role may grant it."""
    limits = policy.limits_of(role)
    currency = exposure.currency
    factor = policy.appeasement_limit_factors.get(currency, Decimal(1))

    def cap(limit: Decimal | None) -> Decimal | None:
        return None if limit is None else round_money(limit * factor, currency)

    value = exposure.value
    checks: list[tuple[LimitName, Decimal | None, Decimal | None, Decimal | None]] = [
        ("per_appeasement", cap(limits.per_appeasement), value, None),
    ]
    if exposure.order_total is not None and limits.percent_of_order is not None:
        share = round_money(exposure.order_total * limits.percent_of_order / 100, currency)
        checks.append(("percent_of_order", share, value, limits.percent_of_order))
    if exposure.on_order is not None:
        checks.append(("per_order", cap(limits.per_order), exposure.on_order + value, None))
    if exposure.offered_today is not None:
        day = exposure.offered_today + value
        checks.append(("per_agent_per_day", cap(limits.per_agent_per_day), day, None))
    return [
        Exceeded(name, role, limit, counted or ZERO, percent)
        for name, limit, counted, percent in checks
        if limit is not None and counted is not None and counted > limit
    ]
