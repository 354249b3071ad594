"""The Appeasement aggregate: goodwill offered, granted at once or pending, then decided.

Rules: only a pending appeasement is decided; nobody decides their own offer; a pending one
cannot be approved once it has expired, and is expired only when due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from contracts.appeasements import AppeasementKind, AppeasementStatus
from contracts.common import Actor, SettleTo
from services.errors import Forbidden, NotAllowedInState


class NotPending(NotAllowedInState):
    """Only a pending appeasement can be approved, rejected or expired."""


class OwnAppeasement(Forbidden):
    """Nobody approves or rejects an appeasement they offered themselves."""


class BeyondOwnLimits(Forbidden):
    """Whoever approves or rejects an appeasement must have limits that cover it."""


class ApprovalExpired(NotAllowedInState):
    """A pending appeasement cannot be approved after it expired, swept or not."""


class NotDueYet(NotAllowedInState):
    """A pending appeasement expires only once its time is up."""


class FullyRefunded(NotAllowedInState):
    """An order whose money all went back (or whose total is zero) has nothing to discount."""


@dataclass(slots=True)
class Appeasement:
    """Goodwill for a customer: store credit on the account, or a discount on an order."""

    appeasement_id: str
    kind: AppeasementKind
    account_id: str
    order_id: str | None
    line_id: str | None
    currency: str
    #: The store credit, or the discount in the order's price terms (net of tax, or tax
    #: included where prices include tax; a percent converted when offered).
    amount: Decimal
    percent: Decimal | None
    #: What the customer gets (the discount with its tax; the amount itself where prices
    #: include tax): what the limits count.
    value: Decimal
    settle_to: SettleTo | None
    reason: str
    note: str | None
    ticket: str | None
    offered_by: Actor
    created_at: datetime
    command_id: str
    status: AppeasementStatus = "pending"
    expires_at: datetime | None = None
    decided_by: Actor | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    decision_note: str | None = None
    credit_memo_id: str | None = None

    @property
    def subject(self) -> str:
        """What the appeasement concerns on the wire: its order, else its account."""
        return self.order_id or self.account_id

    def check_decidable(self, by: Actor, verb: str) -> None:
        """Refuse a decision on a settled appeasement, or on one's own offer."""
        if self.status != "pending":
            raise NotPending(
                f"appeasement {self.appeasement_id} is {self.status}: only a pending one can be "
                f"{verb}",
                status=self.status,
            )
        if by.id == self.offered_by.id:
            raise OwnAppeasement(
                f"{by.id} offered appeasement {self.appeasement_id} and cannot also decide it: "
                "someone else must approve or reject it",
                role=by.role,
            )

    def check_open(self, now: datetime, then: str = "offer it again") -> None:
        """Refuse a decision at or after the moment the appeasement expires: it ends as
        expired (the sweeper closes it), never approved or rejected late."""
        if self.expires_at is not None and now >= self.expires_at:
            raise ApprovalExpired(
                f"appeasement {self.appeasement_id} expired at {self.expires_at.isoformat()}: "
                f"{then}",
                status="expired",
                expires_at=self.expires_at.isoformat(),
            )

    def wait(self, until: datetime) -> None:
        """Above the offering role's limits: pending until approved, rejected or expired."""
        self.status = "pending"
        self.expires_at = until

    def grant(self, by: Actor | None, now: datetime, reason: str | None, note: str | None) -> None:
        """Granted at the offer (`by` None) or by an approver."""
        self.status = "granted"
        if by is not None:
            self._decide(by, now, reason, note)

    def reject(self, by: Actor, now: datetime, reason: str | None, note: str | None) -> None:
        self.status = "rejected"
        self._decide(by, now, reason, note)

    def expire(self, by: Actor, now: datetime) -> None:
        if self.status != "pending":
            raise NotPending(
                f"appeasement {self.appeasement_id} is {self.status}: only a pending one expires",
                status=self.status,
            )
        if self.expires_at is not None and now < self.expires_at:
            raise NotDueYet(
                f"appeasement {self.appeasement_id} expires at {self.expires_at.isoformat()}, "
                "not before",
                status=self.status,
                expires_at=self.expires_at.isoformat(),
            )
        self.status = "expired"
        self._decide(by, now, "expired", None)

    def _decide(self, by: Actor, now: datetime, reason: str | None, note: str | None) -> None:
        self.decided_by = by
        self.decided_at = now
        self.decision_reason = reason
        self.decision_note = note
