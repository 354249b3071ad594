"""The one place the `ordercare` CLI turns a failure a user can cause into one line.

Each line reads `ordercare: <what>: <where>: <what to do>` on stderr: what went wrong,
where (a file, host:port and vhost, a database URL with its password masked) and what to
try. Usage and configuration mistakes exit 2, failures at run time (a server down or
refusing) exit 1. Anything not recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import amqp_nodes

#: Exit codes: a mistake in how ordercare was called or configured; a failure while running.
USAGE = 2
RUNTIME = 1

#: The database URL schemes OrderCare runs on (SQLAlchemy with psycopg 3).
DATABASE_SCHEMES = ("postgresql+psycopg",)


class CliFailure(Exception):
    """A failure the user can fix, already put in words."""

    def __init__(self, what: str, where: str, todo: str, code: int = RUNTIME) -> None:
        super().__init__(f"{what}: {where}: {todo}")
        self.what, self.where, self.todo, self.code = what, where, todo, code

    def line(self) -> str:
        return f"ordercare: {self.what}: {self.where}: {self.todo}"


@dataclass(frozen=True, slots=True)
class Servers:
    """Where the CLI was pointed, to name in a failure."""

    amqp_url: str
    database_url: str


def masked_url(url: str) -> str:
    """The URL with any password replaced by `***`. Read off the text itself, not through
    urlsplit: a password holding `/`, `?` or `#` (which drivers accept) ends urlsplit's
    netloc early, and it would then see no password at all."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")  # the last: masking too much is safe, too little is not
    if at < 0:
        return url
    user, colon, _password = rest[:at].partition(":")
    if not colon:
        return url
    return f"{scheme}://{user}:***@{rest[at + 1 :]}"


def amqp_place(url: str, failure: BaseException | None = None) -> str:
    """`host:port vhost V` of an AMQP URL (each node's `host:port` for a comma-separated
    list), or only the node a connection failure came from (amqp_nodes.connect)."""
    place = amqp_nodes.place(url)
    node = amqp_nodes.failed_node(failure) if failure is not None else None
    if node is None or " vhost " not in place:
        return place
    return f"{node} vhost {place.rsplit(' vhost ', 1)[1]}"


def database_place(url: str) -> str:
    """`host:port database D (URL)`, password masked."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        return masked_url(url)
    name = parts.path.lstrip("/") or "(none)"
    return f"{parts.hostname or 'localhost'}:{port} database {name} ({masked_url(url)})"


def check_database_url(url: str) -> str:
    """The URL when its scheme is one OrderCare runs on; else ValueError saying what to use."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in DATABASE_SCHEMES:
        shown = f"'{scheme}://'" if scheme else "no scheme"
        raise ValueError(
            f"{shown} is not supported, use postgresql+psycopg://USER@HOST:PORT/DATABASE"
        )
    return url


def explain(exc: BaseException, servers: Servers | None) -> CliFailure | None:
    """The failure in words, or None for one this module does not know (a bug)."""
    if isinstance(exc, CliFailure):
        return exc
    found = _settings(exc) or _file(exc) or _amqp(exc, servers) or _database(exc, servers)
    return found


def _settings(exc: BaseException) -> CliFailure | None:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(exc, ValidationError) and exc.title in {"Settings", "NotifierSettings"}:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        message = str(first["msg"]).removeprefix("Value error, ")
        return CliFailure(
            "invalid setting",
            f"ORDERCARE_{field.upper()}",
            f"{message} (environment or .env)",
            USAGE,
        )
    if isinstance(exc, SettingsError):
        return CliFailure("invalid setting", str(exc).split("\n")[0], "fix the environment or .env",
                          USAGE)  # fmt: skip
    return None


