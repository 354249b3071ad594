"""Billing accounts (issue 5): update, the card-number guard, search, the account view and
the audit trail — handlers with fakes. The same through the processor, on PostgreSQL:
tests/integration/test_billing_accounts_in_process.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, get_args

import orjson
import pytest
from pydantic import ValidationError

from contracts.accounts import (
    BillingAccountUpdated,
    GetBillingAccount,
    NotificationKind,
    SearchBillingAccounts,
    UpdateBillingAccount,
)
from contracts.audit import GetAuditTrail
from notifier.kinds import KINDS
from services.accounts.cards import find_card_number, has_card_number, luhn, mask_document
from services.accounts.handlers import get_account, search_accounts, update_account
from services.accounts.model import Account
from services.accounts.records import StoreCreditEntry
from services.accounts.search import mask_email, mask_phone, plan
from services.audit.handlers import get_audit_trail
from services.audit.model import AuditRecord
from services.context import Change
from services.errors import (
    AlreadyExists,
    Invalid,
    NotAllowedInState,
    NotFound,
    OverLimit,
    VersionConflict,
)
from services.registry import QUERY_HANDLERS, authorize

from .builders import Helpdesk
from .fakes import NOW, FakeAccounts, FakeUnitOfWork
from .test_catalog_and_account_handlers import actor

VISA = "4111 1111 1111 1111"  # the classic test card: Luhn-valid
CARD = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030, "token_ref": "tok_ada"}
GB = {"name": "Ada", "line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH",
      "country": "GB"}  # fmt: skip


def desk() -> Helpdesk:
    """Ada's shop; her account has an e-mail and a phone."""
    helpdesk = Helpdesk()
    helpdesk.uow.accounts.accounts["acc_ada"].phone = "+44 20 7946 0958"
    return helpdesk


def update(helpdesk: Helpdesk, **data: Any) -> Change:
    return helpdesk.send(update_account, UpdateBillingAccount, account_id="acc_ada", **data)


def stored(helpdesk: Helpdesk) -> Account:
    return helpdesk.uow.accounts.accounts["acc_ada"]


# --- update: contact, address, versions --------------------------------------------------


def test_an_update_changes_the_contact_and_takes_one_version_step() -> None:
    helpdesk = desk()

    change = update(helpdesk, name="Ada King", email="ada.king@example.org", locale="en-GB")

    account = stored(helpdesk)
    assert (account.name, account.email, account.locale, account.version) == (
        "Ada King", "ada.king@example.org", "en-GB", 2,
    )  # fmt: skip
    assert (change.subject, change.version) == ("acc_ada", 2)
    assert change.result == {
        "account_id": "acc_ada",
        "changed": ["name", "email", "locale"],
        "version": 2,
    }


def test_an_update_with_another_expected_version_than_the_current_one_is_a_version_conflict() -> (
    None
):
    helpdesk = desk()
    update(helpdesk, name="Ada King")

    with pytest.raises(VersionConflict) as caught:
        update(helpdesk, name="Ada Byron", expected_version=1)

    assert caught.value.code == "version_conflict"
    assert caught.value.details == {"current_version": 2, "expected_version": 1}
    assert stored(helpdesk).name == "Ada King"


def test_an_update_with_the_current_expected_version_is_applied() -> None:
    helpdesk = desk()

    assert update(helpdesk, name="Ada King", expected_version=1).version == 2


def test_a_billing_address_is_validated_like_at_creation() -> None:
    helpdesk = desk()

    with pytest.raises(Invalid) as caught:
        update(helpdesk, billing_address={**GB, "postal_code": "10117"})

    assert caught.value.details == {"field": "data.billing_address.postal_code"}
    assert stored(helpdesk).billing_address is None


def test_a_valid_billing_address_is_stored() -> None:
    helpdesk = desk()

    update(helpdesk, billing_address=GB)

    address = stored(helpdesk).billing_address
    assert address is not None and address["postal_code"] == "SW1Y 4JH"


def test_an_explicit_null_removes_the_email_and_a_left_out_field_is_kept() -> None:
    helpdesk = desk()

    change = update(helpdesk, email=None)

    assert (stored(helpdesk).email, stored(helpdesk).phone) == (None, "+44 20 7946 0958")
    assert change.result["changed"] == ["email"]


