"""`ordercare demo`: tell the care story and print each command, its outcome and its events."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import orjson

import amqp_nodes
from actors.demo_story import DEMO_MARKET, Step, story
from actors.logs import configure_logging
from actors.settings import Settings
from notifier.kinds import Customer, notifications_for
from notifier.render import plain_text

if TYPE_CHECKING:
    from actors.embedded import EmbeddedOrderCare

WIDTH = 96


class Bus(Protocol):
    """Delivers a step's message and returns what OrderCare published because of it."""

    def send(self, step: Step) -> list[tuple[str, dict[str, Any]]]: ...


def run_demo(settings: Settings, *, embedded: bool) -> int:
    """Tell the story; 0 when every step had the outcome the story expects."""
    where = (
        f"embedded (in-process broker; a throwaway database on PostgreSQL "
        f"{_host(settings.database_url).rsplit('/', 1)[0]})"
        if embedded
        else f"RabbitMQ {amqp_nodes.place(settings.amqp_url)} and PostgreSQL "
        f"{_host(settings.database_url)}"
    )
    print(f"OrderCare demo: {where}")
    print(f"The Berlin shop's {DEMO_MARKET} prices include VAT, as consumer prices in Germany "
          f"must (ordercare market set {DEMO_MARKET} --prices tax-included).\n")  # fmt: skip
    configure_logging("ERROR")
    if not embedded:
        _require_market(settings)
    with _embedded(settings) if embedded else _servers(settings) as bus:
        failures = tell_story(bus)
    print(
        "\nEvery step behaved as the story expects."
        if not failures
        else f"\n{failures} step(s) surprised us."
    )
    return 1 if failures else 0


def tell_story(bus: Bus) -> int:
    """Send every step of the story through `bus`, printing it; the number of surprises."""
    memory: dict[str, str] = {}
    steps = enumerate(story(uuid.uuid4().hex[:6]), 1)
    return sum(not _tell(n, step, bus, memory) for n, step in steps)


def _tell(n: int, step: Step, bus: Bus, memory: dict[str, str]) -> bool:
    print(f"{n:>2}. {step.title}")
    step = _filled(step, memory)
    body = step.body
    label = step.routing_key if isinstance(body, dict) else "(raw bytes)"
    if isinstance(body, dict):
        print(
            f"    ▶ {label}  id={body['id'][:8]}…  "
            + (
                f"actor={actor['role']}"
                if (actor := body["data"].get("actor"))
                else f"from {body['source']}"
            )
        )
    else:
        print(f"    ▶ {len(body)} bytes on routing key {step.routing_key}: {body!r}")
    published = bus.send(step)
    _remember(published, memory)
    got = _classify(published)
    outcome_ids = {doc.get("id") for kind, doc in published if kind == "outcome"}
    for kind, doc in published:
        if kind == "reply" and doc.get("id") in outcome_ids:
            continue  # the same outcome, also sent to reply_to
        for line in _describe(kind, doc):
            print(textwrap.indent(line, "      "))
        if kind == "event":
            for mail in _emails(doc):
                print(textwrap.indent(mail, "          "))
    ok = got == step.expect
    print(f"    {'✓' if ok else '✗'} {got}{'' if ok else f' (expected {step.expect})'}\n")
    return ok


#: Kinds whose whole e-mail the demo prints (the others by their subject line).
WHOLE_EMAILS = frozenset({"item_short", "item_backordered", "return_received"})

#: The demo's one customer, as the notifier reads her from her billing account.
ADA = Customer("(the demo's account)", "Ada Lovelace", "ada@example.com", "de-DE")


def _emails(event: dict[str, Any]) -> list[str]:
    """What the notifier would e-mail for an event, as its plain-text rendering: the embedded
    demo has no SendGrid templates (`ordercare notifier` sends the real ones)."""
    shown = []
    for planned in notifications_for(event, ADA):
        if planned.skip:
            shown.append(f"✉ {planned.kind}: not sent ({planned.skip})")
            continue
        text = plain_text(planned.kind, planned.data)
        subject = text.splitlines()[0].removeprefix("Subject: ")
        if planned.kind not in WHOLE_EMAILS:
            shown.append(f"✉ {planned.kind} e-mail to Ada: “{subject}”")
            continue
        body = textwrap.indent(text, "│ ", lambda _line: True)
        shown.append(f"✉ {planned.kind} e-mail to Ada ({planned.locale}):\n{body}")
    return shown


def _filled(step: Step, memory: dict[str, str]) -> Step:
    """The step with "{name}" placeholders replaced by ids OrderCare made earlier."""
    if not isinstance(step.body, dict):
        return step
    text = orjson.dumps(step.body).decode()
    for name, value in memory.items():
        text = text.replace("{" + name + "}", value)
    return replace(step, body=orjson.loads(text))


