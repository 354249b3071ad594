"""The SendGrid adapter: one v3 Mail Send request per e-mail, with the official client.

Never raises for what SendGrid or the network did: every answer becomes a SendResult.
The client logs request payloads and the API key at DEBUG (logger `python_http_client`):
the mailer keeps that logger at WARNING whatever the root level.
"""

from __future__ import annotations

import http.client
import json
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    CustomArg,
    From,
    Mail,
    MailSettings,
    SandBoxMode,
    TemplateId,
    To,
)

from notifier import mail

#: Longest SendGrid error text kept (it goes to the database and the failure event).
ERROR_LIMIT = 480


class SendGridMailer:
    """Sends dynamic-template e-mails through SendGrid. One per thread: the client is not
    documented as thread-safe."""

    def __init__(self, api_key: str, *, host: str, from_email: str, from_name: str,
                 sandbox: bool = False, timeout: float = 10.0) -> None:  # fmt: skip
        logging.getLogger("python_http_client").setLevel(logging.WARNING)
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        self.sender = From(from_email, from_name)
        self.sandbox = sandbox
        self.timeout = timeout

    def body(self, message: mail.Mail) -> dict[str, Any]:
        """The request body, built with the client's helpers."""
        built = Mail(
            from_email=self.sender, to_emails=To(message.to_email, message.to_name or None)
        )
        built.template_id = TemplateId(message.template_id)
        built.dynamic_template_data = message.data
        for key, value in message.custom_args.items():
            built.custom_arg = CustomArg(key, value)
        if self.sandbox:
            built.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))
        return built.get()  # type: ignore[no-any-return]

    def send(self, message: mail.Mail) -> mail.SendResult:
        try:
            response = self.client.client.mail.send.post(
                request_body=self.body(message), timeout=self.timeout
            )
        except HTTPError as exc:
            return mail.SendResult(
                exc.status_code, retry_after=retry_after(exc.headers), error=error_text(exc.body)
            )
        except TimeoutError:
            return mail.SendResult(None, no_answer="timeout", error="no answer within the timeout")
        except URLError as exc:
            timed_out = isinstance(exc.reason, TimeoutError)
            return _no_answer("timeout" if timed_out else "connection_error", exc.reason)
        except (OSError, http.client.HTTPException) as exc:
            return _no_answer("connection_error", exc)
        return mail.SendResult(
            response.status_code, message_id=response.headers.get("X-Message-Id")
        )


def _no_answer(why: mail.NoAnswer, exc: object) -> mail.SendResult:
    return mail.SendResult(None, no_answer=why, error=type(exc).__name__)


def retry_after(headers: Any) -> float | None:
    """Seconds from Retry-After (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def error_text(body: bytes | str | None) -> str | None:
    """SendGrid's error messages ({"errors": [{"message": …, "field": …}]}), joined."""
    if not body:
        return None
    try:
        errors = json.loads(body).get("errors") or []
        text = "; ".join(
            str(e.get("message")) + (f" (field {e['field']})" if e.get("field") else "")
            for e in errors
            if isinstance(e, dict)
        )
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return text[:ERROR_LIMIT] or None