def test_an_update_must_change_something_and_the_name_cannot_be_removed() -> None:
    with pytest.raises(ValidationError, match="give at least one field to change"):
        UpdateBillingAccount.model_validate({"actor": actor("agent"), "account_id": "acc_ada"})
    with pytest.raises(ValidationError, match="name cannot be removed"):
        UpdateBillingAccount.model_validate(
            {"actor": actor("agent"), "account_id": "acc_ada", "name": None}
        )


def test_an_update_that_changes_nothing_takes_no_version_step_and_records_nothing() -> None:
    helpdesk = desk()

    change = update(helpdesk, name="Ada Lovelace")

    assert (change.version, change.events, change.audit) == (1, [], [])
    assert change.result["changed"] == []


def test_an_unknown_account_cannot_be_updated() -> None:
    helpdesk = desk()

    with pytest.raises(NotFound) as caught:
        helpdesk.send(update_account, UpdateBillingAccount, account_id="acc_nobody", name="X")

    assert caught.value.details == {"field": "data.account_id"}


# --- hold --------------------------------------------------------------------------------


def test_an_account_on_hold_cannot_take_new_orders_until_it_is_released() -> None:
    helpdesk = desk()

    held = update(helpdesk, hold=True)
    with pytest.raises(NotAllowedInState, match="acc_ada is on_hold"):
        helpdesk.place_ada()
    released = update(helpdesk, hold=False)

    assert (held.result["changed"], stored(helpdesk).status) == (["status"], "active")
    assert released.version == 3
    assert helpdesk.place_ada().subject == "ord_ada_1"


def test_a_closed_account_cannot_be_put_on_hold_or_released() -> None:
    helpdesk = desk()
    stored(helpdesk).status = "closed"

    with pytest.raises(NotAllowedInState) as caught:
        update(helpdesk, hold=False)

    assert caught.value.details == {"field": "data.hold"}


# --- preferences ------------------------------------------------------------------------


def test_the_contract_notification_kinds_are_the_notifiers_kinds() -> None:
    assert set(get_args(NotificationKind)) == set(KINDS.values())


def test_notification_opt_outs_replace_the_list_and_accept_only_known_kinds() -> None:
    helpdesk = desk()

    update(helpdesk, notification_opt_outs=["shipped", "delivered"])

    assert stored(helpdesk).notification_opt_outs == ["shipped", "delivered"]
    with pytest.raises(ValidationError, match="notification_opt_outs"):
        update(helpdesk, notification_opt_outs=["newsletter"])


# --- payment methods --------------------------------------------------------------------


def test_a_card_is_stored_as_brand_last_four_expiry_and_token_only() -> None:
    helpdesk = desk()

    change = update(helpdesk, add_payment_methods=[CARD])

    [method] = stored(helpdesk).payment_methods
    assert method.as_dict() == {"payment_method_id": "pm_1", **CARD}
    assert change.result["changed"] == ["payment_methods"]


def test_an_expired_card_cannot_be_added() -> None:
    helpdesk = desk()

    with pytest.raises(Invalid, match="expired at the end of 10/2026") as caught:
        update(helpdesk, add_payment_methods=[{**CARD, "exp_month": 10, "exp_year": 2026}])

    assert caught.value.details == {"field": "data.add_payment_methods.0.exp_year"}
    assert stored(helpdesk).payment_methods == []


def test_a_card_is_valid_to_the_end_of_its_expiry_month() -> None:
    helpdesk = desk()  # it is 26 November 2026

    update(helpdesk, add_payment_methods=[{**CARD, "exp_month": 11, "exp_year": 2026}])

    assert len(stored(helpdesk).payment_methods) == 1


def test_a_payment_method_is_removed_by_id_and_an_unknown_id_is_not_found() -> None:
    helpdesk = desk()
    update(helpdesk, add_payment_methods=[{**CARD, "payment_method_id": "pm_visa"}])

    with pytest.raises(NotFound) as caught:
        update(helpdesk, remove_payment_methods=["pm_amex"])
    change = update(helpdesk, remove_payment_methods=["pm_visa"])

    assert caught.value.details == {"field": "data.remove_payment_methods.0"}
    assert stored(helpdesk).payment_methods == []
    [event] = change.events
    assert isinstance(event, BillingAccountUpdated)
    assert event.payment_methods_removed == ["pm_visa"]


def test_a_payment_method_id_is_unique_per_account() -> None:
    helpdesk = desk()
    update(helpdesk, add_payment_methods=[{**CARD, "payment_method_id": "pm_visa"}])

    with pytest.raises(AlreadyExists):
        update(helpdesk, add_payment_methods=[{**CARD, "payment_method_id": "pm_visa"}])


