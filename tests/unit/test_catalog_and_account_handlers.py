"""Catalogue and billing-account handlers with fakes, and who may send what."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from contracts.accounts import CreateBillingAccount
from contracts.catalog import UpsertCatalog
from contracts.common import Actor
from services.accounts.handlers import create_account
from services.accounts.model import Account
from services.catalog.handlers import upsert_catalog
from services.catalog.model import CatalogEntry
from services.errors import AlreadyExists, Forbidden, Invalid
from services.registry import authorize

from .fakes import FakeAccounts, FakeCatalog, FakeUnitOfWork, context

MANAGER = {"id": "manager-hopper", "role": "manager"}
MUG = {
    "sku": "MUG-ADA",
    "name": "Ada Lovelace mug",
    "prices": {"EUR": "12.30"},
    "tax_class": "standard",
}


def upsert(*items: dict[str, Any]) -> UpsertCatalog:
    return UpsertCatalog.model_validate({"actor": MANAGER, "items": list(items)})


def refused_upsert(*items: dict[str, Any]) -> Invalid:
    uow = FakeUnitOfWork()
    with pytest.raises(Invalid) as caught:
        upsert_catalog(upsert(*items), context("catalog.upsert"), uow)
    assert uow.catalog.entries == {}
    return caught.value


# --- catalogue -------------------------------------------------------------------------


def test_upserting_new_skus_adds_them_and_audits_each_from_nothing() -> None:
    uow = FakeUnitOfWork()
    book = {**MUG, "sku": "BOOK-ENGINE", "name": "The Analytical Engine", "tax_class": "reduced"}

    change = upsert_catalog(upsert(MUG, book), context("catalog.upsert"), uow)

    assert change.result == {"skus": ["MUG-ADA", "BOOK-ENGINE"]}
    assert change.events == []
    assert uow.catalog.entries["BOOK-ENGINE"].tax_class == "reduced"
    assert uow.catalog.entries["MUG-ADA"].prices == {"EUR": Decimal("12.30")}
    assert [(a.entity_type, a.entity_id, a.action, a.before) for a in change.audit] == [
        ("sku", "MUG-ADA", "catalog.upserted", None),
        ("sku", "BOOK-ENGINE", "catalog.upserted", None),
    ]
    assert change.audit[0].after == {
        "name": "Ada Lovelace mug",
        "prices": {"EUR": "12.30"},
        "tax_class": "standard",
        "backorderable": False,
        "active": True,
    }


def test_upserting_an_existing_sku_replaces_it_and_audits_the_old_price() -> None:
    old = CatalogEntry("MUG-ADA", "Ada Lovelace mug", {"EUR": Decimal("9.99")}, "standard")
    uow = FakeUnitOfWork(catalog=FakeCatalog([old]))

    change = upsert_catalog(upsert(MUG), context("catalog.upsert"), uow)

    [audit] = change.audit
    assert audit.before is not None and audit.after is not None
    assert (audit.before["prices"], audit.after["prices"]) == ({"EUR": "9.99"}, {"EUR": "12.30"})
    assert uow.catalog.entries["MUG-ADA"].prices["EUR"] == Decimal("12.30")


def test_a_sku_with_an_unconfigured_tax_class_is_invalid() -> None:
    rejection = refused_upsert(MUG, {**MUG, "sku": "GOLD-BAR", "tax_class": "luxury"})

    assert rejection.details == {"field": "data.items.1.tax_class"}
    assert "luxury" in rejection.message and "standard" in rejection.message


@pytest.mark.parametrize(
    ("currency", "price"),
    [("EUR", "-1.00"), ("EUR", "12.305"), ("JPY", "1999.5"), ("KWD", "1.2345")],
)
def test_a_negative_price_or_one_finer_than_the_currency_is_invalid(
    currency: str, price: str
) -> None:
    rejection = refused_upsert({**MUG, "prices": {currency: price}})

    assert rejection.details == {"field": f"data.items.0.prices.{currency}"}


def test_prices_on_each_currency_minor_unit_are_accepted() -> None:
    uow = FakeUnitOfWork()
    item = {**MUG, "prices": {"EUR": "12.30", "JPY": "1999", "KWD": "3.750", "GBP": "0"}}

    upsert_catalog(upsert(item), context("catalog.upsert"), uow)

    assert uow.catalog.entries["MUG-ADA"].prices["KWD"] == Decimal("3.750")


def test_a_price_in_an_unsupported_currency_is_invalid() -> None:
    rejection = refused_upsert({**MUG, "prices": {"XBT": "0.001"}})

    assert rejection.details == {"field": "data.items.0.prices.XBT", "currency": "XBT"}


def test_a_sku_may_appear_only_once_per_upsert() -> None:
    rejection = refused_upsert(MUG, {**MUG, "name": "Ada mug, second edition"})

    assert rejection.details == {"field": "data.items"}


# --- billing accounts ------------------------------------------------------------------


def account_command(**changes: Any) -> CreateBillingAccount:
    data: dict[str, Any] = {
        "actor": {"id": "agent-grace", "role": "agent"},
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "locale": "en-GB",
        "billing_address": {
            "name": "Ada Lovelace",
            "line1": "12 St James's Square",
            "city": "London",
            "postal_code": "SW1Y 4JH",
            "country": "GB",
        },
    }
    data.update(changes)
    return CreateBillingAccount.model_validate(data)


def test_creating_an_account_stores_it_and_audits_its_status_without_personal_data() -> None:
    uow = FakeUnitOfWork()

    change = create_account(account_command(), context("billing_account.create"), uow)

    assert (change.subject, change.result) == ("acc_1", {"account_id": "acc_1"})
    stored = uow.accounts.accounts["acc_1"]
    assert (stored.name, stored.email, stored.status) == (
        "Ada Lovelace",
        "ada@example.org",
        "active",
    )
    assert stored.billing_address is not None
    assert stored.billing_address["postal_code"] == "SW1Y 4JH"
    [audit] = change.audit
    assert (audit.entity_type, audit.action, audit.before) == (
        "billing_account",
        "billing_account.created",
        None,
    )
    assert audit.after == {"status": "active", "locale": "en-GB"}


def test_a_client_chosen_account_id_that_is_taken_already_exists() -> None:
    uow = FakeUnitOfWork(accounts=FakeAccounts([Account("acc_ada", "Ada Lovelace")]))

    with pytest.raises(AlreadyExists) as caught:
        create_account(
            account_command(account_id="acc_ada", name="Ada King"),
            context("billing_account.create"),
            uow,
        )

    assert caught.value.details == {"field": "data.account_id"}
    assert uow.accounts.accounts["acc_ada"].name == "Ada Lovelace"


def test_a_billing_address_with_a_malformed_postal_code_is_invalid() -> None:
    address = {
        "name": "Ada",
        "line1": "1 Main St",
        "city": "Berlin",
        "postal_code": "1O117",
        "country": "DE",
    }
    uow = FakeUnitOfWork()

    with pytest.raises(Invalid) as caught:
        create_account(
            account_command(billing_address=address), context("billing_account.create"), uow
        )

    assert caught.value.details == {"field": "data.billing_address.postal_code"}
    assert uow.accounts.accounts == {}


# --- who may send what -----------------------------------------------------------------


def actor(role: str) -> Actor:
    return Actor.model_validate({"id": f"{role}-1", "role": role})


def test_an_agent_may_not_upsert_the_catalogue() -> None:
    with pytest.raises(Forbidden) as caught:
        authorize("catalog.upsert", actor("agent"))

    assert caught.value.code == "forbidden"
    assert caught.value.details == {"role": "agent"}


@pytest.mark.parametrize("role", ["manager", "system"])
def test_the_storefront_and_managers_may_upsert_the_catalogue(role: str) -> None:
    authorize("catalog.upsert", actor(role))


@pytest.mark.parametrize("message_type", ["order.create", "order.cancel", "order.get"])
def test_an_agent_may_create_cancel_and_read_orders(message_type: str) -> None:
    authorize(message_type, actor("agent"))


def test_nobody_may_send_a_type_without_declared_roles() -> None:
    with pytest.raises(Forbidden):
        authorize("order.refund_everything", actor("manager"))
