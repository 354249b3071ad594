"""Operator commands: `ordercare dead-letters`, `ordercare outbox status`, `ordercare inbox
show`, `ordercare market` and `ordercare doctor` (actors/doctor.py). Each prints lines for a person, or one
JSON document with --json; failures go through the CLI's one-line reporting (cli_errors).

Replaying a dead letter publishes its stored body again to the exchange and routing key it
first arrived on, with its CloudEvents id as the AMQP message_id, so a worker treats it as
the command it was: the inbox, keyed by (source, id), still lets it take effect at most
once however often it is replayed. Only dead letters of reason `handler_error` are
replayed: a message a worker gave up on after retries of an unexpected error (a bug, a
missing reference), with no inbox row, that can succeed once the cause is fixed. Every
other reason is a message that was not a usable envelope (not JSON, too large and kept
truncated, too deep, a NUL, not an envelope): it would be dead-lettered again as it is, so
replay refuses it, saying why, and the sender must publish a corrected message. A replayed
dead letter leaves the table once the broker confirmed it; should it fail again, it comes
back as a new row.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from actors.cli_errors import RUNTIME, USAGE, CliFailure
from actors.settings import Settings

#: The reason of the dead letters replay publishes again (see the module's docstring).
REPLAYABLE = "handler_error"

Run = Callable[[argparse.Namespace, Settings], int]

#: `ordercare market set --prices` -> markets.prices_include_tax.
PRICE_TERMS = {"tax-included": True, "tax-excluded": False}


def add_operator_parsers(sub: Any) -> None:
    """`dead-letters`, `outbox`, `inbox`, `market` and `doctor` on the CLI's sub-parsers."""
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="one JSON document on stdout")

    dead = sub.add_parser(
        "dead-letters", help="list, show, replay and purge dead letters"
    ).add_subparsers(metavar="TASK")
    listing = dead.add_parser("list", parents=[json_flag], help="the newest dead letters")
    listing.add_argument("--reason", help="only this reason (e.g. handler_error, not_json)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.set_defaults(run=_dead_list)
    show = dead.add_parser("show", parents=[json_flag], help="one dead letter with its body")
    show.add_argument("id", type=int)
    show.set_defaults(run=_dead_show)
    replay = dead.add_parser(
        "replay",
        parents=[json_flag],
        help=f"publish dead letters again, keeping their CloudEvents id (reason {REPLAYABLE} "
        "only: the others would be dead-lettered again as they are)",
    )
    replay.add_argument("ids", type=int, nargs="*", metavar="ID")
    replay.add_argument("--reason", help="every dead letter of this reason")
    replay.set_defaults(run=_dead_replay)
    purge = dead.add_parser("purge", parents=[json_flag], help="delete old dead letters")
    purge.add_argument(
        "--before", required=True, type=_moment, help="ISO date or time (UTC when no offset)"
    )
    purge.set_defaults(run=_dead_purge)

    outbox = sub.add_parser("outbox", help="the outbox").add_subparsers(metavar="TASK")
    outbox.add_parser(
        "status", parents=[json_flag], help="rows waiting and the oldest's age, per exchange"
    ).set_defaults(run=_outbox_status)

    inbox = sub.add_parser("inbox", help="the inbox").add_subparsers(metavar="TASK")
    inbox_show = inbox.add_parser(
        "show", parents=[json_flag], help="a command's outcome and when it was received"
    )
    inbox_show.add_argument("command_id", metavar="COMMAND_ID", help="the CloudEvents id")
    inbox_show.add_argument(
        "--source",
        help="the CloudEvents source: several may share an id, and with it the look-up uses "
        "the inbox's key (without it, the whole inbox is scanned)",
    )
    inbox_show.set_defaults(run=_inbox_show)

    market = sub.add_parser(
        "market", help="whether a currency's prices include tax"
    ).add_subparsers(metavar="TASK")
    market.add_parser(
        "list", parents=[json_flag], help="the price terms of every currency"
    ).set_defaults(run=_market_list)
    market_set = market.add_parser(
        "set",
        parents=[json_flag],
        help="set a currency's price terms for orders placed from now on",
    )
    market_set.add_argument("currency", metavar="CURRENCY", help="ISO 4217 code, e.g. EUR")
    market_set.add_argument(
        "--prices",
        required=True,
        choices=sorted(PRICE_TERMS),
        help="tax-included: catalogue prices, fees and appeasements are what the customer pays "
        "(EU, UK, AU consumer prices); tax-excluded: tax is added on top (US-style)",
    )
    market_set.set_defaults(run=_market_set)

    doctor = sub.add_parser(
        "doctor",
        parents=[json_flag],
        help="check the database, migrations, broker, topology, permissions and risky "
        "settings; exit 1 on a failure",
    )
    doctor.set_defaults(run=_doctor)


def _market_list(args: argparse.Namespace, settings: Settings) -> int:
    from services.money import MINOR_UNITS

    with operations(settings) as ops:
        explicit = ops.markets()
    terms = {c: "tax-included" if explicit.get(c) else "tax-excluded" for c in sorted(MINOR_UNITS)}
    if args.json:
        _print_json(terms)
        return 0
    for currency, term in terms.items():
        print(f"{currency}  {term}{'' if currency in explicit else '  (default)'}")
    return 0


def _market_set(args: argparse.Namespace, settings: Settings) -> int:
    from persistence.repositories import REFERENCE_TTL_SECONDS
    from services.errors import Invalid
    from services.money import check_currency

    currency = args.currency.upper()
    try:
        check_currency(currency)
    except Invalid as exc:
        raise CliFailure(str(exc), f"market set {args.currency}", "name a supported currency",
                         USAGE) from None  # fmt: skip
    with operations(settings) as ops:
        ops.set_market(currency, PRICE_TERMS[args.prices], datetime.now(UTC))
    result = {"currency": currency, "prices": args.prices}
    if args.json:
        _print_json(result)
    else:
        print(f"{currency} prices are {args.prices} for orders placed from now on (workers "
              f"read it within {REFERENCE_TTL_SECONDS:g} s); orders already placed keep their "
              "terms")  # fmt: skip
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO date or time (2026-12-01 or 2026-12-01T12:00:00+01:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@contextmanager
def operations(settings: Settings) -> Iterator[Any]:
    """Operator statements on one connection of the configured database, in a transaction."""
    from persistence.engine import make_engine
    from persistence.operations import Operations
    from persistence.sql import Sql

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn, conn.begin():
            yield Operations(Sql(conn))
    finally:
        engine.dispose()


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _dead_dict(d: Any, *, body: bool = False) -> dict[str, Any]:
    out = {
        "id": d.id,
        "reason": d.reason,
        "detail": d.detail,
        "exchange": d.exchange,
        "routing_key": d.routing_key,
        "size": d.size,
        "received_at": d.received_at.isoformat(),
        "replayable": d.reason == REPLAYABLE,
    }
    if body:
        try:
            out["body"], out["body_encoding"] = d.body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            out["body"], out["body_encoding"] = base64.b64encode(d.body).decode(), "base64"
    return out


def _dead_list(args: argparse.Namespace, settings: Settings) -> int:
    with operations(settings) as ops:
        found = ops.dead_letters(reason=args.reason, limit=args.limit)
    if args.json:
        _print_json([_dead_dict(d) for d in found])
        return 0
    for d in found:
        print(f"{d.id:>8}  {d.received_at:%Y-%m-%d %H:%M:%S}  {d.reason:<16} "
              f"{d.exchange or '(default)'} {d.routing_key}  {d.size} B  {d.detail[:80]}")  # fmt: skip
    if not found:
        print("no dead letters" + (f" of reason {args.reason}" if args.reason else ""))
    return 0


def _dead_show(args: argparse.Namespace, settings: Settings) -> int:
    with operations(settings) as ops:
        found = ops.dead_letter(args.id)
    if found is None:
        raise CliFailure(
            "no such dead letter", f"id {args.id}", "see `ordercare dead-letters list`", RUNTIME
        )
    shown = _dead_dict(found, body=True)
    if args.json:
        _print_json(shown)
        return 0
    for key, value in shown.items():
        print(f"{key}: {value}")
    return 0


def replay_refusal(reason: str, body: bytes, exchange: str) -> str | None:
    """Why a dead letter is not replayed, or None when it is."""
    if reason != REPLAYABLE:
        return (
            f"reason {reason}: it was not a usable message and would be dead-lettered again; "
            "the sender must publish a corrected one"
        )
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "its stored body is not JSON"
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(k), str) for k in ("id", "source", "type")
    ):
        return "its stored body is not a CloudEvent with an id, source and type"
    if not exchange:
        return "it names no exchange it arrived on"
    return None