def test_an_account_keeps_at_most_ten_payment_methods() -> None:
    helpdesk = desk()
    update(helpdesk, add_payment_methods=[CARD] * 10)

    with pytest.raises(OverLimit) as caught:
        update(helpdesk, add_payment_methods=[CARD])

    assert caught.value.details == {"field": "data.add_payment_methods.0", "limit": 10}


# --- the event and the audit entry -------------------------------------------------------


def test_the_updated_event_names_the_changed_fields_and_carries_no_contact_data() -> None:
    helpdesk = desk()

    change = update(helpdesk, phone="+44 20 7946 0000", billing_address=GB, hold=True,
                    add_payment_methods=[CARD])  # fmt: skip

    [event] = change.events
    assert event.model_dump(mode="json") == {
        "account_id": "acc_ada",
        "version": 2,
        "changed": ["phone", "billing_address", "status", "payment_methods"],
        "status": "on_hold",
        "payment_methods_added": ["pm_1"],
        "payment_methods_removed": [],
    }
    published = orjson.dumps(event.model_dump(mode="json")).decode()
    assert "7946" not in published and "St James" not in published and "tok_ada" not in published


def test_the_audit_entry_has_before_and_after_of_the_changed_fields_and_no_card_number() -> None:
    helpdesk = desk()

    change = update(helpdesk, phone="+44 20 7946 0000", add_payment_methods=[CARD])

    [audit] = change.audit
    assert (audit.entity_type, audit.entity_id, audit.action) == (
        "billing_account", "acc_ada", "billing_account.updated",
    )  # fmt: skip
    assert audit.before == {"phone": "+44 20 7946 0958", "payment_methods": []}
    assert audit.after == {
        "phone": "+44 20 7946 0000",
        "payment_methods": [{"payment_method_id": "pm_1", **CARD}],
    }
    assert find_card_number(audit.after) is None


# --- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "supervisor", "manager", "system"])
@pytest.mark.parametrize(
    "message_type",
    ["billing_account.update", "billing_account.search", "billing_account.get", "audit.get"],
)
def test_every_role_may_update_search_and_read_accounts_and_audit_trails(
    role: str, message_type: str
) -> None:
    authorize(message_type, actor(role))


def test_the_new_queries_have_handlers_and_declared_roles() -> None:
    wanted = {"billing_account.search", "billing_account.get", "audit.get"}
    assert wanted <= set(QUERY_HANDLERS)


# --- the card-number guard ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [VISA, "4111-1111-1111-1111", "4111111111111111", "card: 5500 0000 0000 0004, thanks",
     "378282246310005", "4222222222222", "6011 0009 9013 9424 12/28"],
)  # fmt: skip
def test_a_luhn_valid_run_of_13_to_19_digits_is_a_card_number(text: str) -> None:
    assert has_card_number(text)


@pytest.mark.parametrize(
    "text",
    ["4111 1111 1111 1112", "+44 20 7946 0958", "ord_1001", "411111111111", "2026-11-26",
     "4111    1111 1111 1111", "41111111111111111111111"],
)  # fmt: skip
def test_a_run_failing_luhn_too_short_too_long_or_with_wide_gaps_is_not(
    text: str,
) -> None:
    assert not has_card_number(text)


def test_the_luhn_check() -> None:
    assert luhn("79927398713") and not luhn("79927398710")


def test_a_card_number_is_found_in_strings_numbers_and_keys_and_its_path_never_shows_it() -> None:
    assert find_card_number({"data": {"note": f"pay with {VISA}"}}) == "data.note"
    assert find_card_number({"data": {"tags": [1, 4111111111111111]}}) == "data.tags.1"
    found = find_card_number({"data": {VISA: "x"}})
    assert found == "data.**** **** **** **** (a key)"
    assert find_card_number({"data": {"token_ref": "tok_ada", "last4": "1111"}}) is None


def test_masking_replaces_every_digit_of_a_card_number_and_nothing_else() -> None:
    masked = mask_document({"note": f"card {VISA} exp 12/28", "n": 4111111111111111, "k": 7})

    assert masked == {"note": "card **** **** **** **** exp 12/28", "n": "*" * 16, "k": 7}


AGENT = {"id": "agent-grace", "role": "agent"}


# --- search ------------------------------------------------------------------------------

