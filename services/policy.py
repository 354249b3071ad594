"""Business settings the rules read: who may do what beyond the defaults. Configured by the
operator (ORDERCARE_* settings); the domain sees this plain object only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from contracts.common import Role


@dataclass(frozen=True, slots=True)
class AppeasementLimits:
    """What one role grants on its own authority; above any of these an appeasement waits for
    approval. None is no limit. Amounts are major units of the appeasement's currency (scaled
    by `Policy.appeasement_limit_factors`); `percent_of_order` is of the order's total."""

    per_appeasement: Decimal | None = None
    percent_of_order: Decimal | None = None
    #: Every granted and pending appeasement on one order, this one included.
    per_order: Decimal | None = None
    #: Every granted and pending appeasement the acting person offered in the last 24 hours
    #: (per currency), this one included.
    per_agent_per_day: Decimal | None = None


#: A role the policy does not name grants nothing on its own: everything it offers waits.
NO_AUTHORITY = AppeasementLimits(Decimal(0), Decimal(0), Decimal(0), Decimal(0))

#: Agent 20.00 and at most 15 % of the order (both must hold), supervisor 100.00, manager
#: unlimited; per order and per agent and day as documented in the README.
DEFAULT_APPEASEMENT_LIMITS: dict[Role, AppeasementLimits] = {
    "agent": AppeasementLimits(Decimal(20), Decimal(15), Decimal(40), Decimal(200)),
    "supervisor": AppeasementLimits(Decimal(100), None, Decimal(250), Decimal(1000)),
    "manager": AppeasementLimits(),
}

#: Units of a currency one unit of the limits is worth, for currencies whose unit is far from
#: a euro's (rough and round; others count 1): 20.00 is 3000 JPY and 6.000 KWD.
DEFAULT_APPEASEMENT_LIMIT_FACTORS: dict[str, Decimal] = {
    code: Decimal(factor)
    for code, factor in {
        "JPY": "150", "KRW": "1500", "ISK": "150", "CLP": "1000", "CZK": "25", "SEK": "10",
        "NOK": "10", "DKK": "7.5", "PLN": "4", "MXN": "20", "BRL": "5", "HKD": "8",
        "KWD": "0.3", "BHD": "0.4", "OMR": "0.4", "JOD": "0.75", "TND": "3.5",
    }.items()
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Policy:
    """The configurable rules."""

    #: Roles that may set a unit price other than the catalogue's on an added or replacing
    #: line (the command's reason is required and the audit keeps the override).
    price_override_roles: frozenset[Role] = frozenset({"supervisor", "manager"})
    #: Days after delivery a customer may ask to return units.
    return_window_days: int = 30
    #: Days a parcel is taken to be on its way when the carrier never scanned its delivery:
    #: the return window of its units counts from its shipment date plus these.
    return_transit_days: int = 7
    #: Days a return's parcel has to arrive; an advance exchange's units are charged again
    #: when it has not.
    return_arrival_days: int = 30
    #: Percent of a unit's net price kept when the verification rules say "restocking fee".
    restocking_fee_percent: Decimal = Decimal(20)
    #: What each role grants on its own authority (appeasements).
    appeasement_limits: Mapping[Role, AppeasementLimits] = field(
        default_factory=lambda: dict(DEFAULT_APPEASEMENT_LIMITS)
    )
    #: How the amount limits scale per currency (1 for a currency not named).
    appeasement_limit_factors: Mapping[str, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_APPEASEMENT_LIMIT_FACTORS)
    )
    #: Hours a pending appeasement waits for a decision before it expires.
    appeasement_pending_hours: int = 72

    def limits_of(self, role: Role) -> AppeasementLimits:
        """The role's appeasement limits; a role not named has no authority of its own."""
        return self.appeasement_limits.get(role, NO_AUTHORITY)
