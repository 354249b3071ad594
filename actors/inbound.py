"""One inbound message, start to finish: read, validate, apply, record, answer.

Everything a command does lands in one transaction: its effects, its audit rows, its
inbox row (keyed by the envelope's source and id) and its outbox rows (events and the
outcome). A duplicate finds the inbox row and gets its first outcome again. Messages
that are not even an envelope are dead-lettered, with a rejection where an id can be read.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from actors import metrics
from actors.body_screen import CardNumber, Refused, screen, try_json_object
from actors.failures import is_infrastructure
from actors.logs import Outage
from actors.outbound import (
    Cause,
    ReplyRefused,
    cloudevent,
    reply_correlation,
    to_exchange,
    to_reply,
)
from actors.screening import kept_copy, plausible_reply_queue, printable, written
from actors.settings import Settings
from contracts.common import Actor, Inbound, MinimumVersion, QueryData
from contracts.envelope import Envelope
from contracts.outcomes import CommandAccepted, CommandRejected, FieldError, RejectionCode
from contracts.registry import COMMANDS, QUERIES
from persistence.journal import InboxEntry
from persistence.outbox import OutboundMessage
from persistence.uow import SqlUnitOfWork
from services.accounts.cards import CardScan
from services.context import Change, Context, QueryHandler
from services.errors import Rejected
from services.registry import COMMAND_HANDLERS, QUERY_HANDLERS, authorize

log = logging.getLogger("ordercare.inbound")
#: The read replica (ORDERCARE_READ_DATABASE_URL) failing: one line when it starts, one when
#: it answers again; meanwhile the primary answers the queries.
REPLICA_OUTAGE = Outage(log, "read replica")

M = TypeVar("M", Inbound, QueryData)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """An AMQP delivery as the processor sees it."""

    body: bytes
    exchange: str
    routing_key: str
    reply_to: str | None = None
    #: Bytes when the sender's was not text: the answer carries it back as sent.
    correlation_id: str | bytes | None = None
    redelivered: bool = False
    attempt: int = 0
    #: The delivery's size when `body` holds only its first bytes (an over-size message).
    size: int | None = None
    #: The AMQP message_id, printable (dead letters name it).
    message_id: str | None = None
    #: A reply_to that was not clean text, as a printable rendering: refused.
    unusable_reply_to: str | None = None
    #: The body as parsed JSON, once it is (so nothing parses it twice).
    parsed: Any = None

    @property
    def length(self) -> int:
        return len(self.body) if self.size is None else self.size


@dataclass(frozen=True, slots=True)
class _Ids:
    """The attributes read from a message that is not a valid envelope."""

    source: str
    id: str
    type: str
    subject: str | None = None
    correlationid: str | None = None


#: What a rejection needs of a message: a valid envelope, or the attributes of a broken one.
Named = Envelope | _Ids


class Replier(Protocol):
    """Sends a query's answer straight to its reply_to queue."""

    def reply(self, message: OutboundMessage) -> None: ...


class Direct(Protocol):
    """Publishes a command's outbox rows right after its commit (actors/direct.py)."""

    def available_at(self) -> datetime: ...

    def submit(self, rows: Sequence[tuple[int, OutboundMessage]]) -> None: ...


@dataclass(frozen=True, slots=True)
class _Rejection:
    code: RejectionCode
    message: str
    errors: list[FieldError]
    details: dict[str, Any]


