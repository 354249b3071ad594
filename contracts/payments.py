"""What the payment service tells OrderCare (ordercare.payments)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.common import Amount, Currency, Identifier, PartnerData


class RefundConfirmed(PartnerData):
    """Sent by the payment service: the refund reached the customer's payment method."""

    TYPE: ClassVar[str] = "payment.refund_settled"

    order_id: Identifier
    refund_id: Identifier
    provider_reference: str | None = Field(default=None, max_length=200)


class RefundDeclined(PartnerData):
    """Sent by the payment service: the refund could not be made; the money is owed again."""

    TYPE: ClassVar[str] = "payment.refund_failed"

    order_id: Identifier
    refund_id: Identifier
    failure_reason: str = Field(min_length=1, max_length=300)


class Captured(PartnerData):
    """Sent by the payment service: it captured money on the order (a balance due, say)."""

    TYPE: ClassVar[str] = "payment.captured"

    order_id: Identifier
    amount: Amount = Field(gt=0)
    currency: Currency
    capture_reference: str | None = Field(default=None, max_length=200)
