"""Memorable messages for tests: Ada's account, a small catalogue, her order."""

from __future__ import annotations

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
