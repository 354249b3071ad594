"""Reference data the rules read: delivery methods and pickup locations."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal


@dataclass(frozen=True, slots=True)
class DeliveryMethod:
    """How an order travels; `kind` says whether it needs an address or a pickup location."""

    code: str
    name: str
    kind: Literal["address", "pickup"]
    fees: dict[str, Decimal]
    active: bool = True


@dataclass(frozen=True, slots=True)
class PickupLocation:
    """A click-and-collect point."""

    location_id: str
    name: str
    country: str
    active: bool = True