class InboundProcessor:
    """Turns one inbound message into exactly one recorded effect and outcome."""

    def __init__(
        self,
        settings: Settings,
        unit_of_work: Callable[[], SqlUnitOfWork],
        replier: Replier,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        direct: Direct | None = None,
        read_unit_of_work: Callable[[], SqlUnitOfWork] | None = None,
    ) -> None:
        self.settings = settings
        self.unit_of_work = unit_of_work
        #: Queries' unit of work on the read replica; None: the primary answers them.
        self.read_unit_of_work = read_unit_of_work
        self.replier = replier
        self.clock = clock
        #: None: the relay alone publishes the outbox (ORDERCARE_DIRECT_PUBLISH=false).
        self.direct = direct
        self._reply_to = re.compile(settings.reply_to_pattern)
        self._policy = settings.policy()
        metrics.register_types([*COMMANDS, *QUERIES])

    def process(self, msg: InboundMessage) -> None:
        """Handle one message; raises only for errors worth a retry (infrastructure, bugs)."""
        started = time.perf_counter()
        label, outcome = "unknown", "error"
        try:
            label, outcome, sent = self._process(*self._screen(msg))
            metrics.COMMANDS.labels(label, outcome).inc()
            if sent is not None:
                metrics.END_TO_END.labels(label).observe(max(time.time() - sent, 0.0))
        finally:
            metrics.HANDLING.labels(label).observe(time.perf_counter() - started)

    def give_up(self, msg: InboundMessage, exc: BaseException) -> None:
        """After the last retry of an unexpected error (a bug, not bad input): dead-letter
        it, to be published again once fixed, and where its id can be read also reject it
        `internal_error` so the sender is not left waiting. No inbox row is written, so
        the same id is taken afresh. Should that fail, it is dead-lettered alone: nothing
        is lost, nothing reaches `.XQ`."""
        msg, _refused = self._screen(msg)
        detail = f"{type(exc).__name__} after {msg.attempt + 1} attempts"
        # The consumer passes every delivery's size (actors/broker.py): a body is whole when
        # its length is that size, and only a whole one is read for the ids to answer.
        whole = len(msg.body) == msg.length
        ids = _readable_ids(try_json_object(msg.body) if whole else None)
        try:
            self._dead_letter(msg, "handler_error", detail, CardScan(), answer=ids)
        except Exception as again:
            if is_infrastructure(again):
                raise
            log.exception("could not reject the message; dead-lettering it alone")
            self._dead_letter(msg, "handler_error", detail, CardScan())
            ids = None
        metrics.COMMANDS.labels(
            metrics.type_label(ids.type if ids else None), "dead_lettered"
        ).inc()

    def _screen(self, msg: InboundMessage) -> tuple[InboundMessage, str | None]:
        """Drop a reply_to that is not a reply queue, so no path can publish to it."""
        refused = msg.unusable_reply_to
        if refused is None and msg.reply_to:
            usable = self._reply_to.match(msg.reply_to) and plausible_reply_queue(msg.reply_to)
            refused = None if usable else msg.reply_to
        if refused is not None:
            return replace(msg, reply_to=None), refused
        return msg, None

    def _process(
        self, msg: InboundMessage, refused_reply_to: str | None
    ) -> tuple[str, str, float | None]:
        """Screen the bytes first (actors/body_screen.py: cheap, each linear in the body),
        then the envelope, its type and the command's schema."""
        scan = CardScan()
        limit = self.settings.max_message_bytes
        screened = screen(msg.body, msg.length, msg.routing_key, limit, scan)
        if isinstance(screened, Refused):
            if screened.kept is not None:
                msg = replace(msg, body=screened.kept, size=msg.length)
            else:
                msg = replace(msg, parsed=screened.parsed)  # None when not JSON
            return self._unreadable(msg, screened.reason, screened.detail, scan,
                                    code=screened.code, doc=screened.doc, errors=screened.errors)  # fmt: skip
        doc = screened.doc
        msg = replace(msg, parsed=doc)
        if isinstance(screened, CardNumber):
            return self._refuse_card(msg, doc, screened.where, scan)
        try:
            env = Envelope.model_validate(doc)
        except ValidationError as exc:
            detail = "not a CloudEvents 1.0 envelope: " + _summary(exc)
            return self._unreadable(
                msg, "not_an_envelope", detail, scan, code="not_an_envelope", doc=doc,
                errors=_errors(exc),
            )  # fmt: skip
        sent = _sent_at(env)
        label = metrics.type_label(env.type)
        if refused_reply_to is not None:
            problem = f"reply_to '{refused_reply_to[:100]}' is not a reply queue (expected {self._reply_to.pattern})"
            return (
                label,
                self._store_rejection(env, msg, _Rejection("invalid", problem, [], {})),
                sent,
            )
        if msg.exchange and msg.routing_key != env.type:
            # Permissions are granted per routing key: a type must travel under its own.
            mismatch = f"type '{env.type}' does not match the routing key '{msg.routing_key}'"
            return (
                label,
                self._store_rejection(env, msg, _Rejection("invalid", mismatch, [], {})),
                sent,
            )
        home = self.settings.exchange_of(env.type)
        known = env.type in COMMANDS or env.type in QUERIES
        if msg.exchange and known and msg.exchange != home:
            # A warehouse type on the commands exchange (or the reverse) is refused even where
            # broker permissions would let it through.
            wrong = f"{env.type} is published to {home}, not {msg.exchange}"
            return (
                label,
                self._store_rejection(env, msg, _Rejection("invalid", wrong, [], {})),
                sent,
            )
        if env.type in QUERIES:
            return label, self._query(env, msg), sent
        return label, self._command(env, msg), sent

    # --- commands ---------------------------------------------------------------------

    def _command(self, env: Envelope, msg: InboundMessage) -> str:
        parsed = self._validate(env, COMMANDS)
        if isinstance(parsed, _Rejection):
            return self._store_rejection(env, msg, parsed)
        ctx = Context(
            command_id=env.id,
            command_type=env.type,
            source=env.source,
            actor=parsed.actor or _system(env.source),
            now=self.clock(),
            reason=parsed.reason,
            note=parsed.note,
            correlation_id=env.correlationid,
            policy=self._policy,
            notify_customer=parsed.notify_customer,
        )
        cause = replace(_cause(env, msg), notify_customer=parsed.notify_customer)
        with self.unit_of_work() as uow:
            try:
                change = COMMAND_HANDLERS[env.type].handler(parsed, ctx, uow)
            except Rejected as exc:
                uow.restart()
                # Kept whole for inspection, like every rejected message.
                return self._reject_in(uow, env, msg, _rejection(exc), raw=msg.body)
            except DataError as exc:
                uow.restart()
                problem = f"a value does not fit what OrderCare can store ({_first_line(exc)})"
                return self._reject_in(
                    uow, env, msg, _Rejection("invalid", problem, [], {}), raw=msg.body
                )
            except IntegrityError:
                uow.restart()
                if uow.inbox.find(env.source, env.id) is None:
                    raise
                return self._duplicate(uow, env, msg)
            return self._accept_in(uow, env, msg, ctx, change, cause)

    def _validate(self, env: Envelope, models: Mapping[str, type[M]]) -> M | _Rejection:
        """The message's data as its model, checked against the subject and the actor's role."""
        model = models.get(env.type)
        if model is None:
            known = ", ".join(sorted(COMMANDS) + sorted(QUERIES))
            return _Rejection(
                "unknown_type", f"unknown message type '{env.type}'; known: {known}", [], {}
            )
        try:
            message = model.model_validate(env.data)
        except ValidationError as exc:
            summary = f"{env.type} is invalid: {_summary(exc, 'data')}"
            return _Rejection("invalid", summary, _errors(exc, "data"), {})
        subject = getattr(message, "order_id", None)
        if env.subject and subject and env.subject != subject:
            problem = f"subject '{env.subject}' differs from data.order_id '{subject}'"
            error = FieldError(loc="subject", message=problem, type="subject_mismatch")
            return _Rejection("invalid", problem, [error], {})
        try:
            authorize(env.type, message.actor or _system(env.source))
        except Rejected as exc:
            return _rejection(exc)
        return message

    def _accept_in(
        self,
        uow: SqlUnitOfWork,
        env: Envelope,
        msg: InboundMessage,
        ctx: Context,
        change: Change,
        cause: Cause,
    ) -> str:
        told = cause if change.notify_customer else replace(cause, notify_customer=False)
        out = [self._event(e, change.subject, told, ctx.now) for e in change.events]
        accepted = CommandAccepted(
            command_id=env.id,
            command_type=env.type,
            subject=change.subject or env.subject,
            version=change.version,
            event_ids=[m.message_id for m in out],
            result=change.result,
        )
        outcome = self._outcome(accepted, accepted.subject, cause, ctx.now)
        entry = _entry(env, outcome, ctx.now, raw=None)
        messages = [*out, *outcome]
        available = self.direct.available_at() if self.direct else None
        ids = uow.journal.record(entry, messages, change.audit, ctx, available_at=available)
        if ids is None:
            uow.restart()
            return self._duplicate(uow, env, msg)
        uow.commit()
        self._committed(ids, messages)
        metrics.count_money(change.events)
        return "accepted"

    def _committed(self, ids: list[int], messages: list[OutboundMessage]) -> None:
        """Publish a committed command's outbox rows now; they stay the relay's after the
        grace period unless the broker confirms them first."""
        if self.direct is not None:
            self.direct.submit(list(zip(ids, messages, strict=True)))

    # --- rejections and duplicates ----------------------------------------------------

    def _store_rejection(self, env: Named, msg: InboundMessage, rejection: _Rejection) -> str:
        with self.unit_of_work() as uow:
            return self._reject_in(uow, env, msg, rejection, raw=msg.body)

    def _reject_in(
        self,
        uow: SqlUnitOfWork,
        env: Named,
        msg: InboundMessage,
        rejection: _Rejection,
        raw: bytes | None,
    ) -> str:
        """Record the rejection (the inbox keeps the message, card-like runs masked) and
        publish it; a message seen before gets its first outcome again."""
        now = self.clock()
        outcome = self._rejected(env.id, env.type, env.subject, rejection, _cause(env, msg), now)
        doc = msg.parsed if raw is msg.body else None
        kept = None if raw is None else kept_copy(raw, CardScan(), doc)
        available = self.direct.available_at() if self.direct else None
        entry = _entry(env, outcome, now, raw=kept)
        ids = uow.journal.record(entry, outcome, [], available_at=available)
        if ids is None:
            uow.restart()
            return self._duplicate(uow, env, msg)
        uow.commit()
        self._committed(ids, outcome)
        metrics.REJECTIONS.labels(rejection.code).inc()
        log.info(
            "command rejected",
            extra={"command_id": env.id, "type": env.type, "code": rejection.code},
        )
        return "rejected"

    def _duplicate(self, uow: SqlUnitOfWork, env: Named, msg: InboundMessage) -> str:
        """A command seen before: re-send its first outcome (the same event, the same id), also
        for a redelivery, so whoever waits on reply_to gets an answer; consumers dedupe by id."""
        stored = uow.inbox.find(env.source, env.id)
        if stored is None:  # pragma: no cover - callers saw the conflict
            raise RuntimeError(f"inbox row for {env.id} vanished")
        outcome_id = orjson.loads(stored.outcome)["id"]
        out = [
            to_exchange(
                self.settings.events_exchange, stored.outcome_type, outcome_id, stored.outcome
            )
        ]
        if msg.reply_to:
            out.append(
                to_reply(
                    msg.reply_to,
                    reply_correlation(msg.correlation_id, env.id),
                    stored.outcome_type,
                    outcome_id,
                    stored.outcome,
                )
            )
        uow.outbox.add(out, self.clock())
        uow.commit()
        log.info(
            "duplicate command",
            extra={"command_id": env.id, "type": env.type, "redelivered": msg.redelivered},
        )
        return "duplicate"

    def _unreadable(
        self,
        msg: InboundMessage,
        reason: str,
        detail: str,
        scan: CardScan,
        *,
        code: RejectionCode = "invalid",
        doc: dict[str, Any] | None = None,
        errors: list[FieldError] | None = None,
    ) -> tuple[str, str, float | None]:
        """A message that is no usable envelope ends one way: rejected where its source, id
        and type can be read (the sender is answered; the inbox keeps a masked copy), else
        dead-lettered with its reason."""
        detail = scan.mask(detail)
        ids = _readable_ids(doc)
        if ids is None:
            self._dead_letter(msg, reason, detail, scan)
            return metrics.type_label(None), "dead_lettered", None
        rejection = _Rejection(code, detail, errors or [], {})
        log.info("unreadable message rejected", extra={"reason": reason, "command_id": ids.id})
        return metrics.type_label(ids.type), self._store_rejection(ids, msg, rejection), None

    def _dead_letter(
        self,
        msg: InboundMessage,
        reason: str,
        detail: str,
        scan: CardScan,
        answer: _Ids | None = None,
    ) -> None:
        """Keep a message, card-like runs masked: a row in `dead_letters` and a copy in the
        dead-letter queue; with `answer`, an `internal_error` rejection too, in the same
        transaction. An over-size body is kept as its first bytes only (`msg.body` is no
        more than that)."""
        kept = kept_copy(msg.body, scan, msg.parsed)
        routing_key = scan.mask(msg.routing_key)
        headers = {
            "x-ordercare-reason": reason,
            "x-ordercare-detail": printable(detail, 1000),
            "x-original-exchange": printable(msg.exchange),
            "x-original-routing-key": printable(routing_key),
            "x-original-message-id": msg.message_id or "",
            "x-original-size": msg.length,
        }
        copy = OutboundMessage(
            "",
            self.settings.dead_letter_queue,
            f"dead:{time.time_ns()}",
            kept,
            {"headers": headers, "content_type": "application/octet-stream"},
        )
        now = self.clock()
        with self.unit_of_work() as uow:
            uow.dead_letters.add(
                reason=reason,
                detail=detail,
                exchange=msg.exchange,
                routing_key=routing_key,
                body=kept,
                at=now,
            )
            uow.outbox.add([copy], now)
            if answer is not None:
                rejection = _Rejection("internal_error", detail, [], {})
                outcome = self._rejected(answer.id, answer.type, answer.subject, rejection,
                                         _cause(answer, msg), now)  # fmt: skip
                uow.outbox.add(outcome, now)
                metrics.REJECTIONS.labels("internal_error").inc()
            uow.commit()
        metrics.DEAD_LETTERS.labels(reason).inc()
        log.warning("message dead-lettered", extra={"reason": reason, "routing_key": routing_key})

    def _refuse_card(
        self, msg: InboundMessage, doc: dict[str, Any], where: str, scan: CardScan
    ) -> tuple[str, str, float | None]:
        """Refuse a message that carries a card number. Only a copy with the
        number masked is kept (inbox, dead letters) or answered; the number is never logged."""
        masked_doc = scan.mask_document(doc)
        masked = replace(msg, body=written(masked_doc, msg.body, scan), parsed=masked_doc)
        problem = (
            f"{where} holds what looks like a payment card number, which OrderCare never "
            "accepts: send the payment service's token_ref with brand, last4 and expiry"
        )
        error = FieldError(loc=where, message="looks like a card number", type="card_number")
        try:
            env = Envelope.model_validate(masked_doc)
        except ValidationError:
            return self._unreadable(
                masked, "card_number", problem, scan, doc=masked_doc, errors=[error]
            )
        rejection = _Rejection("invalid", problem, [error], {"rule": "no_card_numbers"})
        label, sent = metrics.type_label(env.type), _sent_at(env)
        if env.type in QUERIES and masked.reply_to:
            return label, self._reply_rejected(env, _cause(env, masked), rejection), sent
        return label, self._store_rejection(env, masked, rejection), sent

    # --- queries ----------------------------------------------------------------------

    def _query(self, env: Envelope, msg: InboundMessage) -> str:
        cause = _cause(env, msg)
        if not msg.reply_to:
            problem = f"{env.type} is a query: publish it with a reply_to queue"
            return self._store_rejection(env, msg, _Rejection("invalid", problem, [], {}))
        query = self._validate(env, QUERIES)
        if isinstance(query, _Rejection):
            return self._reply_rejected(env, cause, query)
        try:
            result = self._answer(env.type, query)
        except Rejected as exc:
            return self._reply_rejected(env, cause, _rejection(exc))
        accepted = CommandAccepted(
            command_id=env.id, command_type=env.type, subject=env.subject, result=result
        )
        answer = self._outcome(accepted, env.subject, cause, self.clock())[-1]
        return self._reply(env, answer) or "accepted"

    def _answer(self, message_type: str, query: QueryData) -> dict[str, Any]:
        """The query's answer from the read replica where one is configured and has caught
        up with the version the query must see; else from the primary. The replica's version
        check and the answer share one transaction, and a replica only moves forward, so an
        answer from it includes that version."""
        handler = QUERY_HANDLERS[message_type].handler
        why = "no_replica"
        if self.read_unit_of_work is not None:
            try:
                with self.read_unit_of_work() as uow:
                    current = _caught_up(uow, query.must_see())
                    REPLICA_OUTAGE.recovered()
                    if current:
                        return _counted("replica", "replica_current", handler, query, uow)
                why = "replica_behind"
            except DBAPIError as exc:
                REPLICA_OUTAGE.failed(f"{type(exc.orig or exc).__name__}: {_first_line(exc)}")
                why = "replica_down"
        with self.unit_of_work() as uow:
            return _counted("primary", why, handler, query, uow)

    def _reply_rejected(self, env: Envelope, cause: Cause, rejection: _Rejection) -> str:
        outcome = self._rejected(env.id, env.type, env.subject, rejection, cause, self.clock())
        if (refused := self._reply(env, outcome[-1])) is not None:
            return refused
        metrics.REJECTIONS.labels(rejection.code).inc()
        return "rejected"

    def _reply(self, env: Envelope, answer: OutboundMessage) -> str | None:
        """Send a query's answer to its reply_to. Where the broker refuses that queue, the
        query is rejected on the events exchange instead (one end; no answer data there)."""
        try:
            self.replier.reply(answer)
        except ReplyRefused:
            problem = "the broker refused to deliver to reply_to: not a live reply queue"
            bare = InboundMessage(b"", "", env.type)
            return self._store_rejection(env, bare, _Rejection("invalid", problem, [], {}))
        return None

    # --- building messages ------------------------------------------------------------

    def _event(
        self, event: BaseModel, subject: str | None, cause: Cause, now: datetime
    ) -> OutboundMessage:
        event_type: str = getattr(event, "TYPE")  # noqa: B009 - every event model declares it
        event_id, body = cloudevent(
            self.settings.event_source,
            event_type,
            subject,
            event.model_dump(mode="json"),
            cause,
            now,
        )
        return to_exchange(self.settings.events_exchange, event_type, event_id, body)

    def _outcome(
        self,
        outcome: CommandAccepted | CommandRejected,
        subject: str | None,
        cause: Cause,
        now: datetime,
    ) -> list[OutboundMessage]:
        """The outcome on the events exchange and, when asked for, on reply_to (last)."""
        event_id, body = cloudevent(
            self.settings.event_source,
            outcome.TYPE,
            subject,
            outcome.model_dump(mode="json"),
            cause,
            now,
        )
        out = [to_exchange(self.settings.events_exchange, outcome.TYPE, event_id, body)]
        if cause.reply_to:
            out.append(
                to_reply(cause.reply_to, cause.reply_correlation_id, outcome.TYPE, event_id, body)
            )
        return out

    def _rejected(
        self,
        command_id: str,
        command_type: str,
        subject: str | None,
        rejection: _Rejection,
        cause: Cause,
        now: datetime,
    ) -> list[OutboundMessage]:
        # What a rejection tells in words may quote the input: card-like runs are masked.
        # The ids stay verbatim, so the sender can always match the outcome to its command.
        scan = CardScan()
        rejected = CommandRejected(
            command_id=command_id,
            command_type=_shown_type(command_type, scan),
            subject=subject,
            code=rejection.code,
            message=scan.mask(rejection.message),
            errors=[
                FieldError(loc=scan.mask(e.loc), message=scan.mask(e.message), type=e.type)
                for e in rejection.errors
            ],
            details=rejection.details,
        )
        return self._outcome(rejected, subject, cause, now)


