"""billing_account.erase with fakes: what the domain calls personal, what replaces it, what
it keeps, who may send it, and that a second erase changes nothing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.accounts import EraseBillingAccount
from contracts.common import Actor
from services.accounts.erasure import ERASED, erase_account, pseudonym, values_in
from services.accounts.model import Account
from services.errors import Forbidden, NotFound
from services.registry import authorize

from .builders import place
from .fakes import FakeAccounts, FakeUnitOfWork, context

MANAGER = {"id": "manager-hopper", "role": "manager"}


def ada() -> Account:
    return Account(
        account_id="acc_ada",
        name="Ada King",
        email="ada@example.com",
        phone="+44 20 7946 0018",
        locale="en",
        billing_address={
            "name": "Ada King",
            "line1": "12 St James's Square",
            "line2": None,
            "city": "London",
            "region": None,
            "postal_code": "SW1Y 4JH",
            "country": "GB",
            "phone": None,
        },
    )


def erase(account_id: str = "acc_ada") -> EraseBillingAccount:
    return EraseBillingAccount.model_validate(
        {"actor": MANAGER, "account_id": account_id, "reason": "customer_request"}
    )


def shop() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(accounts=FakeAccounts([ada()]))
    order, _invoice = place()
    uow.orders.add(order)
    uow.erasure.audit = [{"email": "ada.old@example.com", "status": "active"}]
    uow.erasure.changed = {"inbox": 2}
    return uow


def test_the_account_and_its_orders_addresses_are_pseudonymised_and_amounts_kept() -> None:
    uow = shop()
    total = uow.orders.orders["ord_ada_1"].payment

    change = erase_account(erase(), context("billing_account.erase", role="manager"), uow)

    account = uow.accounts.accounts["acc_ada"]
    assert account.name == pseudonym("acc_ada")
    assert (account.email, account.phone) == (None, None)
    assert account.billing_address == {
        "name": pseudonym("acc_ada"), "line1": ERASED, "line2": None, "city": ERASED,
        "region": None, "postal_code": ERASED, "country": "GB", "phone": None,
    }  # fmt: skip
    assert account.version == 2
    order = uow.orders.orders["ord_ada_1"]
    assert order.delivery.address is not None
    assert order.delivery.address["name"] == pseudonym("acc_ada")
    assert order.delivery.address["line1"] == ERASED
    assert order.delivery.address["country"] == "DE"
    assert order.payment == total and order.version == 1
    assert change.result == {
        "account_id": "acc_ada",
        "already_erased": False,
        "fields": ["name", "email", "phone", "billing_address", "delivery_address"],
        "erased": {"billing_accounts": 1, "orders": 1, "inbox": 2},
    }
    [audit] = change.audit
    assert audit.action == "billing_account.erased"
    assert "Ada" not in str(audit.after) and "example.com" not in str(audit.after)
    [event] = change.events
    assert event.model_dump()["changed"] == ["name", "email", "phone", "billing_address"]


def test_every_value_found_is_handed_to_the_port_longest_first_with_its_stand_in() -> None:
    uow = shop()

    erase_account(erase(), context("billing_account.erase", role="manager"), uow)

    [scrub] = uow.erasure.scrubs
    pairs = dict(scrub.replacements)
    name = pseudonym("acc_ada")
    assert pairs["Ada King"] == name
    assert pairs["ada@example.com"] == f"{name}@erased.invalid"
    assert pairs["ada.old@example.com"] == f"{name}@erased.invalid"  # from the audit log
    assert pairs["+44 20 7946 0018"] == ERASED
    assert pairs["Unter den Linden 1"] == ERASED  # the order's delivery address
    assert pairs["Ada Lovelace"] == name  # the name on the delivery address
    assert "GB" not in pairs and "DE" not in pairs and "active" not in pairs
    lengths = [len(old) for old, _new in scrub.replacements]
    assert lengths == sorted(lengths, reverse=True)
    assert scrub.order_ids == ("ord_ada_1",)
    # Only what is one person's finds rows beyond the customer's own: not a name or a city.
    assert "London" not in scrub.searched and "Ada King" not in scrub.searched
    assert "ada@example.com" in scrub.searched


def test_a_second_erase_is_accepted_and_changes_nothing() -> None:
    uow = shop()
    erase_account(erase(), context("billing_account.erase", role="manager"), uow)
    before = uow.accounts.accounts["acc_ada"]

    again = erase_account(erase(), context("billing_account.erase", role="manager"), uow)

    assert again.result == {
        "account_id": "acc_ada", "already_erased": True, "fields": [], "erased": {}
    }  # fmt: skip
    assert again.audit == [] and again.events == []
    assert uow.accounts.accounts["acc_ada"] == before
    assert len(uow.erasure.scrubs) == 1


def test_an_unknown_account_is_not_found() -> None:
    with pytest.raises(NotFound):
        erase_account(erase("acc_nobody"), context(role="manager"), FakeUnitOfWork())


@pytest.mark.parametrize("role", ["agent", "supervisor", "system"])
def test_only_a_manager_may_erase(role: str) -> None:
    with pytest.raises(Forbidden):
        authorize("billing_account.erase", Actor.model_validate({"id": "x", "role": role}))
    authorize("billing_account.erase", Actor.model_validate(MANAGER))


def test_the_reason_is_required() -> None:
    with pytest.raises(ValidationError):
        EraseBillingAccount.model_validate({"actor": MANAGER, "account_id": "acc_ada"})


def test_personal_values_are_read_from_personal_keys_only() -> None:
    doc = {
        "name": "Ada King",
        "status": "active",
        "billing_address": {"line1": "1 Main St", "country": "US", "name": "A. King"},
        "lines": [{"name": "Mug"}],  # a product's name, under a key "name" too
        "delivery": {"method": "standard", "address": {"city": "Boston", "country": "US"}},
        "contact": {"email": "x@example.com", "name": "not an account's"},
    }
    assert sorted(values_in(doc)) == [
        ("city", "Boston"), ("email", "x@example.com"), ("line1", "1 Main St"),
        ("name", "A. King"), ("name", "Ada King"),
    ]  # fmt: skip
