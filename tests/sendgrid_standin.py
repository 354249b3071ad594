"""A local stand-in for SendGrid's v3 Mail Send API (`POST /v3/mail/send`), for tests.

It answers as SendGrid does: 401 without the right `Authorization: Bearer <key>`, 400 with
`{"errors": [{"message", "field", "help"}]}` when a required field is missing, 202 with an
`X-Message-Id` (200 and no id in sandbox mode) otherwise, recording every accepted mail.
`script` makes the next requests answer 400, 401, 429 (with Retry-After), 500, or hang
without answering until the stand-in stops (timeouts, a sender killed mid-send).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "SG.test-key"


@dataclass(frozen=True)
class Answer:
    """A scripted answer: an HTTP status (with headers and SendGrid errors), or a hang."""

    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    hang: bool = False


def status(code: int, *errors: str, **headers: str) -> Answer:
    """E.g. status(429, retry_after="1") or status(400, "The from address is not verified.")."""
    return Answer(code, {k.replace("_", "-").title(): v for k, v in headers.items()}, errors)


HANG = Answer(hang=True)


@dataclass(frozen=True)
class Accepted:
    """A mail the stand-in accepted."""

    to: list[str]
    template_id: str | None
    dynamic_template_data: dict[str, Any]
    message_id: str | None
    body: dict[str, Any]


class SendGridStandIn:
    """The server: `url` for ORDERCARE_SENDGRID_HOST, `accepted` mails, `requests` seen."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.accepted: list[Accepted] = []
        self.requests: list[float] = []  # arrival times (time.monotonic), every request
        self.released = threading.Event()
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SendGridStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()  # hung requests end, unanswered
        self.server.shutdown()
        self.server.server_close()

    def script(self, *answers: Answer) -> None:
        """The next requests get these answers, in order; then SendGrid's normal ones."""
        with self._lock:
            self._script.extend(answers)

    def next_answer(self) -> Answer | None:
        with self._lock:
            self.requests.append(time.monotonic())
            return self._script.popleft() if self._script else None

    def record(self, body: dict[str, Any], message_id: str | None) -> None:
        p = body["personalizations"][0]
        with self._lock:
            self.accepted.append(
                Accepted(
                    [t["email"] for t in p["to"]],
                    body.get("template_id"),
                    p.get("dynamic_template_data", {}),
                    message_id,
                    body,
                )
            )


def _handler(standin: SendGridStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v3/mail/send":
                return self._answer(404, errors=("Not found",))
            answer = standin.next_answer()
            if answer is not None and answer.hang:
                standin.released.wait(60)
                self.close_connection = True
                return None
            if self.headers.get("Authorization") != f"Bearer {standin.api_key}":
                return self._answer(401, errors=(
                    "The provided authorization grant is invalid, expired, or revoked",))  # fmt: skip
            if answer is not None:
                return self._answer(answer.status, answer.headers, answer.errors)
            return self._mail(body)

        def _mail(self, raw: bytes) -> None:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._answer(400, errors=("Bad Request",))
            problems = invalid(body)
            if problems:
                return self._answer(400, errors=tuple(problems))
            if (body.get("mail_settings") or {}).get("sandbox_mode", {}).get("enable") is True:
                standin.record(body, None)
                return self._answer(200)
            message_id = uuid.uuid4().hex[:22]
            standin.record(body, message_id)
            return self._answer(202, {"X-Message-Id": message_id})

        def _answer(self, code: int, headers: dict[str, str] | None = None,
                    errors: tuple[str, ...] = ()) -> None:  # fmt: skip
            payload = b""
            if errors:
                payload = json.dumps(
                    {"errors": [{"message": e, "field": None, "help": None} for e in errors]}
                ).encode()
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def invalid(body: Any) -> list[str]:
    """SendGrid's checks of the fields every mail needs."""
    if not isinstance(body, dict):
        return ["Bad Request"]
    problems = []
    people = body.get("personalizations")
    if not isinstance(people, list) or not people:
        problems.append(
            "The personalizations field is required and must have at least one element."
        )
    elif not all(isinstance(p, dict) and p.get("to") for p in people):
        problems.append(
            "The to array is required for all personalization objects, and must have at least "
            "one email object with a valid email address."
        )
    if not isinstance(body.get("from"), dict) or not body["from"].get("email"):
        problems.append("The from object must be provided for every email send.")
    if not body.get("template_id") and not body.get("content"):
        problems.append(
            "Unless a valid template_id is provided, the content parameter is required."
        )
    return problems


@contextmanager
def running(api_key: str = API_KEY) -> Iterator[SendGridStandIn]:
    """A started stand-in, stopped at the end of the block (for a fixture)."""
    standin = SendGridStandIn(api_key).start()
    try:
        yield standin
    finally:
        standin.stop()
