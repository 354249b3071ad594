"""What the notifier tells everyone about customer e-mails: sent, or given up on.

Neither carries an e-mail address: readers join on `account_id` if they must.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts.common import Published

#: Why the notifier gave up on an e-mail.
FailureReason = Literal["rejected", "retries_exhausted"]


class CustomerNotified(Published):
    """Published by the notifier when SendGrid accepted a customer e-mail about an event."""

    TYPE: ClassVar[str] = "customer.notified"

    notification_id: int = Field(description="The notifier's record of this e-mail.")
    event_id: str = Field(description="The event the e-mail is about (also the causationid).")
    event_type: str
    kind: str = Field(examples=["order_confirmed", "item_backordered", "refund_issued"])
    account_id: str
    order_id: str | None = None
    template_id: str | None = Field(default=None, description="The SendGrid dynamic template.")
    locale: str
    provider_message_id: str | None = Field(
        default=None, description="SendGrid's X-Message-Id (none in sandbox mode)."
    )


class CustomerNotificationFailed(Published):
    """Published by the notifier when a customer e-mail will not be sent: SendGrid refused it,
    or kept failing until the retry bound."""

    TYPE: ClassVar[str] = "customer.notification_failed"

    notification_id: int
    event_id: str
    event_type: str
    kind: str
    account_id: str
    order_id: str | None = None
    template_id: str | None = None
    locale: str
    reason: FailureReason = Field(
        description="rejected: SendGrid refused the request (4xx other than 429); "
        "retries_exhausted: rate limits, server errors or timeouts until the retry bound."
    )
    status_code: int | None = Field(
        default=None, description="The last HTTP status; none after a timeout or lost connection."
    )
    error: str | None = Field(default=None, description="SendGrid's error message, or the cause.")
    attempts: int
