"""An audit entry as the log keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One append-only row of the audit log."""

    entry_id: int
    entity_type: str
    entity_id: str
    action: str
    actor_id: str
    actor_role: str
    source: str
    reason: str | None
    note: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    command_id: str
    correlation_id: str | None
    at: datetime
