"""The care story `ordercare demo` tells: each step a message, and what the reader should see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contracts.registry import Origin

AGENT = {"id": "agent-17", "role": "agent"}
MANAGER = {"id": "manager-3", "role": "manager"}
STOREFRONT = {"id": "storefront-import", "role": "system"}


@dataclass(frozen=True, slots=True)
class Step:
    """One message of the story."""

    title: str
    body: bytes | dict[str, Any]
    routing_key: str
    expect: str  # accepted | rejected | duplicate | dead_lettered
    #: Publish to this publisher group's exchange instead of the type's own.
    via: Origin | None = None


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
#: 2 x 25.00 + 59.90 net, 4.95 standard shipping, 19 % German VAT on top: the order in a
#: market whose prices are net of tax (the tests' default).
ADA_TOTAL = "136.67"
#: The same order in the demo's Berlin shop, whose EUR prices include VAT as German consumer
#: prices must: 2 x 25.00 + 59.90 + 4.95, of which 18.33 VAT.
BERLIN_TOTAL = "114.85"
#: The currency whose prices the demo's shop quotes tax included.
DEMO_MARKET = "EUR"


WMS = "wms/berlin-1"
PSP = "payments/psp-eu"


def catalog_upsert() -> dict[str, Any]:
    """Six SKUs: tees and hoodies in two sizes, a backorderable book (reduced rate), a mug."""
    items = [
        {"sku": "TEE-ORGANIC-M", "name": "Organic tee, M", "prices": {"EUR": "25.00", "GBP": "22.00"},
         "tax_class": "standard"},
        {"sku": "TEE-ORGANIC-S", "name": "Organic tee, S", "prices": {"EUR": "22.00"},
         "tax_class": "standard"},
        {"sku": "HOODIE-GREY-L", "name": "Grey hoodie, L", "prices": {"EUR": "59.90"},
         "tax_class": "standard"},
        {"sku": "HOODIE-GREY-XL", "name": "Grey hoodie, XL", "prices": {"EUR": "64.90"},
         "tax_class": "standard"},
        {"sku": "BOOK-CARE-GUIDE", "name": "The care guide (book)", "prices": {"EUR": "18.00"},
         "tax_class": "reduced", "backorderable": True},
        {"sku": "MUG-ENAMEL", "name": "Enamel mug", "prices": {"EUR": "12.00"},
         "tax_class": "standard"},
    ]  # fmt: skip
    return envelope("catalog.upsert", {"actor": STOREFRONT, "items": items}, source="storefront/eu")


def ada_account(account_id: str) -> dict[str, Any]:
    """Ada's billing account, opened by an agent."""
    data = {"actor": AGENT, "account_id": account_id, "name": "Ada Lovelace",
            "email": "ada@example.com", "locale": "de-DE", "billing_address": BERLIN}  # fmt: skip
    return envelope("billing_account.create", data)


def ada_order(
    account_id: str,
    order_id: str | None = None,
    reference: str = "psp_ch_3QX9",
    total: str = ADA_TOTAL,
) -> dict[str, Any]:
    """Two tees and a hoodie to Berlin, paid in full; OrderCare makes the id when none is given."""
    data: dict[str, Any] = {
        "actor": STOREFRONT, "account_id": account_id, "currency": "EUR",
        "lines": [{"sku": "TEE-ORGANIC-M", "quantity": 2}, {"sku": "HOODIE-GREY-L", "quantity": 1}],
        "delivery": {"method": "standard", "address": BERLIN},
        "payment": {"authorized": total, "captured": total, "reference": reference},
    }  # fmt: skip
    if order_id:
        data["order_id"] = order_id
    return envelope("order.create", data, source="storefront/eu", subject=order_id)


