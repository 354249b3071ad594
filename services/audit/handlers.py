"""The audit-trail query."""

from __future__ import annotations

from typing import Any

from contracts.audit import AuditActor, AuditEntryView, AuditTrail, GetAuditTrail
from services.audit.model import AuditRecord
from services.errors import NotFound
from services.ports import UnitOfWork


def get_audit_trail(query: GetAuditTrail, uow: UnitOfWork) -> dict[str, Any]:
    """A page of the entity's trail, newest first; the next page starts before its last entry."""
    found = uow.audit_trail.entries(
        query.entity_type, query.entity_id, query.before, query.page_size + 1
    )
    if not found and query.before is None:
        raise NotFound(
            f"no audit entries for {query.entity_type} {query.entity_id}", field="data.entity_id"
        )
    page, has_more = found[: query.page_size], len(found) > query.page_size
    return AuditTrail(
        entity_type=query.entity_type,
        entity_id=query.entity_id,
        entries=[entry_view(r) for r in page],
        has_more=has_more,
        next_before=page[-1].entry_id if has_more else None,
    ).model_dump(mode="json")


def entry_view(record: AuditRecord) -> AuditEntryView:
    return AuditEntryView(
        entry_id=record.entry_id,
        at=record.at,
        action=record.action,
        actor=AuditActor(id=record.actor_id, role=record.actor_role),
        source=record.source,
        reason=record.reason,
        note=record.note,
        before=record.before,
        after=record.after,
        ticket=record.correlation_id,
        command_id=record.command_id,
    )
