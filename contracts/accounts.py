"""The billing-account flow."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.common import Address, CommandData, Identifier, Wire


class CreateBillingAccount(CommandData):
    """Sent by the storefront import or an agent: open a billing account for a customer."""

    TYPE: ClassVar[str] = "billing_account.create"

    account_id: Identifier | None = Field(
        default=None, description="Chosen by the client; generated (acc_…) when absent."
    )
    name: str = Field(min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()./-]{4,40}$")
    billing_address: Address | None = None
    locale: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")


class BillingAccountRef(Wire):
    """A reference to an existing billing account."""

    account_id: Identifier