def _counted(
    database: str, why: str, handler: QueryHandler, query: QueryData, uow: SqlUnitOfWork
) -> dict[str, Any]:
    """The handler's answer (a rejection is an answer too), counted by who gave it."""
    answered = False
    try:
        result = handler(query, uow)
        answered = True
        return result
    except Rejected:
        answered = True
        raise
    finally:
        if answered:
            metrics.QUERY_READS.labels(database, why).inc()


def _caught_up(uow: SqlUnitOfWork, minimum: MinimumVersion | None) -> bool:
    if minimum is None:
        return True
    version = uow.version_of(minimum.entity, minimum.entity_id)
    return version is not None and version >= minimum.version


def _entry(
    env: Named, outcome: list[OutboundMessage], at: datetime, raw: bytes | None
) -> InboxEntry:
    """The inbox row: the command's key and its outcome (the events-exchange copy)."""
    first = outcome[0]
    shown = _shown_type(env.type, CardScan())
    return InboxEntry(
        env.source, env.id, shown, env.subject, first.properties["type"], first.body, at, raw
    )


def _shown_type(message_type: str, scan: CardScan) -> str:
    """A type as OrderCare repeats it: one it does not know is input like any text, so a
    card-like run in it is masked (types are not identifiers)."""
    known = message_type in COMMANDS or message_type in QUERIES
    return message_type if known else scan.mask(message_type)


