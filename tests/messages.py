"""Memorable messages for tests: Ada's account, a small catalogue, her order."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from actors.demo_story import ADA_TOTAL, AGENT, BERLIN, STOREFRONT

__all__ = ["ADA_TOTAL", "AGENT", "BERLIN", "STOREFRONT"]


def envelope(type_: str, data: dict[str, Any], *, command_id: str | None = None,
             source: str = "helpdesk/eu-1", subject: str | None = None) -> dict[str, Any]:  # fmt: skip
    doc: dict[str, Any] = {
        "specversion": "1.0", "id": command_id or str(uuid.uuid4()), "source": source, "type": type_,
        "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json", "data": data,
    }  # fmt: skip
    if subject:
        doc["subject"] = subject
    return doc


def digits(text: str | bytes) -> str:
    """Every decimal digit of a text (bytes read as UTF-8), to look for a card number in
    however it was spaced."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "".join(c for c in text if c.isdecimal())


def amqp_nested_arrays(depth: int) -> bytes:
    """An AMQP field-table value: arrays nested `depth` deep (pika cannot write one)."""
    inner = b"V"
    for _ in range(depth):
        inner = b"A" + struct.pack(">I", len(inner)) + inner
    return inner


def body(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)


def catalog() -> dict[str, Any]:
    return envelope("catalog.upsert", {"actor": STOREFRONT, "items": [
        {"sku": "TEE-ORGANIC-M", "name": "Organic tee, M", "prices": {"EUR": "25.00"}, "tax_class": "standard"},
        {"sku": "HOODIE-GREY-L", "name": "Grey hoodie, L", "prices": {"EUR": "59.90"}, "tax_class": "standard"},
        {"sku": "BOOK-CARE-GUIDE", "name": "The care guide (book)", "prices": {"EUR": "18.00"},
         "tax_class": "reduced", "backorderable": True},
    ]}, source="storefront/eu")  # fmt: skip


def account(account_id: str = "acc_ada") -> dict[str, Any]:
    return envelope("billing_account.create", {"actor": AGENT, "account_id": account_id,
                                               "name": "Ada Lovelace", "email": "ada@example.com"})  # fmt: skip


def order(
    order_id: str | None = None, account_id: str = "acc_ada", **payment: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "actor": STOREFRONT, "account_id": account_id, "currency": "EUR",
        "lines": [{"sku": "TEE-ORGANIC-M", "quantity": 2}, {"sku": "HOODIE-GREY-L", "quantity": 1}],
        "delivery": {"method": "standard", "address": BERLIN},
        "payment": {"authorized": ADA_TOTAL, "captured": ADA_TOTAL, **payment},
    }  # fmt: skip
    if order_id:
        data["order_id"] = order_id
    return envelope("order.create", data, source="storefront/eu")


def cancel(
    order_id: str, expected_version: int | None = None, actor: dict[str, str] = AGENT
) -> dict[str, Any]:
    data: dict[str, Any] = {"actor": actor, "order_id": order_id, "reason": "customer_request"}
    if expected_version is not None:
        data["expected_version"] = expected_version
    return envelope("order.cancel", data, subject=order_id)


def get(order_id: str) -> dict[str, Any]:
    return envelope("order.get", {"actor": AGENT, "order_id": order_id}, subject=order_id)


def amend(order_id: str, changes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    data = {"actor": AGENT, "order_id": order_id, "reason": "customer_request",
            "changes": changes, **extra}  # fmt: skip
    return envelope("order.amend", data, subject=order_id)


def change_delivery(order_id: str, **changes: Any) -> dict[str, Any]:
    data = {"actor": AGENT, "order_id": order_id, "reason": "address_correction", **changes}
    return envelope("order.change_delivery", data, subject=order_id)


def warehouse(type_: str, order_id: str, **data: Any) -> dict[str, Any]:
    """A WMS message: no actor, the source is audited."""
    return envelope(type_, {"order_id": order_id, **data}, source="wms/berlin-1", subject=order_id)


def payment(type_: str, order_id: str, **data: Any) -> dict[str, Any]:
    return envelope(type_, {"order_id": order_id, **data}, source="payments/psp", subject=order_id)


#: A care manager, who approves appeasements above an agent's limits.
MANAGER = {"id": "manager-hopper", "role": "manager"}


def appeasement(
    type_: str, actor: dict[str, str] = AGENT, subject: str | None = None, **data: Any
) -> dict[str, Any]:
    """appeasement.offer, .approve, .reject or .expire, as `actor`."""
    return envelope(type_, {"actor": actor, **data}, subject=subject)


def create_return(order_id: str, *lines: tuple[str, int, str], return_id: str = "rma_1",
                  method: str = "drop_off", actor: dict[str, str] = AGENT,
                  **extra: Any) -> dict[str, Any]:  # fmt: skip
    """return.create of (line, quantity, reason); `replacements=[…]` makes it an exchange."""
    data = {"actor": actor, "order_id": order_id, "return_id": return_id, "method": method,
            "lines": [{"line_id": lid, "quantity": n, "reason": why} for lid, n, why in lines],
            **extra}  # fmt: skip
    return envelope("return.create", data, subject=order_id)


def return_received(
    order_id: str, return_id: str, *units: tuple[str, str, str, int], warehouse_id: str = "berlin-1"
) -> dict[str, Any]:
    """warehouse.return_received of (line, sku, condition, quantity): what the parcel held."""
    by_line: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for lid, sku, condition, n in units:
        by_line.setdefault((lid, sku), []).append({"condition": condition, "quantity": n})
    lines = [{"line_id": lid, "sku": sku, "units": u} for (lid, sku), u in by_line.items()]
    return warehouse("warehouse.return_received", order_id, return_id=return_id,
                     warehouse=warehouse_id, lines=lines)  # fmt: skip


def cancel_return(order_id: str, return_id: str, actor: dict[str, str] = AGENT) -> dict[str, Any]:
    data = {"actor": actor, "order_id": order_id, "return_id": return_id,
            "reason": "customer_request"}  # fmt: skip
    return envelope("return.cancel", data, subject=order_id)


def decide_return(order_id: str, return_id: str, *decisions: tuple[str, str, str],
                  actor: dict[str, str] = MANAGER) -> dict[str, Any]:  # fmt: skip
    """return.decide of (line, condition, outcome), each for every unit awaiting it."""
    data = {"actor": actor, "order_id": order_id, "return_id": return_id, "reason": "goodwill",
            "decisions": [{"line_id": lid, "condition": c, "outcome": o} for lid, c, o in decisions]}  # fmt: skip
    return envelope("return.decide", data, subject=order_id)


def update_account(account_id: str = "acc_ada", **changes: Any) -> dict[str, Any]:
    """billing_account.update by agent 17, from ticket 4411."""
    doc = envelope("billing_account.update", {"actor": AGENT, "account_id": account_id, **changes},
                   subject=account_id)  # fmt: skip
    doc["correlationid"] = "ticket-4411"
    return doc


def search_accounts(q: str, **options: Any) -> dict[str, Any]:
    return envelope("billing_account.search", {"actor": AGENT, "q": q, **options})


def get_account(account_id: str = "acc_ada") -> dict[str, Any]:
    return envelope("billing_account.get", {"actor": AGENT, "account_id": account_id},
                    subject=account_id)  # fmt: skip


def audit(entity_type: str, entity_id: str, **options: Any) -> dict[str, Any]:
    data = {"actor": AGENT, "entity_type": entity_type, "entity_id": entity_id, **options}
    return envelope("audit.get", data, subject=entity_id)
