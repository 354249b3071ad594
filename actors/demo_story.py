"""The care story `ordercare demo` tells: each step a message, and what the reader should see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AGENT = {"id": "agent-17", "role": "agent"}
STOREFRONT = {"id": "storefront-import", "role": "system"}


@dataclass(frozen=True, slots=True)
class Step:
    """One message of the story."""

    title: str
    body: bytes | dict[str, Any]
    routing_key: str
    expect: str  # accepted | rejected | duplicate | dead_lettered


def envelope(
    type_: str,
    data: dict[str, Any],
    *,
    source: str = "helpdesk/eu-1",
    subject: str | None = None,
    command_id: str | None = None,
) -> dict[str, Any]:
    doc = {
        "specversion": "1.0",
        "id": command_id or str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "correlationid": "ticket-4411",
        "data": data,
    }
    if subject:
        doc["subject"] = subject
    return doc


#: Ada's delivery and billing address.
BERLIN = {
    "name": "Ada Lovelace",
    "line1": "Invalidenstraße 117",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
#: 2 x 25.00 + 59.90 net, 4.95 standard shipping, 19 % German VAT.
ADA_TOTAL = "136.67"


def catalog_upsert() -> dict[str, Any]:
    """Three SKUs: two at the standard rate, a book at the reduced rate."""
    items = [
        {"sku": "TEE-ORGANIC-M", "name": "Organic tee, M", "prices": {"EUR": "25.00", "GBP": "22.00"},
         "tax_class": "standard"},
        {"sku": "HOODIE-GREY-L", "name": "Grey hoodie, L", "prices": {"EUR": "59.90"},
         "tax_class": "standard"},
        {"sku": "BOOK-CARE-GUIDE", "name": "The care guide (book)", "prices": {"EUR": "18.00"},
         "tax_class": "reduced", "backorderable": True},
    ]  # fmt: skip
    return envelope("catalog.upsert", {"actor": STOREFRONT, "items": items}, source="storefront/eu")


def ada_account(account_id: str) -> dict[str, Any]:
    """Ada's billing account, opened by an agent."""
    data = {"actor": AGENT, "account_id": account_id, "name": "Ada Lovelace",
            "email": "ada@example.com", "locale": "de-DE", "billing_address": BERLIN}  # fmt: skip
    return envelope("billing_account.create", data)


def ada_order(
    account_id: str, order_id: str | None = None, reference: str = "psp_ch_3QX9"
) -> dict[str, Any]:
    """Two tees and a hoodie to Berlin, paid in full; OrderCare makes the id when none is given."""
    data: dict[str, Any] = {
        "actor": STOREFRONT, "account_id": account_id, "currency": "EUR",
        "lines": [{"sku": "TEE-ORGANIC-M", "quantity": 2}, {"sku": "HOODIE-GREY-L", "quantity": 1}],
        "delivery": {"method": "standard", "address": BERLIN},
        "payment": {"authorized": ADA_TOTAL, "captured": ADA_TOTAL, "reference": reference},
    }  # fmt: skip
    if order_id:
        data["order_id"] = order_id
    return envelope("order.create", data, source="storefront/eu", subject=order_id)


def story(run: str) -> list[Step]:
    """The steps, with ids made unique by `run` so the story can be told again on one database."""
    order_id, account_id = f"ord_{run}_1001", f"acc_{run}_ada"
    create = ada_order(account_id, order_id)
    return [
        Step(
            "The storefront loads three SKUs into the catalogue",
            catalog_upsert(),
            "catalog.upsert",
            "accepted",
        ),
        Step(
            "An agent opens a billing account for Ada",
            ada_account(account_id),
            "billing_account.create",
            "accepted",
        ),
        Step(
            "The storefront imports Ada's order: two tees and a hoodie to Berlin",
            create,
            "order.create",
            "accepted",
        ),
        Step(
            "The agent reads the order back",
            envelope("order.get", {"actor": AGENT, "order_id": order_id}, subject=order_id),
            "order.get",
            "accepted",
        ),
        Step(
            "A helpdesk bug sends an order with a float amount and a malformed line",
            envelope(
                "order.create",
                {
                    "actor": AGENT,
                    "account_id": account_id,
                    "currency": "EUR",
                    "lines": [{"sku": "NOPE!", "quantity": 0}],
                    "delivery": {
                        "method": "standard",
                        "pickup_location_id": "pl_berlin_mitte",
                        "address": {"name": "A", "line1": "B", "city": "C", "country": "DE"},
                    },
                    "payment": {"authorized": 10.5, "captured": "0"},
                },
            ),
            "order.create",
            "rejected",
        ),
        Step(
            "Something publishes a body that is not JSON at all",
            b"\x00\xffnot json{",
            "order.create",
            "dead_lettered",
        ),
        Step(
            "The storefront's retry re-sends the very same order.create",
            create,
            "order.create",
            "duplicate",
        ),
        Step(
            "The agent cancels with a stale version (the agent saw v2)",
            envelope(
                "order.cancel",
                {
                    "actor": AGENT,
                    "order_id": order_id,
                    "reason": "customer_request",
                    "expected_version": 2,
                },
                subject=order_id,
            ),
            "order.cancel",
            "rejected",
        ),
        Step(
            "The agent cancels at the customer's request",
            envelope(
                "order.cancel",
                {
                    "actor": AGENT,
                    "order_id": order_id,
                    "reason": "customer_request",
                    "expected_version": 1,
                    "note": "Customer ordered the wrong size; will reorder.",
                },
                subject=order_id,
            ),
            "order.cancel",
            "accepted",
        ),
        Step(
            "A second agent tries to cancel it again",
            envelope(
                "order.cancel",
                {
                    "actor": {"id": "agent-22", "role": "agent"},
                    "order_id": order_id,
                    "reason": "customer_request",
                },
                subject=order_id,
            ),
            "order.cancel",
            "rejected",
        ),
    ]