PEOPLE = [
    Account("acc_ada", "Ada Lovelace", "ada.lovelace@example.com", "+44 20 7946 0958",
            {"postal_code": "SW1Y 4JH", "country": "GB"}),
    Account("acc_ada_b", "Ada", "ada@example.org", "030 1234 5678",
            {"postal_code": "10117", "country": "DE"}),
    Account("acc_adam", "Adam Smith", "adam.smith@example.net", None, None),
    Account("acc_grace", "Grace Hopper", "grace@navy.example", "+1 703 555 0100",
            {"postal_code": "22350", "country": "US"}),
    Account("acc_nada", "Nada Adams", "nada@example.com", None, None),
]  # fmt: skip


def searching(**query: Any) -> dict[str, Any]:
    uow = FakeUnitOfWork(accounts=FakeAccounts(PEOPLE))
    return search_accounts(SearchBillingAccounts.model_validate({"actor": AGENT, **query}), uow)


def ids(result: dict[str, Any]) -> list[str]:
    return [h["account_id"] for h in result["hits"]]


def test_search_is_partial_and_case_insensitive() -> None:
    assert ids(searching(q="HOPP")) == ["acc_grace"]
    assert ids(searching(q="ovela", field="name")) == ["acc_ada"]


def test_search_ranks_exact_matches_first_then_prefixes_then_by_similarity() -> None:
    result = searching(q="ada", field="name")

    assert ids(result) == ["acc_ada_b", "acc_adam", "acc_ada", "acc_nada"]
    assert [h["match"] for h in result["hits"]] == ["exact", "prefix", "prefix", "partial"]


def test_search_pages_with_has_more() -> None:
    first = searching(q="ada", field="name", page_size=3)
    second = searching(q="ada", field="name", page_size=3, page=2)

    assert (ids(first), first["has_more"]) == (["acc_ada_b", "acc_adam", "acc_ada"], True)
    assert (ids(second), second["has_more"]) == (["acc_nada"], False)


def test_a_page_size_above_100_is_refused() -> None:
    with pytest.raises(ValidationError, match="page_size"):
        searching(q="ada", page_size=101)


def test_search_by_phone_matches_the_digits_whatever_the_formatting() -> None:
    result = searching(q="(7946) 09-58")

    assert ids(result) == ["acc_ada"]
    assert result["hits"][0]["match_field"] == "phone"


def test_search_by_postal_code_ignores_case_spaces_and_dashes() -> None:
    assert ids(searching(q="sw1y-4jh", field="postal_code")) == ["acc_ada"]


def test_search_by_order_number_finds_the_account_and_names_the_order() -> None:
    helpdesk = desk()
    helpdesk.place_ada(order_id="ord_1001")
    helpdesk.place_ada(order_id="ord_1002")
    query = SearchBillingAccounts.model_validate({"actor": AGENT, "q": "ORD_100"})

    [hit] = search_accounts(query, helpdesk.uow)["hits"]

    assert (hit["account_id"], hit["match_field"], hit["order_id"]) == (
        "acc_ada", "order_id", "ord_1001",
    )  # fmt: skip


def test_search_results_mask_email_and_phone_but_show_name_and_postal_code() -> None:
    [hit] = searching(q="lovelace")["hits"]

    assert (hit["name"], hit["postal_code"], hit["country"]) == ("Ada Lovelace", "SW1Y 4JH", "GB")
    assert (hit["email"], hit["phone"]) == ("ad***e@example.com", "********0958")
    assert (mask_email("al@x.org"), mask_phone(None)) == ("a***@x.org", None)


def test_a_field_search_needs_three_letters_or_digits_after_normalising() -> None:
    with pytest.raises(Invalid, match="a phone search needs at least 3 digits") as caught:
        searching(q="+4-4", field="phone")

    assert caught.value.details == {"field": "data.q"}


def test_a_query_shorter_than_three_characters_is_refused_by_the_contract() -> None:
    with pytest.raises(ValidationError, match="at least 3 characters"):
        SearchBillingAccounts.model_validate({"actor": AGENT, "q": "ad"})


def test_without_a_field_a_query_is_matched_only_on_the_fields_it_could_be() -> None:
    assert [t.field for t in plan("lovelace", None)] == ["name", "email"]
    assert [t.field for t in plan("030 1234", None)] == ["phone", "postal_code", "order_id"]
    assert [(t.field, t.value) for t in plan("SW1Y 4JH", None)] == [
        ("postal_code", "SW1Y4JH"),
        ("order_id", "sw1y 4jh"),
    ]
    assert [t.field for t in plan("SO-10412345", None)] == ["email", "order_id"]