def _file(exc: BaseException) -> CliFailure | None:
    if isinstance(exc, FileNotFoundError):
        return CliFailure("no such file", str(exc.filename), "check the path", USAGE)
    if isinstance(exc, IsADirectoryError):
        return CliFailure("a folder, not a file", str(exc.filename), "name a JSON file", USAGE)
    if isinstance(exc, PermissionError) and exc.filename:
        return CliFailure("cannot read", str(exc.filename), "check its permissions", USAGE)
    if isinstance(exc, UnicodeDecodeError):
        return CliFailure("not UTF-8 text", "the file", "save it as UTF-8 JSON", USAGE)
    if isinstance(exc, json.JSONDecodeError):  # without a file name: the callers add it
        return CliFailure("malformed JSON", f"line {exc.lineno} column {exc.colno}", exc.msg, USAGE)
    return None


def _amqp(exc: BaseException, servers: Servers | None) -> CliFailure | None:
    import pika.exceptions as pe

    # The node a refusal came from (a login, a vhost), or where the failure happened
    where = amqp_place(servers.amqp_url, exc) if servers else "RabbitMQ"
    if isinstance(exc, pe.ProbableAuthenticationError):
        return CliFailure(
            "RabbitMQ refused the login",
            f"{where} as user {_user(servers.amqp_url) if servers else '?'}",
            "check the user and password in ORDERCARE_AMQP_URL",
        )
    if isinstance(exc, pe.ProbableAccessDeniedError):
        return CliFailure(
            "RabbitMQ denied access to the vhost",
            where,
            "check the vhost in ORDERCARE_AMQP_URL (%2F is /) and the user's permissions "
            "(rabbitmqctl list_permissions -p VHOST)",
        )
    if isinstance(exc, pe.AMQPConnectionError):
        # amqp_nodes.connect tried every node before it gave up: name them all
        return CliFailure(
            "cannot reach RabbitMQ",
            amqp_place(servers.amqp_url) if servers else where,
            "is the broker running and is ORDERCARE_AMQP_URL's host and port right?",
        )
    if isinstance(exc, pe.ChannelClosedByBroker):
        return CliFailure(
            f"RabbitMQ closed the channel ({exc.reply_code} {exc.reply_text})",
            where,
            "check the user's permissions on that vhost, or run `ordercare broker setup`",
        )
    if isinstance(exc, pe.AMQPError):
        return CliFailure(f"RabbitMQ failed ({type(exc).__name__})", where, "try again")
    return None


def _database(exc: BaseException, servers: Servers | None) -> CliFailure | None:
    import psycopg
    from sqlalchemy.exc import NoSuchModuleError
    from sqlalchemy.exc import OperationalError as SaOperationalError

    where = database_place(servers.database_url) if servers else "PostgreSQL"
    if isinstance(exc, NoSuchModuleError | ModuleNotFoundError) and servers:
        return CliFailure(
            "unsupported database URL",
            masked_url(servers.database_url),
            "use postgresql+psycopg://USER@HOST:PORT/DATABASE in ORDERCARE_DATABASE_URL",
            USAGE,
        )
    original = exc.orig if isinstance(exc, SaOperationalError) else exc
    if isinstance(original, psycopg.OperationalError):
        first = (str(original).strip().splitlines() or ["?"])[0]
        if "does not exist" in first and "database" in first:
            todo = "run `ordercare db upgrade` (it creates it) or fix ORDERCARE_DATABASE_URL"
        elif "password" in first or "authentication" in first:
            todo = "check the user and password in ORDERCARE_DATABASE_URL"
        else:
            todo = "is PostgreSQL running and is ORDERCARE_DATABASE_URL's host and port right?"
        return CliFailure(f"cannot use the database ({_last_part(first)})", where, todo)
    return None


def _last_part(message: str) -> str:
    """psycopg's message without its `connection to server at …` preamble (named apart)."""
    tail = message.rsplit(": ", 1)[-1] if "connection to server" in message else message
    return masked_url(tail.strip())[:200]


def _user(url: str) -> str:
    return amqp_nodes.user(url)