def _dead_replay(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.ids) == bool(args.reason):
        raise CliFailure(
            "name dead letters by ID or --reason", "dead-letters replay", "give one of the two",
            USAGE,
        )  # fmt: skip
    if args.reason and args.reason != REPLAYABLE:
        raise CliFailure(
            f"dead letters of reason {args.reason} are not replayable",
            "dead-letters replay --reason",
            f"only {REPLAYABLE} is: the others would be dead-lettered again as they are",
            USAGE,
        )
    with operations(settings) as ops:
        ids = list(args.ids) if args.ids else ops.dead_letter_ids(args.reason)
        letters = {i: ops.dead_letter(i) for i in ids}
    results = []
    replayable = {}
    for i in ids:
        letter = letters[i]
        if letter is None:
            results.append({"id": i, "replayed": False, "why": "no such dead letter"})
            continue
        why = replay_refusal(letter.reason, letter.body, letter.exchange)
        if why is not None:
            results.append({"id": i, "replayed": False, "why": why})
            continue
        replayable[i] = letter
    if replayable:
        results += _publish_again(settings, list(replayable.values()))
    results.sort(key=lambda r: ids.index(r["id"]))
    if args.json:
        _print_json(results)
    else:
        for r in results:
            if r["replayed"]:
                print(f"replayed {r['id']}: command {r['command_id']} to {r['exchange']} "
                      f"{r['routing_key']}")  # fmt: skip
            else:
                print(f"not replayed {r['id']}: {r['why']}")
        if not results:
            print("no dead letters to replay")
    return 0 if all(r["replayed"] for r in results) else RUNTIME


