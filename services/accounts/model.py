"""A billing account."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(slots=True)
class Account:
    """A customer's billing account. Contact fields are personal data: never logged."""

    account_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    billing_address: dict[str, str | None] | None = None
    locale: str = "en"
    status: Literal["active", "on_hold", "closed"] = "active"
    extra: dict[str, str] = field(default_factory=dict)
