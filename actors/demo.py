"""`ordercare demo`: tell the care story and print each command, its outcome and its events."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import orjson

from actors.demo_story import Step, story
from actors.logs import configure_logging
from actors.settings import Settings

WIDTH = 96


class Bus(Protocol):
    """Delivers a step's message and returns what OrderCare published because of it."""

    def send(self, step: Step) -> list[tuple[str, dict[str, Any]]]: ...


def run_demo(settings: Settings, *, embedded: bool) -> int:
    """Tell the story; 0 when every step had the outcome the story expects."""
    where = (
        "embedded (SQLite in memory, in-process broker)"
        if embedded
        else f"RabbitMQ {_host(settings.amqp_url)} and PostgreSQL {_host(settings.database_url)}"
    )
    print(f"OrderCare demo: {where}\n")
    configure_logging("ERROR")
    with _embedded(settings) if embedded else _servers(settings) as bus:
        failures = sum(
            not _tell(n, step, bus) for n, step in enumerate(story(uuid.uuid4().hex[:6]), 1)
        )
    print(
        "\nEvery step behaved as the story expects."
        if not failures
        else f"\n{failures} step(s) surprised us."
    )
    return 1 if failures else 0


def _tell(n: int, step: Step, bus: Bus) -> bool:
    print(f"{n:>2}. {step.title}")
    body = step.body
    label = step.routing_key if isinstance(body, dict) else "(raw bytes)"
    if isinstance(body, dict):
        print(
            f"    ▶ {label}  id={body['id'][:8]}…  actor={body['data'].get('actor', {}).get('role')}"
        )
    else:
        print(f"    ▶ {len(body)} bytes on routing key {step.routing_key}: {body!r}")
    published = bus.send(step)
    got = _classify(published)
    outcome_ids = {doc.get("id") for kind, doc in published if kind == "outcome"}
    for kind, doc in published:
        if kind == "reply" and doc.get("id") in outcome_ids:
            continue  # the same outcome, also sent to reply_to
        for line in _describe(kind, doc):
            print(textwrap.indent(line, "      "))
    ok = got == step.expect
    print(f"    {'✓' if ok else '✗'} {got}{'' if ok else f' (expected {step.expect})'}\n")
    return ok


def _classify(published: list[tuple[str, dict[str, Any]]]) -> str:
    kinds = [kind for kind, _ in published]
    if "dead-letter" in kinds:
        return "dead_lettered"
    outcome = next((doc for kind, doc in published if kind in ("outcome", "reply")), None)
    if outcome is None:
        return "nothing"
    if outcome["type"] == "command.rejected":
        return "rejected"
    domain = [doc for kind, doc in published if kind == "event"]
    expected = outcome["data"].get("event_ids", [])
    return "duplicate" if expected and not domain else "accepted"


def _describe(kind: str, doc: dict[str, Any]) -> list[str]:
    if kind == "dead-letter":
        return [f"☠ dead-lettered to the DLQ: {doc['reason']} — {doc['detail']}"]
    data, type_ = doc.get("data", {}), doc.get("type", "?")
    if type_ == "command.accepted":
        head = f"◀ {'reply' if kind == 'reply' else 'outcome'}: accepted"
        if data.get("version"):
            head += f", {data.get('subject')} now v{data['version']}"
        result = data.get("result", {})
        if "lines" in result:  # a query's answer
            return [head, *_order_lines(result)]
        return [head + (f"  {json.dumps(result, ensure_ascii=False)}" if result else "")]
    if type_ == "command.rejected":
        lines = [f"◀ outcome: rejected [{data['code']}] {data['message']}"]
        lines += [f"    · {e['loc']}: {e['message']}" for e in data.get("errors", [])[:6]]
        return lines
    return [f"● {type_}  " + _event_summary(type_, data)]


def _event_summary(type_: str, data: dict[str, Any]) -> str:
    if type_ == "order.created":
        t = data["totals"]
        return f"{data['order_id']}: {len(data['lines'])} lines, total {t['total']} {t['currency']} (tax {t['tax']})"
    if type_ == "order.cancelled":
        return (
            f"{data['order_id']}: total {data['old_totals']['total']} → {data['new_totals']['total']}, "
            f"refund due {data['refund_due']}, authorisation released {data['authorization_released']}"
        )
    if type_ == "credit_memo.issued":
        m = data["credit_memo"]
        reasons = ", ".join(f"{x['description']} {x['net']}+{x['tax']} tax" for x in m["lines"])
        return f"{m['credit_memo_id']} against {m['invoice_id']}: {m['total']} {m['currency']} ({reasons})"
    if type_ == "refund.requested":
        r = data["refund"]
        return f"{r['refund_id']}: {r['amount']} {r['currency']} to {r['method'].replace('_', ' ')}"
    return json.dumps(data)[:WIDTH]


def _order_lines(view: dict[str, Any]) -> list[str]:
    t = view["totals"]
    lines = [
        f"    {view['order_id']} v{view['version']} {view['status']}, {view['delivery']['method']} "
        f"delivery to {(view['delivery'].get('address') or {}).get('city', 'pickup')}"
    ]
    for line in view["lines"]:
        lines.append(
            f"    {line['line_id']}: {line['quantity']} × {line['name']} @ {line['unit_price']} = "
            f"{line['net']} + {line['tax']} tax  [{line['state']}]"
        )
    lines.append(
        f"    subtotal {t['subtotal']}, shipping {t['shipping']}, tax {t['tax']}, "
        f"total {t['total']} {t['currency']}; balance due {view['payment']['balance_due']}"
    )
    return lines


def _host(url: str) -> str:
    return url.rsplit("@", maxsplit=1)[-1].split("?", maxsplit=1)[0]


# --- the two transports ---------------------------------------------------------------


@contextmanager
def _embedded(settings: Settings) -> Iterator[Bus]:
    from actors.embedded import EmbeddedOrderCare

    care = EmbeddedOrderCare(settings)

    class EmbeddedBus:
        def send(self, step: Step) -> list[tuple[str, dict[str, Any]]]:
            body = step.body if isinstance(step.body, bytes) else orjson.dumps(step.body)
            out = care.send(
                body, step.routing_key, reply_to="amq.gen-demo-replies", correlation_id="demo"
            )
            return [_kind(m.exchange, m.routing_key, m.body, m.properties, settings) for m in out]

    yield EmbeddedBus()


def _kind(
    exchange: str, routing_key: str, body: bytes, props: dict[str, Any], settings: Settings
) -> tuple[str, dict[str, Any]]:
    if routing_key == settings.dead_letter_queue:
        headers = props.get("headers") or {}
        return "dead-letter", {
            "reason": headers.get("x-ordercare-reason"),
            "detail": headers.get("x-ordercare-detail"),
        }
    doc = orjson.loads(body)
    if exchange == "":
        return "reply", doc
    return ("outcome" if doc["type"].startswith("command.") else "event"), doc


@contextmanager
def _servers(settings: Settings) -> Iterator[Bus]:
    from actors.live import LiveOrderCare

    care = LiveOrderCare(settings)
    try:
        yield care
    finally:
        care.close()