def _remember(published: list[tuple[str, dict[str, Any]]], memory: dict[str, str]) -> None:
    for kind, doc in published:
        if kind == "event" and doc.get("type") == "refund.requested":
            memory["refund"] = doc["data"]["refund"]["refund_id"]


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
        if result.get("preview"):
            return [head + " (a preview: nothing applied)", *_preview(result)]
        if "lines" in result:  # a query's answer
            return [head, *_order_lines(result)]
        if "settlement" in result:
            money = result["settlement"]
            moved = (
                "no money moves"
                if money["direction"] == "none"
                else f"{money['direction']} {money['difference']}, refund {money['refund_due']}, "
                f"balance due {money['balance_due']}"
            )
            return [f"{head}  total now {result['new_totals']['total']}; {moved}"]
        return [head + (f"  {json.dumps(result, ensure_ascii=False)}" if result else "")]
    if type_ == "command.rejected":
        lines = [f"◀ outcome: rejected [{data['code']}] {data['message']}"]
        lines += [f"    · {e['loc']}: {e['message']}" for e in data.get("errors", [])[:6]]
        return lines
    return [f"● {type_}  " + _event_summary(type_, data)]


def _event_summary(type_: str, data: dict[str, Any]) -> str:
    summary = _SUMMARIES.get(type_)
    return summary(data) if summary else json.dumps(data)[:WIDTH]


def _change(data: dict[str, Any]) -> str:
    old, new, money = data["old_totals"], data["new_totals"], data["settlement"]
    text = f"{data['order_id']} v{data['version']}: total {old['total']} → {new['total']} {new['currency']}"
    if money["refund_due"] != "0.00" and float(money["refund_due"]):
        text += f", refund {money['refund_due']}"
    if float(money["authorization_released"]):
        text += f", capture {money['authorization_released']} less"
    if float(money["balance_due"]):
        text += f", balance due {money['balance_due']}"
    return text


def _amended(data: dict[str, Any]) -> str:
    changes = "; ".join(
        f"{c['action']} {c['line_id']} {c['sku']} {c['old_quantity']}→{c['new_quantity']}"
        for c in data["changes"]
    )
    return f"{_change(data)}  [{changes}]"


def _memo(data: dict[str, Any]) -> str:
    m = data["credit_memo"]
    reasons = ", ".join(
        f"{x['reason']}: {x['description']} {x['net']}+{x['tax']} tax" for x in m["lines"]
    )
    return (
        f"{m['credit_memo_id']} against {m['invoice_id']}: {m['total']} {m['currency']} ({reasons})"
    )


def _refund(data: dict[str, Any]) -> str:
    r = data["refund"]
    return f"{r['refund_id']}: {r['amount']} {r['currency']} to {r['method'].replace('_', ' ')}"


def _fulfillment(data: dict[str, Any]) -> str:
    lines = ", ".join(
        f"{x['line_id']} {x['previously_to_ship']}→{x['to_ship']}" for x in data["lines"]
    )
    moved = " (new delivery address or method)" if data["delivery_changed"] else ""
    return f"to pick: {lines or 'unchanged'}{moved}" + (
        " — stop: nothing left" if data["cancelled"] else ""
    )


def _rma(data: dict[str, Any]) -> str:
    rma = data["rma"]
    lines = "; ".join(
        f"{x['line_id']} {x['quantity']} × {x['sku']} ({x['reason']})"
        + (
            " received " + ", ".join(f"{c['quantity']} {c['condition']}" for c in x["received"])
            if x["received"]
            else ""
        )
        for x in rma["lines"]
    )
    extra = f", {len(rma['exceptions'])} exception(s)" if rma["exceptions"] else ""
    return f"{rma['return_id']} {rma['status']} ({rma['method']}): {lines}{extra}; {_change(data)}"


