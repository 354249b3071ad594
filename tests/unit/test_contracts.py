"""The wire contracts: decimal-string amounts, closed commands, envelopes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.common import Money
from contracts.envelope import Envelope
from contracts.orders import CancelOrder, CreateOrder, Delivery, Payment

ADDRESS = {
    "name": "Ada",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}
ENVELOPE = {
    "specversion": "1.0",
    "id": "cmd-4411",
    "source": "helpdesk/eu-1",
    "type": "order.cancel",
}


def errors_of(caught: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(tuple(e["loc"]), e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize("amount", [12.3, 12, 0])
def test_an_amount_sent_as_a_json_number_is_refused_in_favour_of_a_decimal_string(
    amount: float,
) -> None:
    with pytest.raises(ValidationError) as caught:
        Payment.model_validate({"authorized": amount, "captured": "0"})

    [(loc, message)] = errors_of(caught)
    assert loc == ("authorized",)
    assert "decimal strings" in message


def test_an_amount_string_is_parsed_exactly_and_written_back_as_a_string() -> None:
    payment = Payment.model_validate({"authorized": "0.10", "captured": "0.1"})

    assert payment.authorized == Decimal("0.10")
    assert payment.model_dump(mode="json")["authorized"] == "0.10"
    assert Money(amount=Decimal("1E+1"), currency="EUR").model_dump(mode="json")["amount"] == "10"


@pytest.mark.parametrize("amount", ["12,30", "1e3", "NaN", " 12.30", "12.1234567", ""])
def test_an_amount_string_that_is_not_a_plain_decimal_is_refused(amount: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Payment.model_validate({"authorized": amount, "captured": "0"})

    assert "decimal amount" in errors_of(caught)[0][1]


def test_a_payment_cannot_capture_more_than_was_authorised() -> None:
    with pytest.raises(ValidationError) as caught:
        Payment.model_validate({"authorized": "10.00", "captured": "10.01"})

    assert "captured cannot exceed authorized" in str(caught.value)


def test_a_payment_amount_cannot_be_negative() -> None:
    with pytest.raises(ValidationError):
        Payment.model_validate({"authorized": "-1.00", "captured": "-2.00"})


@pytest.mark.parametrize(
    "delivery",
    [
        {"method": "standard"},
        {"method": "standard", "address": ADDRESS, "pickup_location_id": "pl_berlin_mitte"},
    ],
)
def test_a_delivery_needs_exactly_one_of_address_or_pickup_location(
    delivery: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError) as caught:
        Delivery.model_validate(delivery)

    assert "exactly one of address or pickup_location_id" in str(caught.value)


def test_a_delivery_to_an_address_or_a_pickup_location_is_valid() -> None:
    assert Delivery.model_validate({"method": "standard", "address": ADDRESS}).address is not None
    pickup = Delivery.model_validate({"method": "pickup", "pickup_location_id": "pl_berlin_mitte"})
    assert pickup.pickup_location_id == "pl_berlin_mitte"


def test_a_command_with_an_unknown_field_is_refused() -> None:
    data = {
        "actor": {"id": "agent-grace", "role": "agent"},
        "order_id": "ord_ada_1",
        "reason": "customer_request",
        "refund_twice": True,
    }

    with pytest.raises(ValidationError) as caught:
        CancelOrder.model_validate(data)

    [(loc, _)] = errors_of(caught)
    assert loc == ("refund_twice",)


def test_unknown_fields_are_refused_deep_inside_a_command_too() -> None:
    data = {
        "actor": {"id": "agent-grace", "role": "agent", "is_admin": True},
        "account_id": "acc_ada",
        "currency": "EUR",
        "lines": [{"sku": "MUG-ADA", "quantity": 1, "price": "0.01"}],
        "delivery": {"method": "standard", "address": ADDRESS},
        "payment": {"authorized": "20.00", "captured": "0"},
    }

    with pytest.raises(ValidationError) as caught:
        CreateOrder.model_validate(data)

    assert {loc for loc, _ in errors_of(caught)} == {
        ("actor", "is_admin"),
        ("lines", 0, "price"),
    }


def test_a_cancel_needs_a_reason_because_money_moves() -> None:
    with pytest.raises(ValidationError) as caught:
        CancelOrder.model_validate({"actor": {"id": "a", "role": "agent"}, "order_id": "ord_1"})

    assert errors_of(caught)[0][0] == ("reason",)


def test_commands_are_frozen() -> None:
    command = CancelOrder.model_validate(
        {"actor": {"id": "a", "role": "agent"}, "order_id": "ord_1", "reason": "customer_request"}
    )

    with pytest.raises(ValidationError):
        command.order_id = "ord_2"  # type: ignore[misc]


def test_a_well_formed_envelope_is_read_and_tolerates_extension_attributes() -> None:
    envelope = Envelope.model_validate({**ENVELOPE, "traceparent": "00-abc-def-01"})

    assert (envelope.id, envelope.source, envelope.type) == (
        "cmd-4411",
        "helpdesk/eu-1",
        "order.cancel",
    )
    assert envelope.data is None  # a command's model then says what `data` must be


@pytest.mark.parametrize("missing", ["specversion", "id", "source", "type"])
def test_an_envelope_needs_specversion_id_source_and_type(missing: str) -> None:
    document = {k: v for k, v in ENVELOPE.items() if k != missing}

    with pytest.raises(ValidationError) as caught:
        Envelope.model_validate(document)

    assert [loc for loc, _ in errors_of(caught)] == [(missing,)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("specversion", "0.3"),
        ("id", ""),
        ("source", ""),
        ("type", ""),
        ("datacontenttype", "text/xml"),
    ],
)
def test_an_envelope_with_a_malformed_attribute_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Envelope.model_validate({**ENVELOPE, field: value})

    assert errors_of(caught)[0][0] == (field,)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/cloudevents+json"])  # fmt: skip
def test_json_content_types_with_parameters_are_accepted(content_type: str) -> None:
    assert (
        Envelope.model_validate({**ENVELOPE, "datacontenttype": content_type}).datacontenttype
        == content_type
    )


def test_every_example_in_ops_is_a_valid_message_of_its_type() -> None:
    import json
    from pathlib import Path

    from contracts.registry import COMMANDS, QUERIES

    examples = sorted((Path(__file__).resolve().parents[2] / "ops" / "examples").glob("*.json"))
    assert examples
    for path in examples:
        doc = json.loads(path.read_text())
        model = {**COMMANDS, **QUERIES}[doc["type"]]
        model.model_validate(doc["data"])
