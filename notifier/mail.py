"""The port for sending: what an e-mail is, what a send answers, and who sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: Why a send got no HTTP answer.
NoAnswer = Literal["timeout", "connection_error"]


@dataclass(frozen=True, slots=True)
class Mail:
    """A dynamic-template e-mail to one customer."""

    to_email: str = field(repr=False)
    to_name: str = field(repr=False)
    template_id: str
    data: dict[str, Any] = field(repr=False)
    #: Echoed by SendGrid's event webhook: the notification and event ids, never personal data.
    custom_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider answered: an HTTP status, or why there was none."""

    status: int | None
    message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None
    no_answer: NoAnswer | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Mailer(Protocol):
    """Sends one e-mail; never raises for what the provider or the network did."""

    def send(self, mail: Mail) -> SendResult: ...