_SUMMARIES: dict[str, Any] = {
    "order.created": lambda d: (
        f"{d['order_id']}: {len(d['lines'])} lines, total {d['totals']['total']} "
        f"{d['totals']['currency']} (tax {d['totals']['tax']})"
    ),
    "order.amended": _amended,
    "order.cancelled": lambda d: f"{_change(d)} ({d['scope']})",
    "order.delivery_changed": lambda d: (
        f"{_change(d)}; to {(d['new_delivery'].get('address') or {}).get('line1', 'pickup')}"
    ),
    "credit_memo.issued": _memo,
    "refund.requested": _refund,
    "refund.settled": _refund,
    "payment.balance_due": lambda d: f"{d['order_id']}: {d['balance_due']} {d['currency']} owed",
    "payment.authorization_reduced": lambda d: (
        f"{d['order_id']}: capture {d['released']} {d['currency']} less"
    ),
    "fulfillment.changed": _fulfillment,
    "line.short_picked": lambda d: (
        f"{d['line_id']} {d['name']}: {d['quantity_short']} short, {d['quantity_left']} still coming; "
        + _change(d)
    ),
    "line.backordered": lambda d: (
        f"{d['line_id']} {d['name']}: {d['quantity']} backordered until {d['expected_date']}"
    ),
    "order.shipped": lambda d: (
        f"{d['shipment']['shipment_id']} via {d['shipment']['carrier']} "
        f"{d['shipment']['tracking_number']}: "
        + ", ".join(f"{x['quantity']} × {x['name']}" for x in d["shipment"]["lines"])
        + f" — order {d['status']}"
    ),
    "order.delivered": lambda d: f"{d['shipment_id']} delivered — order {d['status']}",
    "order.payment_captured": lambda d: (
        f"{d['order_id']} v{d['version']}: {d['amount']} {d['currency']} captured, "
        f"balance due {d['payment']['balance_due']}"
    ),
    "order.discounted": lambda d: (
        f"{_change(d)}; {d['discount']} off {d.get('line_id') or 'the order'}"
    ),
    "appeasement.pending_approval": lambda d: (
        f"{d['appeasement']['appeasement_id']} {d['appeasement']['value']} "
        f"{d['appeasement']['currency']} waits for approval: "
        + ", ".join(f"{x['limit']} {x['role']} cap {x['cap']}" for x in d["exceeded"])
    ),
    "appeasement.granted": lambda d: (
        f"{d['appeasement']['appeasement_id']} {d['appeasement']['value']} "
        f"{d['appeasement']['currency']} granted"
        + (f" by {d['approved_by']['id']}" if d.get("approved_by") else "")
    ),
    "return.authorized": _rma,
    "exchange.created": lambda d: (
        _rma(d)
        + "; replacements: "
        + ", ".join(f"{x['line_id']} {x['quantity']} × {x['name']}" for x in d["replacements"])
    ),
    "return.received": _rma,
    "return.decided": _rma,
    "return.cancelled": _rma,
    "return.expired": _rma,
}


def _preview(result: dict[str, Any]) -> list[str]:
    lines = [
        f"    would be: total {result['old_totals']['total']} → {result['new_totals']['total']} "
        f"{result['new_totals']['currency']}"
    ]
    for event in result["events"]:
        lines.append(
            f"    would publish {event['type']}  {_event_summary(event['type'], event['data'])}"
        )
    return lines


def _order_lines(view: dict[str, Any]) -> list[str]:
    t = view["totals"]
    lines = [
        f"    {view['order_id']} v{view['version']} {view['status']}, {view['delivery']['method']} "
        f"delivery to {(view['delivery'].get('address') or {}).get('city', 'pickup')}"
    ]
    included = t.get("tax_included", False)
    for line in view["lines"]:
        money = (
            f"{Decimal(line['net']) + Decimal(line['tax'])} incl. {line['tax']} tax"
            if included
            else f"{line['net']} + {line['tax']} tax"
        )
        lines.append(
            f"    {line['line_id']}: {line['quantity']} × {line['name']} @ {line['unit_price']} = "
            f"{money}  [{line['state']}]"
        )
    lines.append(
        f"    subtotal {t['subtotal']}, shipping {t['shipping']}, "
        f"{'of which tax' if included else 'tax'} {t['tax']}, total {t['total']} "
        f"{t['currency']}; balance due {view['payment']['balance_due']}"
    )
    return lines


def _host(url: str) -> str:
    return url.rsplit("@", maxsplit=1)[-1].split("?", maxsplit=1)[0]


# --- the two transports ---------------------------------------------------------------


class EmbeddedBus:
    """The story's messages to OrderCare in process."""

    def __init__(self, care: EmbeddedOrderCare) -> None:
        self.care = care

    def send(self, step: Step) -> list[tuple[str, dict[str, Any]]]:
        settings = self.care.settings
        body = step.body if isinstance(step.body, bytes) else orjson.dumps(step.body)
        out = self.care.send(
            body,
            step.routing_key,
            reply_to="amq.gen-demo-replies",
            correlation_id="demo",
            exchange=settings.origin_exchange(step.via) if step.via else None,
        )
        return [_kind(m.exchange, m.routing_key, m.body, m.properties, settings) for m in out]


@contextmanager
def _embedded(settings: Settings) -> Iterator[Bus]:
    from actors.embedded import embedded_order_care

    with embedded_order_care(settings, tax_included=frozenset({DEMO_MARKET})) as care:
        yield EmbeddedBus(care)


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


def _require_market(settings: Settings) -> None:
    """The story's amounts are tax-included EUR: refuse to tell it to a database whose EUR
    market is priced otherwise rather than change an operator's setting."""
    from actors.cli_errors import USAGE, CliFailure
    from actors.cli_ops import operations
    from persistence.repositories import REFERENCE_TTL_SECONDS

    with operations(settings) as ops:
        included = ops.markets().get(DEMO_MARKET, False)
    if not included:
        raise CliFailure(
            f"the demo's {DEMO_MARKET} prices include tax, this database's do not",
            f"market {DEMO_MARKET}",
            f"run `ordercare market set {DEMO_MARKET} --prices tax-included` (workers read it "
            f"within {REFERENCE_TTL_SECONDS:g} s), or `ordercare demo --embedded`",
            USAGE,
        )


@contextmanager
def _servers(settings: Settings) -> Iterator[Bus]:
    from actors.live import LiveOrderCare

    care = LiveOrderCare(settings)
    try:
        yield care
    finally:
        care.close()