# --- the account view -------------------------------------------------------------------


def test_the_account_view_shows_contact_cards_store_credit_and_orders_with_their_money() -> None:
    helpdesk = desk()
    update(helpdesk, billing_address=GB, add_payment_methods=[CARD])
    helpdesk.place_ada(payment={"authorized": "61.90", "captured": "50.00"})
    views = helpdesk.uow.account_views
    views.store_credit_entries += [
        ("acc_ada", StoreCreditEntry(1, "EUR", Decimal("20.00"), "goodwill", "apz_1", NOW)),
        ("acc_ada", StoreCreditEntry(2, "EUR", Decimal("-5.50"), "order", "ord_x", NOW)),
    ]
    query = GetBillingAccount.model_validate({"actor": AGENT, "account_id": "acc_ada"})

    view = get_account(query, helpdesk.uow)

    assert (view["name"], view["phone"], view["version"]) == ("Ada Lovelace", "+44 20 7946 0958", 2)
    assert view["billing_address"]["postal_code"] == "SW1Y 4JH"
    assert view["payment_methods"] == [{"payment_method_id": "pm_1", **CARD}]
    assert view["store_credit_balance"] == [{"amount": "14.50", "currency": "EUR"}]
    assert [e["entry_id"] for e in view["store_credit_entries"]] == [2, 1]
    [order] = view["orders"]
    assert (order["order_id"], order["status"], order["total"]) == ("ord_ada_1", "open", "61.90")
    assert (order["balance_due"], order["credit_owed"]) == ("11.90", "0.00")
    assert [i["invoice_id"] for i in order["invoices"]] == ["inv_1"]
    assert (order["credit_memos"], order["refunds"]) == ([], [])
    assert (view["orders_total"], view["appeasements"]) == (1, [])


def test_the_view_of_an_unknown_account_is_not_found() -> None:
    query = GetBillingAccount.model_validate({"actor": AGENT, "account_id": "acc_nobody"})

    with pytest.raises(NotFound):
        get_account(query, FakeUnitOfWork())


# --- the audit trail --------------------------------------------------------------------


def audit_records(n: int) -> list[AuditRecord]:
    return [
        AuditRecord(i, "order", "ord_ada_1", f"action_{i}", "agent-grace", "agent",
                    "helpdesk/zendesk", "customer_request", None, {"v": i - 1}, {"v": i},
                    f"cmd_{i}", f"ticket-{i}", NOW + timedelta(minutes=i))
        for i in range(1, n + 1)
    ]  # fmt: skip


def trail(uow: FakeUnitOfWork, **query: Any) -> dict[str, Any]:
    data = {"actor": AGENT, "entity_type": "order", "entity_id": "ord_ada_1", **query}
    return get_audit_trail(GetAuditTrail.model_validate(data), uow)


def test_the_audit_trail_is_newest_first_and_paged_by_entry_id() -> None:
    uow = FakeUnitOfWork()
    uow.audit_trail.records = audit_records(5)

    first = trail(uow, page_size=2)
    second = trail(uow, page_size=2, before=first["next_before"])
    last = trail(uow, page_size=2, before=second["next_before"])

    assert [e["entry_id"] for e in first["entries"]] == [5, 4]
    assert [e["entry_id"] for e in second["entries"]] == [3, 2]
    assert ([e["entry_id"] for e in last["entries"]], last["has_more"], last["next_before"]) == (
        [1], False, None,
    )  # fmt: skip
    entry = first["entries"][0]
    assert entry["actor"] == {"id": "agent-grace", "role": "agent"}
    assert (entry["ticket"], entry["command_id"], entry["before"], entry["after"]) == (
        "ticket-5", "cmd_5", {"v": 4}, {"v": 5},
    )  # fmt: skip
    assert datetime.fromisoformat(entry["at"]) == NOW + timedelta(minutes=5)


def test_an_entity_without_audit_entries_is_not_found() -> None:
    with pytest.raises(NotFound, match="no audit entries for order ord_ada_1"):
        trail(FakeUnitOfWork())


@pytest.mark.parametrize(
    "written",
    [
        "4111\u00a01111\u00a01111\u00a01111",  # no-break spaces, pasted from a web page
        "4111  1111  1111  1111",
        "4111 - 1111 - 1111 - 1111",
        "4111.1111.1111.1111",
    ],
)
def test_a_card_number_is_found_whatever_separates_its_digits(written: str) -> None:
    assert find_card_number({"data": {"note": f"card {written}"}}) == "data.note"
