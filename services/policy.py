"""Business settings the rules read: who may do what beyond the defaults. Configured by the
operator (ORDERCARE_* settings); the domain sees this plain object only."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.common import Role


@dataclass(frozen=True, slots=True)
class Policy:
    """The configurable rules."""

    #: Roles that may set a unit price other than the catalogue's on an added or replacing
    #: line (the command's reason is required and the audit keeps the override).
    price_override_roles: frozenset[Role] = frozenset({"supervisor", "manager"})