def amend(order_id: str, changes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """An agent's amendment of an order's lines."""
    data = {"actor": AGENT, "order_id": order_id, "reason": "customer_request",
            "changes": changes, **extra}  # fmt: skip
    return envelope("order.amend", data, subject=order_id)


def warehouse(type_: str, order_id: str, **data: Any) -> dict[str, Any]:
    """A message from the Berlin warehouse (no person acts: the source is audited)."""
    return envelope(type_, {"order_id": order_id, **data}, source=WMS, subject=order_id)


def story(run: str) -> list[Step]:
    """The steps, with ids made unique by `run` so the story can be told again on one database.
    The shop's EUR prices include tax (`DEMO_MARKET`)."""
    order_id, account_id = f"ord_{run}_1001", f"acc_{run}_ada"
    create = ada_order(account_id, order_id, total=BERLIN_TOTAL)
    return [
        *_setup(order_id, account_id, create),
        *_amendments(order_id),
        *_fulfilment(order_id),
        *_returns(order_id),
        *_appeasement(order_id),
    ]


def _setup(order_id: str, account_id: str, create: dict[str, Any]) -> list[Step]:
    return [
        Step(
            "The storefront loads six SKUs into the catalogue",
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
    ]


def _amendments(order_id: str) -> list[Step]:
    swap = [{"action": "replace", "line_id": "l1", "sku": "TEE-ORGANIC-S"}]
    return [
        Step(
            "Ada wrote the wrong street: the agent fixes the address (no money moves)",
            envelope(
                "order.change_delivery",
                {
                    "actor": AGENT,
                    "order_id": order_id,
                    "reason": "address_correction",
                    "expected_version": 1,
                    "address": {**BERLIN, "line1": "Invalidenstraße 43", "postal_code": "10115"},
                },
                subject=order_id,
            ),
            "order.change_delivery",
            "accepted",
        ),
        Step(
            "The agent previews swapping the tees for the cheaper size S",
            amend(order_id, swap, preview=True),
            "order.amend",
            "accepted",
        ),
        Step(
            "Ada agrees: the tees are swapped (credit memo and refund for the difference)",
            amend(order_id, swap, expected_version=2),
            "order.amend",
            "accepted",
        ),
        Step(
            "She wants a second hoodie: quantity up (a balance due for the payment service)",
            amend(order_id, [{"action": "set_quantity", "line_id": "l2", "quantity": 2}]),
            "order.amend",
            "accepted",
        ),
        Step(
            "A second agent, still looking at version 2, tries to cancel the order",
            envelope(
                "order.cancel",
                {
                    "actor": {"id": "agent-22", "role": "agent"},
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
            "An agent tries to sell the mug below the catalogue price (agents may not)",
            amend(
                order_id,
                [{"action": "add", "sku": "MUG-ENAMEL", "quantity": 1, "unit_price": "5.00"}],
            ),
            "order.amend",
            "rejected",
        ),
        Step(
            "The payment service confirms the tee refund",
            envelope(
                "payment.refund_settled",
                {"order_id": order_id, "refund_id": "{refund}", "provider_reference": "re_77"},
                source=PSP,
                subject=order_id,
            ),
            "payment.refund_settled",
            "accepted",
        ),
        Step(
            "… and captures the hoodie's balance due",
            envelope(
                "payment.captured",
                {"order_id": order_id, "amount": "59.90", "currency": "EUR"},
                source=PSP,
                subject=order_id,
            ),
            "payment.captured",
            "accepted",
        ),
    ]


def _fulfilment(order_id: str) -> list[Step]:
    return [
        Step(
            "The warehouse is one hoodie short: it is cancelled and refunded before anything ships",
            warehouse(
                "warehouse.short_picked",
                order_id,
                line_id="l2",
                sku="HOODIE-GREY-L",
                quantity=1,
                warehouse="berlin-1",
            ),
            "warehouse.short_picked",
            "accepted",
        ),
        Step(
            "The warehouse ships the two tees and the other hoodie",
            warehouse(
                "warehouse.shipped",
                order_id,
                shipment_id="shp_1",
                carrier="DHL",
                tracking_number="00340434161234567890",
                tracking_url="https://www.dhl.de/track?id=00340434161234567890",
                lines=[{"line_id": "l3", "quantity": 2}, {"line_id": "l2", "quantity": 1}],
                warehouse="berlin-1",
            ),
            "warehouse.shipped",
            "accepted",
        ),
        Step(
            "Too late to drop the tees: they have shipped (returns take it from here)",
            amend(order_id, [{"action": "remove", "line_id": "l3"}]),
            "order.amend",
            "rejected",
        ),
        Step(
            "The parcel arrives",
            warehouse("warehouse.delivered", order_id, shipment_id="shp_1"),
            "warehouse.delivered",
            "accepted",
        ),
        Step(
            "A helpdesk publishes a shipment as if it were the warehouse (wrong exchange)",
            warehouse("warehouse.delivered", order_id, shipment_id="shp_1"),
            "warehouse.delivered",
            "rejected",
            via="commands",
        ),
    ]


def _return(order_id: str, **data: Any) -> dict[str, Any]:
    return envelope(
        "return.create",
        {"actor": AGENT, "order_id": order_id, "reason": "customer_request", **data},
        subject=order_id,
    )


def _returns(order_id: str) -> list[Step]:
    tees = [{"line_id": "l3", "quantity": 2, "reason": "changed_mind"}]
    return [
        Step(
            "Ada wants to send back three tees: she only had two",
            _return(order_id, return_id="rma_1", lines=[{**tees[0], "quantity": 3}]),
            "return.create",
            "rejected",
        ),
        Step(
            "The agent authorises the return of both tees, with a prepaid label",
            _return(order_id, return_id="rma_1", lines=tees, method="carrier_label"),
            "return.create",
            "accepted",
        ),
        Step(
            "The parcel arrives: one tee as new, one stained (refund less restocking fee and label)",
            warehouse(
                "warehouse.return_received",
                order_id,
                return_id="rma_1",
                warehouse="berlin-1",
                lines=[
                    {
                        "line_id": "l3",
                        "sku": "TEE-ORGANIC-S",
                        "units": [
                            {"condition": "resellable", "quantity": 1},
                            {"condition": "damaged_by_customer", "quantity": 1},
                        ],
                    }
                ],
            ),
            "warehouse.return_received",
            "accepted",
        ),
        Step(
            "The hoodie is too small: exchanged for the XL, which ships at once (she owes 5.00)",
            _return(
                order_id,
                return_id="rma_2",
                lines=[{"line_id": "l2", "quantity": 1, "reason": "wrong_size"}],
                replacements=[{"line_id": "l2", "sku": "HOODIE-GREY-XL"}],
            ),
            "return.create",
            "accepted",
        ),
    ]


def _appeasement(order_id: str) -> list[Step]:
    apz = f"apz_{order_id}"
    decide = {"appeasement_id": apz, "reason": "late_delivery"}
    return [
        Step(
            "The XL came late: the agent offers 15.00 off it, above an agent's 15 % (waits)",
            envelope(
                "appeasement.offer",
                {
                    "actor": AGENT,
                    "appeasement_id": apz,
                    "kind": "discount",
                    "order_id": order_id,
                    "line_id": "l4",
                    "amount": "15.00",
                    "reason": "late_delivery",
                    "ticket": "ticket-4411",
                },
                subject=order_id,
            ),
            "appeasement.offer",
            "accepted",
        ),
        Step(
            "The agent tries to approve her own offer",
            envelope("appeasement.approve", {"actor": AGENT, **decide}, subject=order_id),
            "appeasement.approve",
            "rejected",
        ),
        Step(
            "A care manager approves it: a credit memo clears the 5.00 due and refunds the rest",
            envelope("appeasement.approve", {"actor": MANAGER, **decide}, subject=order_id),
            "appeasement.approve",
            "accepted",
        ),
    ]
