"""What a handler receives (the command's context) and returns (the change to record)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from contracts.common import Actor
from services.ids import IdFactory, new_id
from services.policy import Policy
from services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Context:
    """Who sent the command, when, and why; carried into audit rows and events."""

    command_id: str
    command_type: str
    source: str
    actor: Actor
    now: datetime
    reason: str | None = None
    note: str | None = None
    correlation_id: str | None = None
    ids: IdFactory = new_id
    policy: Policy = field(default_factory=Policy)
    #: False when the command asked that the customer not be told: what the order keeps as
    #: told to the customer stays as it was, and its refunds' confirmations are not mailed.
    notify_customer: bool = True


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change to one entity: what it was before and after."""

    entity_type: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Change:
    """A handler's result: the subject's new version, the events, the audit, the result."""

    subject: str | None
    version: int | None
    result: dict[str, Any] = field(default_factory=dict)
    events: list[BaseModel] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    #: False when these events must not e-mail the customer whatever the command said: the
    #: follow-up of a change an agent kept from the customer (its refund's confirmation).
    notify_customer: bool = True


CommandHandler = Callable[[Any, Context, UnitOfWork], Change]
QueryHandler = Callable[[Any, UnitOfWork], dict[str, Any]]
