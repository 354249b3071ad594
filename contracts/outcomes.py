"""The outcome every command gets on ordercare.events (and on its reply_to queue)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from contracts.common import Published

RejectionCode = Literal[
    "invalid",
    "unknown_type",
    "forbidden",
    "not_found",
    "already_exists",
    "version_conflict",
    "not_allowed_in_state",
    "over_limit",
    "too_large",
    "not_an_envelope",
    "internal_error",
]


class CommandAccepted(Published):
    """OrderCare applied the command (or answered the query)."""

    TYPE: ClassVar[str] = "command.accepted"

    command_id: str
    command_type: str
    subject: str | None = None
    version: int | None = Field(
        default=None, description="The subject's version after the command."
    )
    event_ids: list[str] = Field(default_factory=list)
    result: dict[str, Any] = Field(default_factory=dict)


class FieldError(Published):
    """One field that failed validation, with its path in the envelope (`data.lines.0.sku`)."""

    loc: str
    message: str
    type: str


class CommandRejected(Published):
    """OrderCare refused the command; nothing changed. `code` is stable, `message` is for people."""

    TYPE: ClassVar[str] = "command.rejected"

    command_id: str
    command_type: str
    subject: str | None = None
    code: RejectionCode
    message: str
    errors: list[FieldError] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