def _publish_again(settings: Settings, letters: list[Any]) -> list[dict[str, Any]]:
    """Publish each with confirms and mandatory; remove the row once confirmed."""
    import pika
    import pika.exceptions

    import amqp_nodes

    done = []
    connection = amqp_nodes.connect(settings.amqp_url)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for letter in letters:
            doc = json.loads(letter.body)
            props = pika.BasicProperties(
                content_type="application/cloudevents+json",
                delivery_mode=2,
                message_id=doc["id"],
                headers={"x-ordercare-replayed-from": letter.id},
            )
            try:
                channel.basic_publish(
                    letter.exchange, letter.routing_key, letter.body, props, mandatory=True
                )
            except pika.exceptions.UnroutableError:
                done.append({"id": letter.id, "replayed": False,
                             "why": f"no queue is bound to {letter.exchange}: run `ordercare "
                                    "broker setup` or start a worker"})  # fmt: skip
                continue
            with operations(settings) as ops:
                ops.remove_dead_letter(letter.id)
            done.append({"id": letter.id, "replayed": True, "command_id": doc["id"],
                         "exchange": letter.exchange, "routing_key": letter.routing_key})  # fmt: skip
    finally:
        if connection.is_open:
            connection.close()
    return done


def _dead_purge(args: argparse.Namespace, settings: Settings) -> int:
    with operations(settings) as ops:
        count = ops.purge_dead_letters(args.before)
    if args.json:
        _print_json({"deleted": count, "before": args.before.isoformat()})
    else:
        print(f"deleted {count} dead letter(s) received before {args.before.isoformat()}")
    return 0


def _outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    with operations(settings) as ops:
        backlog = ops.outbox_backlog(now)
    rows = [
        {
            "exchange": b.exchange,
            "rows": b.rows,
            "oldest_age_seconds": round((now - b.oldest).total_seconds(), 3),
            "deferred": b.deferred,
            "most_attempts": b.most_attempts,
            "in_grace": b.in_grace,
        }
        for b in backlog
    ]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(f"{r['exchange'] or '(default)':<32} {r['rows']:>8} rows  oldest "
              f"{r['oldest_age_seconds']:.1f} s  deferred {r['deferred']}  "
              f"attempts up to {r['most_attempts']}  in grace {r['in_grace']}")  # fmt: skip
    if not rows:
        print("the outbox is empty")
    return 0


def _inbox_show(args: argparse.Namespace, settings: Settings) -> int:
    with operations(settings) as ops:
        records = ops.inbox(args.command_id, args.source)
    if not records:
        source = f" from {args.source}" if args.source else ""
        raise CliFailure(
            "no inbox record",
            f"command {args.command_id}{source}",
            "it was not received yet, is still queued or retrying, or was dead-lettered "
            "(ordercare dead-letters list)",
            RUNTIME,
        )
    shown = []
    for r in records:
        try:
            outcome: Any = json.loads(r.outcome)
        except ValueError:
            outcome = r.outcome.decode("utf-8", "replace")
        shown.append({"source": r.source, "command_id": r.message_id, "type": r.type,
                      "subject": r.subject, "outcome_type": r.outcome_type, "outcome": outcome,
                      "received_at": r.received_at.isoformat()})  # fmt: skip
    if args.json:
        _print_json(shown if len(shown) > 1 else shown[0])
        return 0
    for s in shown:
        print(f"{s['source']} {s['command_id']}: {s['type']} {s['outcome_type']} "
              f"received {s['received_at']}")  # fmt: skip
        print(json.dumps(s["outcome"], indent=2))
    return 0


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from actors.doctor import diagnose

    results = diagnose(settings)
    if args.json:
        _print_json([{"status": s, "check": what} for s, what in results])
    else:
        for status, what in results:
            print(f"{status:<5} {what}")
    return RUNTIME if any(s == "fail" for s, _ in results) else 0
