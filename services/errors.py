"""Domain rejections. Each names the rule it enforces and carries the stable outcome code."""

from __future__ import annotations

from typing import Any, ClassVar

from contracts.outcomes import RejectionCode


class Rejected(Exception):
    """A command broke a rule: it becomes a `command.rejected` outcome, never a retry."""

    code: ClassVar[RejectionCode] = "invalid"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(Rejected):
    """The command is well-formed but its values make no sense here."""


class Forbidden(Rejected):
    """The actor's role may not send this command."""

    code: ClassVar[RejectionCode] = "forbidden"


class NotFound(Rejected):
    """A referenced order, account, SKU or location does not exist."""

    code: ClassVar[RejectionCode] = "not_found"


class AlreadyExists(Rejected):
    """An id the client chose is taken."""

    code: ClassVar[RejectionCode] = "already_exists"


class VersionConflict(Rejected):
    """The agent saw another version of the order than the current one."""

    code: ClassVar[RejectionCode] = "version_conflict"


class NotAllowedInState(Rejected):
    """The order or line is in a state that does not allow the change."""

    code: ClassVar[RejectionCode] = "not_allowed_in_state"


class AlreadyCancelled(NotAllowedInState):
    """The order is cancelled already."""


class AlreadyShipped(NotAllowedInState):
    """Units of the order have shipped; they go through returns instead."""


class OverLimit(Rejected):
    """An amount exceeds what the rules allow."""

    code: ClassVar[RejectionCode] = "over_limit"
