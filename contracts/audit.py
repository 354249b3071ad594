"""The audit trail: who changed an order or a billing account, when, what and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from contracts.common import Identifier, MinimumVersion, Published, QueryData

#: What an audit trail can be asked for.
AuditedEntity = Literal["order", "billing_account"]


class GetAuditTrail(QueryData):
    """Sent by a helpdesk with reply_to: an order's or an account's audit trail, newest first,
    a page at a time (pass the previous page's `next_before` as `before`)."""

    TYPE: ClassVar[str] = "audit.get"

    entity_type: AuditedEntity
    entity_id: Identifier
    page_size: int = Field(default=50, ge=1, le=100)
    before: int | None = Field(
        default=None, ge=1, description="Entries older than this entry_id (the next page)."
    )
    min_version: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The trail must include the change that made this version of the order or "
            "account (e.g. the `version` of your own command.accepted): never answered from a "
            "read replica that has not caught up with it."
        ),
    )

    def must_see(self) -> MinimumVersion | None:
        if self.min_version is None:
            return None
        return MinimumVersion(self.entity_type, self.entity_id, self.min_version)


class AuditActor(Published):
    """Who acted: an agent, a manager, or a partner system (its envelope source)."""

    id: str
    role: str


class AuditEntryView(Published):
    """One recorded change: who, from where, when, what (before and after), why, and the
    command (and helpdesk ticket) that caused it."""

    entry_id: int
    at: datetime
    action: str
    actor: AuditActor
    source: str = Field(description="The system the command came from (its envelope source).")
    reason: str | None = None
    note: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    ticket: str | None = Field(default=None, description="The command's correlationid.")
    command_id: str


class AuditTrail(Published):
    """A page of `audit.get` (on reply_to only)."""

    entity_type: AuditedEntity
    entity_id: str
    entries: list[AuditEntryView]
    has_more: bool
    next_before: int | None = Field(default=None, description="`before` for the next page.")