def _system(source: str) -> Actor:
    """A partner system acting with no person named: its envelope source is the actor."""
    return Actor(id=source[:64], role="system")


def _cause(env: Named, msg: InboundMessage) -> Cause:
    return Cause(
        env.id, env.correlationid, msg.reply_to, reply_correlation(msg.correlation_id, env.id)
    )


def _rejection(exc: Rejected) -> _Rejection:
    details = {k: v for k, v in exc.details.items() if k != "field"}
    field = exc.details.get("field")
    errors = [FieldError(loc=field, message=exc.message, type=exc.code)] if field else []
    return _Rejection(exc.code, exc.message, errors, details)


#: Field errors a rejection lists; a message with more says how many it left out.
MAX_FIELD_ERRORS = 50


def _errors(exc: ValidationError, prefix: str | None = None) -> list[FieldError]:
    found = []
    errors = exc.errors(include_url=False, include_input=False)
    for err in errors[:MAX_FIELD_ERRORS]:
        loc = ".".join(str(part) for part in ((prefix,) if prefix else ()) + tuple(err["loc"]))
        found.append(
            FieldError(loc=printable(loc or "(root)", 300), message=err["msg"], type=err["type"])
        )
    if len(errors) > MAX_FIELD_ERRORS:
        more = f"{len(errors) - MAX_FIELD_ERRORS} more errors not listed"
        found.append(FieldError(loc=prefix or "(root)", message=more, type="too_many_errors"))
    return found


def _summary(exc: ValidationError, prefix: str | None = None) -> str:
    errors = _errors(exc, prefix)
    if len(errors) == 1:
        return f"{errors[0].loc}: {errors[0].message}"
    fields = ", ".join(e.loc for e in errors[:6]) + (", …" if len(errors) > 6 else "")
    return f"{len(errors)} fields failed validation ({fields}); see errors"


def _first_line(exc: DBAPIError) -> str:
    lines = str(exc.orig).strip().splitlines() if exc.orig else []
    return lines[0][:200] if lines else "out of range"


def _sent_at(env: Envelope) -> float | None:
    """The envelope's time as a timestamp; a time without a zone is taken as UTC."""
    if env.time is None:
        return None
    sent = env.time if env.time.tzinfo else env.time.replace(tzinfo=UTC)
    return sent.timestamp()


def _readable_ids(doc: dict[str, Any] | None) -> _Ids | None:
    """The source, id and type of a broken message when it still names them as an inbox row
    can hold them (text of 1 to 200 characters, a type of at most 100, no NUL)."""
    if doc is None:
        return None
    source, id_, type_ = (_storable(doc.get(k), 200) for k in ("source", "id", "type"))
    if source is None or id_ is None or type_ is None or len(type_) > 100:
        return None
    return _Ids(source, id_, type_, _storable(doc.get("subject"), 200),
                _storable(doc.get("correlationid"), 200))  # fmt: skip


def _storable(value: Any, limit: int) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value:
        return value
    return None
