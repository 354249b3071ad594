"""Appeasements for Ada through the handlers: goodwill store credit and discounts, the
limits of each role, pending ones approved, rejected or expired, and the refusals.

Ada's order: two mugs at 12.30 (19 % VAT), the Analytical Engine at 24.99 (7 %), standard
delivery 4.95 (19 %): 61.90, all captured. 15 % of it is 9.29.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.appeasements import (
    AppeasementExpired,
    AppeasementGranted,
    AppeasementPendingApproval,
    AppeasementRejected,
    ApproveAppeasement,
    ExpireAppeasement,
    OfferAppeasement,
    OrderDiscounted,
    RejectAppeasement,
)
from contracts.common import Actor, Inbound
from contracts.orders import (
    AmendOrder,
    AuthorizationReduced,
    CancelOrder,
    CreditMemoIssued,
    RefundRequested,
    RefundSettled,
)
from services.appeasements.handlers import (
    approve_appeasement,
    expire_appeasement,
    offer_appeasement,
    reject_appeasement,
)
from services.appeasements.model import Appeasement
from services.appeasements.views import appeasements_for_account
from services.context import Change, CommandHandler, Context
from services.errors import (
    AlreadyCancelled,
    AlreadyExists,
    Forbidden,
    Invalid,
    NotAllowedInState,
    NotFound,
    OverLimit,
    Rejected,
)
from services.orders.handlers import amend_order, cancel_order
from services.policy import AppeasementLimits, Policy
from services.registry import authorize

from .builders import Helpdesk
from .fakes import NOW

Who = tuple[str, str]
AGENT: Who = ("agent-grace", "agent")
OTHER_AGENT: Who = ("agent-linus", "agent")
SUPERVISOR: Who = ("supervisor-sam", "supervisor")
OTHER_SUPERVISOR: Who = ("supervisor-ida", "supervisor")
MANAGER: Who = ("manager-hopper", "manager")
SWEEPER: Who = ("sweeper", "system")

TOKYO = {"name": "Ada Lovelace", "line1": "1-1 Chiyoda", "city": "Tokyo",
         "postal_code": "100-0001", "country": "JP"}  # fmt: skip
KUWAIT = {"name": "Ada Lovelace", "line1": "Gulf Road 1", "city": "Kuwait City",
          "postal_code": "13001", "country": "KW"}  # fmt: skip


def ada(**changes: Any) -> Helpdesk:
    """Ada's shop with her order placed: two mugs and a book, fully captured."""
    desk = Helpdesk()
    desk.place_ada(**changes)
    return desk


def send(
    desk: Helpdesk,
    handler: CommandHandler,
    message: type[Inbound],
    who: Who = AGENT,
    *,
    now: datetime = NOW,
    policy: Policy | None = None,
    **data: Any,
) -> Change:
    """Validate as the wire would and hand to the handler, as `who` at `now`."""
    desk.sent += 1
    desk.last_type = message.TYPE
    msg = message.model_validate({"actor": {"id": who[0], "role": who[1]}, **data})
    ctx = Context(
        command_id=f"cmd_{desk.sent}",
        command_type=message.TYPE,
        source="helpdesk/zendesk",
        actor=Actor(id=who[0], role=who[1]),
        now=now,
        reason=msg.reason,
        note=msg.note,
        ids=desk.ids,
        policy=policy or Policy(),
    )
    return handler(msg, ctx, desk.uow)


def offer(desk: Helpdesk, who: Who = AGENT, **data: Any) -> Change:
    data = {"reason": "late_delivery", "ticket": "ZD-4411", **data}
    return send(desk, offer_appeasement, OfferAppeasement, who, **data)


def discount(desk: Helpdesk, who: Who = AGENT, **data: Any) -> Change:
    return offer(desk, who, kind="discount", order_id="ord_ada_1", **data)


def store_credit(desk: Helpdesk, amount: str, who: Who = AGENT, **data: Any) -> Change:
    data = {"account_id": "acc_ada", "currency": "EUR", **data}
    return offer(desk, who, kind="store_credit", amount=amount, **data)


def approve(desk: Helpdesk, appeasement_id: str = "apz_1", who: Who = MANAGER, **kw: Any) -> Change:
    return send(desk, approve_appeasement, ApproveAppeasement, who, appeasement_id=appeasement_id,
                **kw)  # fmt: skip


def reject(desk: Helpdesk, appeasement_id: str = "apz_1", who: Who = MANAGER, **kw: Any) -> Change:
    return send(desk, reject_appeasement, RejectAppeasement, who, appeasement_id=appeasement_id,
                reason=kw.pop("reason", "not_warranted"), **kw)  # fmt: skip


def expire(desk: Helpdesk, appeasement_id: str = "apz_1", *, now: datetime) -> Change:
    return send(desk, expire_appeasement, ExpireAppeasement, SWEEPER, now=now,
                appeasement_id=appeasement_id)  # fmt: skip


def stored(desk: Helpdesk, appeasement_id: str = "apz_1") -> Appeasement:
    return desk.uow.appeasements.rows[appeasement_id]


def refused(desk: Helpdesk, call: Any) -> Rejected:
    """The rejection of a command, checking it changed neither the order nor the money."""
    order, memos = desk.order().version, len(desk.uow.ledger.credit_memos)
    rows = {k: (a.status, a.value) for k, a in desk.uow.appeasements.rows.items()}
    credit = list(desk.uow.account_views.store_credit_entries)
    with pytest.raises(Rejected) as caught:
        call()
    assert (desk.order().version, len(desk.uow.ledger.credit_memos)) == (order, memos)
    assert {k: (a.status, a.value) for k, a in desk.uow.appeasements.rows.items()} == rows
    assert desk.uow.account_views.store_credit_entries == credit
    return caught.value


def memo_lines(event: CreditMemoIssued) -> list[tuple[str, str | None, str, str]]:
    return [(x.reason, x.line_id, str(x.net), str(x.tax)) for x in event.credit_memo.lines]


def balance(desk: Helpdesk, currency: str = "EUR") -> Decimal:
    return desk.uow.account_views.store_credit("acc_ada", 100)[0].get(currency, Decimal(0))


# --- granted at once --------------------------------------------------------------------------


def test_an_agent_grants_store_credit_up_to_twenty_at_once_into_the_store_credit_ledger() -> None:
    desk = ada()

    change = store_credit(desk, "20.00")

    [granted] = change.events
    assert isinstance(granted, AppeasementGranted)
    assert (granted.appeasement.status, str(granted.appeasement.value)) == ("granted", "20.00")
    assert granted.approved_by is None
    assert change.result == {"appeasement_id": "apz_1", "kind": "store_credit",
                             "status": "granted", "currency": "EUR", "amount": "20.00",
                             "value": "20.00"}  # fmt: skip
    [(account, entry)] = desk.uow.account_views.store_credit_entries
    assert (account, entry.amount, entry.reason, entry.reference) == (
        "acc_ada", Decimal("20.00"), "appeasement", "apz_1")  # fmt: skip
    assert stored(desk).ticket == "ZD-4411"
    assert desk.uow.deadlines.due == {}


def test_a_discount_within_the_limits_is_credited_as_goodwill_discount_and_refunded() -> None:
    desk = ada()

    change = discount(desk, amount="5.00", line_id="l1")

    discounted, memo, refund, granted = change.events
    assert isinstance(discounted, OrderDiscounted)
    assert isinstance(memo, CreditMemoIssued)
    assert isinstance(refund, RefundRequested)
    assert isinstance(granted, AppeasementGranted)
    # 5.00 off the mugs and the VAT on it: 4.67 on 24.60 became 3.72 on 19.60
    assert memo_lines(memo) == [("goodwill_discount", "l1", "5.00", "0.95")]
    assert (str(refund.refund.amount), refund.refund.method) == ("5.95", "original_payment")
    assert (str(discounted.old_totals.total), str(discounted.new_totals.total)) == (
        "61.90",
        "55.95",
    )
    assert [(x.line_id, str(x.discount)) for x in discounted.lines] == [("l1", "5.00")]
    assert (discounted.appeasement_id, str(discounted.discount)) == ("apz_1", "5.00")
    assert (granted.appeasement.value, granted.appeasement.credit_memo_id) == (
        Decimal("5.95"), "cm_1")  # fmt: skip
    assert change.result["settlement"]["refund_due"] == "5.95"
    assert (change.subject, change.version) == ("ord_ada_1", 2)
    assert desk.order().lines[0].discounts == [(Decimal("2.50"), 2)]


def test_a_discount_on_the_order_is_spread_over_its_lines_in_proportion_to_their_net() -> None:
    desk = ada()

    change = discount(desk, MANAGER, amount="10.00")

    memo = change.events[1]
    assert isinstance(memo, CreditMemoIssued)
    # 24.60 : 24.99 of 10.00 is 4.9607 : 5.0393; the last cent to the larger remainder
    assert memo_lines(memo) == [
        ("goodwill_discount", "l1", "4.96", "0.94"),
        ("goodwill_discount", "l2", "5.04", "0.35"),
    ]
    assert str(stored(desk).value) == "11.29"


def test_a_discount_on_an_order_only_authorised_lowers_what_is_to_be_captured() -> None:
    desk = ada(payment={"authorized": "61.90", "captured": "0.00"})

    change = discount(desk, amount="5.00", line_id="l1")

    kinds = [type(e) for e in change.events]
    assert kinds == [OrderDiscounted, CreditMemoIssued, AuthorizationReduced, AppeasementGranted]
    reduced = change.events[2]
    assert isinstance(reduced, AuthorizationReduced)
    assert (str(reduced.released), str(reduced.to_capture)) == ("5.95", "55.95")


def test_a_discount_settled_to_store_credit_goes_to_the_accounts_store_credit() -> None:
    desk = ada()

    change = discount(desk, amount="5.00", line_id="l1", settle_to="store_credit")

    settled = change.events[2]
    assert isinstance(settled, RefundSettled)
    assert (str(settled.refund.amount), settled.refund.method) == ("5.95", "store_credit")
    [(account, refund, _)] = desk.uow.ledger.store_credit
    assert (account, refund.amount) == ("acc_ada", Decimal("5.95"))


def test_the_store_credit_balance_is_the_sum_of_the_ledger() -> None:
    desk = ada()
    store_credit(desk, "15.00")
    store_credit(desk, "4.50")
    store_credit(desk, "30.00")  # pending: not on the ledger
    store_credit(desk, "3.000", currency="KWD")

    entries = desk.uow.account_views.store_credit_entries

    assert (
        balance(desk)
        == Decimal("19.50")
        == sum(e.amount for _, e in entries if e.currency == "EUR")
    )
    assert balance(desk, "KWD") == Decimal("3.000")
    assert [e.reference for _, e in entries] == ["apz_1", "apz_2", "apz_4"]
    approve(desk, "apz_3")
    assert balance(desk) == Decimal("49.50")


# --- limits --------------------------------------------------------------------------------------


def test_above_twenty_an_agents_appeasement_waits_for_approval_naming_the_limit() -> None:
    desk = ada()

    change = store_credit(desk, "25.00")

    [pending] = change.events
    assert isinstance(pending, AppeasementPendingApproval)
    [limit] = pending.exceeded
    assert (limit.limit, limit.role, str(limit.cap), str(limit.counted), str(limit.over_by)) == (
        "per_appeasement", "agent", "20.00", "25.00", "5.00")  # fmt: skip
    assert change.result["status"] == "pending"
    assert change.result["exceeded"][0]["over_by"] == "5.00"
    assert pending.expires_at == NOW + timedelta(hours=72)
    assert desk.uow.account_views.store_credit_entries == []


def test_above_fifteen_percent_of_the_order_an_agents_discount_waits_even_below_twenty() -> None:
    desk = ada()

    change = discount(desk, amount="10.00")

    [pending] = change.events
    assert isinstance(pending, AppeasementPendingApproval)
    [limit] = pending.exceeded
    # what Ada gets is 11.29 with the VAT; 15 % of 61.90 is 9.29
    assert (limit.limit, str(limit.percent), str(limit.cap), str(limit.over_by)) == (
        "percent_of_order", "15", "9.29", "2.00")  # fmt: skip
    assert desk.order().version == 1
    assert desk.uow.ledger.credit_memos == []


def test_a_pending_appeasement_is_accepted_as_pending_with_a_deadline_to_expire() -> None:
    desk = ada()

    change = store_credit(desk, "25.00", order_id="ord_ada_1")

    assert (change.subject, change.version, change.result["status"]) == ("ord_ada_1", None,
                                                                         "pending")  # fmt: skip
    assert desk.uow.deadlines.due == {
        ("appeasement", "apz_1"): ("ord_ada_1", NOW + timedelta(hours=72))
    }
    assert stored(desk).status == "pending"


def test_the_pending_time_is_configurable() -> None:
    desk = ada()

    store_credit(desk, "25.00", policy=Policy(appeasement_pending_hours=8))

    assert stored(desk).expires_at == NOW + timedelta(hours=8)


def test_a_supervisor_grants_up_to_one_hundred_and_a_manager_without_limit() -> None:
    desk = ada()

    granted = store_credit(desk, "100.00", SUPERVISOR)
    waits = store_credit(desk, "100.01", SUPERVISOR)
    manager = discount(desk, MANAGER, amount="49.59")

    assert granted.result["status"] == "granted"
    assert waits.result["status"] == "pending"
    assert waits.result["exceeded"][0]["limit"] == "per_appeasement"
    assert manager.result["status"] == "granted"
    assert manager.result["new_totals"]["total"] == "5.89"  # the shipping is left


def test_both_the_agents_amount_and_percent_limits_must_hold() -> None:
    desk = ada()

    change = store_credit(desk, "20.00", order_id="ord_ada_1")

    [pending] = change.events
    assert isinstance(pending, AppeasementPendingApproval)
    assert [x.limit for x in pending.exceeded] == ["percent_of_order"]


def test_the_per_order_limit_counts_the_granted_and_pending_appeasements_on_the_order() -> None:
    policy = Policy(appeasement_limits={"agent": AppeasementLimits(Decimal(20), None, Decimal(30))})
    desk = ada()

    first = store_credit(desk, "20.00", order_id="ord_ada_1", policy=policy)
    second = discount(desk, amount="5.00", line_id="l1", policy=policy)  # worth 5.95
    third = store_credit(desk, "15.00", order_id="ord_ada_1", policy=policy)
    fourth = store_credit(desk, "4.00", order_id="ord_ada_1", policy=policy)
    elsewhere = store_credit(desk, "19.00", policy=policy)

    assert [c.result["status"] for c in (first, second, third, fourth, elsewhere)] == [
        "granted", "granted", "pending", "pending", "granted"]  # fmt: skip
    assert third.result["exceeded"] == [{"limit": "per_order", "role": "agent", "cap": "30.00",
                                         "counted": "40.95", "over_by": "10.95"}]  # fmt: skip
    # the pending 15.00 counts too: 25.95 + 15.00 + 4.00
    assert fourth.result["exceeded"][0]["counted"] == "44.95"


def test_the_per_agent_per_day_limit_counts_the_agents_last_24_hours_only() -> None:
    policy = Policy(
        appeasement_limits={"agent": AppeasementLimits(Decimal(20), per_agent_per_day=Decimal(50))}
    )
    desk = ada()
    for hours in (25, 2, 1):
        store_credit(desk, "20.00", now=NOW - timedelta(hours=hours), policy=policy)

    mine = store_credit(desk, "15.00", policy=policy)
    linus = store_credit(desk, "20.00", OTHER_AGENT, policy=policy)

    assert mine.result["exceeded"] == [{"limit": "per_agent_per_day", "role": "agent",
                                        "cap": "50.00", "counted": "55.00", "over_by": "5.00"}]  # fmt: skip
    assert linus.result["status"] == "granted"
    assert desk.uow.appeasements.held == ["agent-grace"] * 4 + ["agent-linus"]


def test_limits_are_configurable_per_role_and_a_role_not_named_grants_nothing_alone() -> None:
    policy = Policy(appeasement_limits={"agent": AppeasementLimits(Decimal(50)), "manager":
                                        AppeasementLimits()})  # fmt: skip
    desk = ada()

    agent = store_credit(desk, "50.00", policy=policy)
    supervisor = store_credit(desk, "1.00", SUPERVISOR, policy=policy)

    assert agent.result["status"] == "granted"
    assert supervisor.result["exceeded"][0] == {"limit": "per_appeasement", "role": "supervisor",
                                                "cap": "0.00", "counted": "1.00", "over_by": "1.00"}  # fmt: skip


def test_amount_limits_scale_per_currency_so_twenty_is_three_thousand_yen_and_six_dinars() -> None:
    desk = ada()

    results = [
        store_credit(desk, amount, currency=currency).result
        for amount, currency in (
            ("3000", "JPY"),
            ("3001", "JPY"),
            ("6.000", "KWD"),
            ("6.001", "KWD"),
        )
    ]

    assert [r["status"] for r in results] == ["granted", "pending", "granted", "pending"]
    assert [r["exceeded"][0]["cap"] for r in results[1::2]] == ["3000", "6.000"]
    custom = store_credit(desk, "100", OTHER_AGENT, currency="JPY",
                          policy=Policy(appeasement_limit_factors={"JPY": Decimal(5)}))  # fmt: skip
    assert custom.result["status"] == "granted"


# --- approval ------------------------------------------------------------------------------------


def test_a_manager_approves_a_pending_discount_which_is_then_credited_and_refunded() -> None:
    desk = ada()
    discount(desk, amount="10.00")

    change = approve(desk, reason="goodwill_approved", note="long-standing customer")

    discounted, memo, refund, granted = change.events
    assert isinstance(discounted, OrderDiscounted)
    assert isinstance(memo, CreditMemoIssued)
    assert isinstance(refund, RefundRequested)
    assert isinstance(granted, AppeasementGranted)
    assert [x.reason for x in memo.credit_memo.lines] == ["goodwill_discount"] * 2
    assert str(refund.refund.amount) == "11.29"
    assert granted.approved_by is not None
    assert (granted.approved_by.id, granted.approved_by.role) == ("manager-hopper", "manager")
    appeasement = stored(desk)
    assert (appeasement.status, appeasement.credit_memo_id) == ("granted", "cm_1")
    assert appeasement.decided_by == Actor(id="manager-hopper", role="manager")
    assert (appeasement.decision_reason, appeasement.decision_note) == (
        "goodwill_approved", "long-standing customer")  # fmt: skip
    assert desk.uow.deadlines.due == {}
    assert desk.order().version == 2


def test_approving_or_rejecting_ones_own_offer_is_forbidden() -> None:
    desk = ada()
    store_credit(desk, "150.00", SUPERVISOR)

    for call in (lambda: approve(desk, who=SUPERVISOR), lambda: reject(desk, who=SUPERVISOR)):
        denied = refused(desk, call)
        assert isinstance(denied, Forbidden)
        assert (
            "supervisor-sam offered appeasement apz_1 and cannot also decide it" in denied.message
        )
    assert approve(desk).result["status"] == "granted"


def test_a_supervisor_may_approve_an_agents_sixty_but_not_a_hundred_and_fifty() -> None:
    desk = ada()
    store_credit(desk, "60.00")
    store_credit(desk, "150.00")

    sixty = approve(desk, "apz_1", SUPERVISOR)
    denied = refused(desk, lambda: approve(desk, "apz_2", SUPERVISOR))

    assert sixty.result["status"] == "granted"
    assert isinstance(denied, Forbidden)
    assert denied.message.startswith(
        "role 'supervisor' grants up to 100.00 EUR per appeasement; this comes to 150.00 EUR, "
        "50.00 EUR over: appeasement apz_2 needs someone whose limits cover it"
    )
    assert stored(desk, "apz_2").status == "pending"
    assert isinstance(refused(desk, lambda: reject(desk, "apz_2", OTHER_SUPERVISOR)), Forbidden)
    assert approve(desk, "apz_2").result["status"] == "granted"


def test_an_agent_cannot_approve_another_agents_appeasement() -> None:
    desk = ada()
    store_credit(desk, "25.00")

    denied = refused(desk, lambda: approve(desk, who=OTHER_AGENT))

    assert isinstance(denied, Forbidden)
    assert denied.details == {"role": "agent", "offered_by_role": "agent"}
    assert "waits for someone of a higher role" in denied.message


def test_two_agents_cannot_approve_each_others_offers_past_the_daily_limit() -> None:
    desk = ada()
    for n in range(10):
        store_credit(desk, "20.00", appeasement_id=f"apz_ok_{n}")  # 200.00: the day's cap
    assert store_credit(desk, "20.00", appeasement_id="apz_11").result["status"] == "pending"

    denied = refused(desk, lambda: approve(desk, "apz_11", OTHER_AGENT))

    assert isinstance(denied, Forbidden)
    assert approve(desk, "apz_11", SUPERVISOR).result["status"] == "granted"


def test_only_a_pending_appeasement_can_be_approved_or_rejected() -> None:
    desk = ada()
    store_credit(desk, "10.00")  # granted at once
    store_credit(desk, "25.00")
    reject(desk, "apz_2")

    for appeasement_id, status in (("apz_1", "granted"), ("apz_2", "rejected")):
        for decide in (approve, reject):
            call = lambda decide=decide, apz=appeasement_id: decide(desk, apz)  # noqa: E731
            denied = refused(desk, call)
            assert isinstance(denied, NotAllowedInState)
            assert denied.details == {"status": status}
            assert f"appeasement {appeasement_id} is {status}: only a pending one" in denied.message


def test_a_rejection_keeps_the_money_where_it_is_and_clears_the_deadline() -> None:
    desk = ada()
    discount(desk, amount="10.00")

    change = reject(desk, reason="not_warranted", note="already had a voucher")

    [rejected] = change.events
    assert isinstance(rejected, AppeasementRejected)
    assert (rejected.appeasement.status, rejected.appeasement.decision_reason) == (
        "rejected", "not_warranted")  # fmt: skip
    assert desk.uow.deadlines.due == {}
    assert (desk.order().version, desk.uow.ledger.credit_memos) == (1, [])
    assert [(a.entity_type, a.action, (a.before or {}).get("status"), (a.after or {})["status"])
            for a in change.audit] == [("order", "appeasement.rejected", "pending", "rejected"),
                                       ("billing_account", "appeasement.rejected", "pending",
                                        "rejected")]  # fmt: skip


def test_the_sweeper_expires_a_pending_appeasement_once_due_and_not_before() -> None:
    desk = ada()
    store_credit(desk, "25.00")
    due = NOW + timedelta(hours=72)

    early = refused(desk, lambda: expire(desk, now=due - timedelta(seconds=1)))
    change = expire(desk, now=due)

    assert isinstance(early, NotAllowedInState)
    assert "expires at 2026-11-29T09:30:00+00:00, not before" in early.message
    [expired] = change.events
    assert isinstance(expired, AppeasementExpired)
    decided_by = expired.appeasement.decided_by
    assert decided_by is not None
    assert (expired.appeasement.status, decided_by.id, decided_by.role) == (
        "expired", "sweeper", "system")  # fmt: skip
    assert stored(desk).status == "expired"
    assert desk.uow.deadlines.due == {}
    again = refused(desk, lambda: expire(desk, now=due))
    assert again.details == {"status": "expired"}
    assert refused(desk, lambda: approve(desk, now=due)).details == {"status": "expired"}


def test_approving_after_the_expiry_is_refused_even_before_the_sweeper_ran() -> None:
    desk = ada()
    store_credit(desk, "25.00")

    late = refused(desk, lambda: approve(desk, now=NOW + timedelta(hours=72)))

    assert isinstance(late, NotAllowedInState)
    assert late.message == ("appeasement apz_1 expired at 2026-11-29T09:30:00+00:00: offer it "
                            "again")  # fmt: skip
    assert stored(desk).status == "pending"
    assert approve(desk, now=NOW + timedelta(hours=71)).result["status"] == "granted"


def test_rejecting_after_the_expiry_is_refused_and_the_sweeper_closes_it_as_expired() -> None:
    desk = ada()
    store_credit(desk, "25.00")
    due = NOW + timedelta(hours=72)

    late = refused(desk, lambda: reject(desk, now=due))

    assert isinstance(late, NotAllowedInState)
    assert late.message == ("appeasement apz_1 expired at 2026-11-29T09:30:00+00:00: it ends "
                            "as expired; nothing was granted")  # fmt: skip
    assert late.details == {"status": "expired", "expires_at": "2026-11-29T09:30:00+00:00"}
    assert stored(desk).status == "pending"
    [expired] = expire(desk, now=due).events
    assert isinstance(expired, AppeasementExpired) and stored(desk).status == "expired"


def test_an_approval_checks_the_order_again_and_a_discount_that_no_longer_fits_stays_pending() -> (
    None
):
    desk = ada()
    discount(desk, amount="20.00", line_id="l1")  # 23.80 with VAT: over 20.00 and 15 %
    desk.send(amend_order, AmendOrder, order_id="ord_ada_1", reason="customer_request",
              changes=[{"action": "set_quantity", "line_id": "l1", "quantity": 1}])  # fmt: skip

    denied = refused(desk, lambda: approve(desk))

    assert isinstance(denied, OverLimit)
    assert "exceeds the 12.30 EUR (net of tax) left to discount on line l1" in denied.message
    assert stored(desk).status == "pending"


def test_only_the_sweeper_expires_and_people_offer_and_decide() -> None:
    def may(kind: str, role: str) -> bool:
        try:
            authorize(kind, Actor(id="someone", role=role))
        except Forbidden:
            return False
        return True

    people = ("agent", "supervisor", "manager")
    for kind in ("appeasement.offer", "appeasement.approve", "appeasement.reject"):
        assert [may(kind, r) for r in (*people, "system")] == [True, True, True, False]
    assert [may("appeasement.expire", r) for r in (*people, "system")] == [False] * 3 + [True]


# --- refusals -----------------------------------------------------------------------------------


def test_a_discount_never_takes_a_line_or_the_order_below_zero() -> None:
    desk = ada()

    line = refused(desk, lambda: discount(desk, MANAGER, amount="24.61", line_id="l1"))
    order = refused(desk, lambda: discount(desk, MANAGER, amount="49.60"))
    discount(desk, MANAGER, amount="24.60", line_id="l1")
    nothing_left = refused(desk, lambda: discount(desk, MANAGER, percent="10", line_id="l1"))

    assert isinstance(line, OverLimit) and isinstance(order, OverLimit)
    assert line.message == (
        "a discount of 24.61 EUR exceeds the 24.60 EUR (net of tax) left to discount on line l1: "
        "no line or order goes below zero"
    )
    assert "exceeds the 49.59 EUR (net of tax) left to discount on order ord_ada_1" in order.message
    assert isinstance(nothing_left, Invalid)
    assert "10 % of the 0.00 EUR (net of tax) on line l1 rounds to 0.00 EUR" in nothing_left.message
    assert desk.order().priced().line("l1").net == Decimal("0.00")


def test_a_fully_refunded_order_cannot_be_discounted() -> None:
    desk = ada()
    desk.uow.orders.orders["ord_ada_1"].payment.refunded = Decimal("61.90")

    denied = refused(desk, lambda: discount(desk, amount="1.00"))

    assert isinstance(denied, NotAllowedInState)
    assert denied.message == ("everything captured on order ord_ada_1 (61.90 EUR) was refunded: "
                              "there is nothing to discount (offer store credit instead)")  # fmt: skip


def test_an_order_that_totals_zero_cannot_be_discounted() -> None:
    desk = ada(delivery={"method": "pickup", "pickup_location_id": "pl_berlin_mitte"},
               payment={"authorized": "56.01", "captured": "0.00"})  # fmt: skip
    discount(desk, MANAGER, percent="100")

    denied = refused(desk, lambda: discount(desk, MANAGER, amount="1.00"))

    assert isinstance(denied, NotAllowedInState)
    assert denied.message.startswith(
        "order ord_ada_1 totals 0.00 EUR: there is nothing to discount"
    )


def test_a_cancelled_order_cannot_be_discounted_but_may_be_named_by_store_credit() -> None:
    desk = ada()
    desk.send(cancel_order, CancelOrder, order_id="ord_ada_1", reason="customer_request")

    denied = refused(desk, lambda: discount(desk, amount="1.00"))
    by_supervisor = store_credit(desk, "5.00", SUPERVISOR, order_id="ord_ada_1")
    by_agent = store_credit(desk, "5.00", order_id="ord_ada_1")

    assert isinstance(denied, AlreadyCancelled)
    assert "order ord_ada_1 is cancelled: there is nothing to discount" in denied.message
    assert by_supervisor.result["status"] == "granted"
    # 15 % of a cancelled order's total (0.00) is nothing: an agent's goodwill waits
    assert by_agent.result["exceeded"] == [{"limit": "percent_of_order", "role": "agent",
                                            "cap": "0.00", "counted": "5.00", "over_by": "5.00",
                                            "percent": "15"}]  # fmt: skip


def test_an_unknown_order_line_account_or_appeasement_is_not_found() -> None:
    desk = ada()

    denials = [
        refused(desk, call)
        for call in (
            lambda: offer(desk, kind="discount", order_id="ord_nobody", amount="1.00"),
            lambda: discount(desk, amount="1.00", line_id="l9"),
            lambda: store_credit(desk, "1.00", account_id="acc_nobody"),
            lambda: approve(desk, "apz_nobody"),
        )
    ]

    assert all(isinstance(d, NotFound) for d in denials)
    assert [d.message for d in denials] == [
        "order ord_nobody does not exist",
        "order ord_ada_1 has no line l9",
        "billing account acc_nobody does not exist",
        "appeasement apz_nobody does not exist",
    ]
    assert [d.details["field"] for d in denials] == [
        "data.order_id", "data.line_id", "data.account_id", "data.appeasement_id"]  # fmt: skip


@pytest.mark.parametrize("percent", ["0", "-5", "100.01", "250"])
def test_a_percent_outside_zero_to_one_hundred_is_refused(percent: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OfferAppeasement.model_validate({"actor": {"id": "agent-grace", "role": "agent"},
                                         "kind": "discount", "order_id": "ord_ada_1",
                                         "reason": "late_delivery", "percent": percent})  # fmt: skip

    assert caught.value.errors()[0]["loc"] == ("percent",)


@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00"])
def test_an_amount_of_zero_or_less_is_refused(amount: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OfferAppeasement.model_validate({"actor": {"id": "agent-grace", "role": "agent"},
                                         "kind": "store_credit", "account_id": "acc_ada",
                                         "currency": "EUR", "reason": "late_delivery",
                                         "amount": amount})  # fmt: skip

    assert caught.value.errors()[0]["loc"] == ("amount",)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"kind": "store_credit", "amount": "5.00", "currency": "EUR"},
         "a store_credit appeasement needs account_id"),
        ({"kind": "store_credit", "account_id": "acc_ada", "amount": "5.00", "currency": "EUR",
          "percent": "5"}, "percent and line_id are for discounts"),
        ({"kind": "discount", "amount": "5.00"}, "a discount needs the order_id"),
        ({"kind": "discount", "order_id": "ord_ada_1", "amount": "5.00", "percent": "5"},
         "exactly one of amount or percent"),
        ({"kind": "discount", "order_id": "ord_ada_1"}, "exactly one of amount or percent"),
    ],
)  # fmt: skip
def test_each_kind_of_appeasement_needs_its_own_fields(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OfferAppeasement.model_validate({"actor": {"id": "agent-grace", "role": "agent"},
                                         "reason": "late_delivery", **data})  # fmt: skip

    assert problem in str(caught.value)


def test_the_reason_is_required() -> None:
    with pytest.raises(ValidationError) as caught:
        OfferAppeasement.model_validate({"actor": {"id": "agent-grace", "role": "agent"},
                                         "kind": "store_credit", "account_id": "acc_ada",
                                         "amount": "5.00", "currency": "EUR"})  # fmt: skip

    assert caught.value.errors()[0]["loc"] == ("reason",)


def test_store_credit_in_a_currency_orderCare_does_not_support_is_refused() -> None:
    desk = ada()

    denied = refused(desk, lambda: store_credit(desk, "5.00", currency="XAU"))

    assert isinstance(denied, Invalid)
    assert denied.message.startswith("currency XAU is not supported")


def test_an_amount_finer_than_the_currency_is_refused() -> None:
    desk = ada()

    denials = [
        refused(desk, lambda: discount(desk, amount="1.005")),
        refused(desk, lambda: store_credit(desk, "100.5", currency="JPY")),
    ]

    assert [d.message for d in denials] == [
        "amount 1.005 has more decimals than EUR allows (smallest unit 0.01)",
        "amount 100.5 has more decimals than JPY allows (smallest unit 1)",
    ]


def test_the_order_named_must_be_the_accounts_and_in_its_currency() -> None:
    desk = ada()
    desk.place_ada(order_id="ord_ada_2")

    other_account = refused(desk, lambda: discount(desk, amount="1.00", account_id="acc_bob"))
    other_currency = refused(desk, lambda: store_credit(desk, "1.00", currency="GBP",
                                                        order_id="ord_ada_2"))  # fmt: skip

    assert (
        other_account.message == "order ord_ada_1 belongs to another billing account than acc_bob"
    )
    assert other_currency.message == "order ord_ada_2 is in EUR, not GBP"


def test_an_appeasement_id_chosen_by_the_client_cannot_be_taken_twice() -> None:
    desk = ada()
    store_credit(desk, "5.00", appeasement_id="apz_zd_4411")

    taken = refused(desk, lambda: store_credit(desk, "5.00", appeasement_id="apz_zd_4411"))

    assert isinstance(taken, AlreadyExists)
    assert taken.message == "appeasement apz_zd_4411 already exists"


def test_a_closed_billing_account_gets_no_goodwill() -> None:
    desk = ada()
    desk.uow.accounts.accounts["acc_ada"].status = "closed"

    denied = refused(desk, lambda: store_credit(desk, "5.00"))

    assert isinstance(denied, NotAllowedInState)
    assert denied.message == "billing account acc_ada is closed: no goodwill is granted to it"


# --- percent conversion and rounding --------------------------------------------------------------


def test_a_percent_is_converted_to_an_amount_of_the_current_net_rounded_half_up() -> None:
    desk = ada()

    whole = discount(desk, MANAGER, percent="10")  # 10 % of 49.59
    line = discount(desk, MANAGER, percent="12.5", line_id="l2")

    assert (whole.result["amount"], stored(desk).percent) == ("4.96", Decimal("10"))  # 4.959
    # the book got 2.50 of the 4.96: 12.5 % of its 22.49 left is 2.81125
    assert line.result["amount"] == "2.81"


def test_a_percent_of_a_yen_order_rounds_to_whole_yen() -> None:
    desk = ada(currency="JPY", delivery={"method": "standard", "address": TOKYO},
               payment={"authorized": "99999", "captured": "0"})  # fmt: skip

    change = discount(desk, MANAGER, percent="0.75")  # of 3600 + 3800 yen: 55.5

    assert change.result["amount"] == "56"
    memo = change.events[1]
    assert isinstance(memo, CreditMemoIssued)
    assert [(x.line_id, str(x.net)) for x in memo.credit_memo.lines] == [("l1", "27"), ("l2", "29")]


def test_a_percent_of_a_dinar_order_rounds_to_the_fils() -> None:
    desk = ada(currency="KWD", delivery={"method": "standard", "address": KUWAIT},
               payment={"authorized": "999.000", "captured": "0.000"})  # fmt: skip

    change = discount(desk, MANAGER, percent="10")  # of 7.500 + 7.625: 1.5125

    assert (change.result["amount"], change.result["value"]) == ("1.513", "1.513")  # no VAT


# --- the record: audit and the account's list -------------------------------------------------------


def test_the_audit_keeps_an_appeasement_on_the_order_and_on_the_billing_account() -> None:
    desk = ada()

    granted = discount(desk, amount="5.00", line_id="l1")
    pending = store_credit(desk, "25.00")

    assert [(a.entity_type, a.entity_id, a.action) for a in granted.audit] == [
        ("order", "ord_ada_1", "order.discounted"),
        ("order", "ord_ada_1", "appeasement.granted"),
        ("billing_account", "acc_ada", "appeasement.granted"),
    ]
    after = granted.audit[1].after or {}
    assert (after["value"], after["offered_by"], after["ticket"]) == (
        "5.95", {"id": "agent-grace", "role": "agent"}, "ZD-4411")  # fmt: skip
    assert [(a.entity_type, a.action, a.before) for a in pending.audit] == [
        ("billing_account", "appeasement.offered", None)
    ]
    approved = approve(desk, "apz_2")
    [audit] = approved.audit
    assert (audit.action, (audit.before or {})["status"], (audit.after or {})["status"]) == (
        "appeasement.granted", "pending", "granted")  # fmt: skip


def test_the_account_lists_its_appeasements_with_who_why_the_ticket_value_and_status() -> None:
    desk = ada()
    store_credit(desk, "10.00", now=NOW - timedelta(hours=1))
    discount(desk, amount="10.00", ticket="ZD-5000")
    approve(desk, "apz_2", reason="goodwill_approved")

    views, total = appeasements_for_account(desk.uow, "acc_ada")

    assert total == 2
    assert [(v.appeasement_id, v.kind, v.status, str(v.value), v.ticket) for v in views] == [
        ("apz_2", "discount", "granted", "11.29", "ZD-5000"),
        ("apz_1", "store_credit", "granted", "10.00", "ZD-4411"),
    ]
    newest = views[0]
    assert (newest.offered_by.id, newest.reason, newest.offered_at) == (
        "agent-grace", "late_delivery", NOW)  # fmt: skip
    assert newest.decided_by is not None
    assert (newest.decided_by.id, newest.decision_reason) == ("manager-hopper", "goodwill_approved")
    assert appeasements_for_account(desk.uow, "acc_nobody") == ([], 0)
    # Bounded: the newest first, and how many in all
    assert [v.appeasement_id for v in appeasements_for_account(desk.uow, "acc_ada", 1)[0]] == [
        "apz_2"
    ]
    assert appeasements_for_account(desk.uow, "acc_ada", 1)[1] == 2


def test_the_account_view_lists_every_appeasement_with_who_offered_who_decided_and_why() -> None:
    from contracts.accounts import GetBillingAccount
    from services.accounts.handlers import get_account

    desk = ada()
    store_credit(desk, "15.00")
    store_credit(desk, "30.00", note="third late parcel this year")
    approve(desk, "apz_2")

    query = GetBillingAccount.model_validate(
        {"actor": {"id": "agent-grace", "role": "agent"}, "account_id": "acc_ada"}
    )
    view = get_account(query, desk.uow)

    shown = [
        (a["appeasement_id"], a["status"], a["value"], a["reason"], a["ticket"],
         a["offered_by"]["id"], (a["decided_by"] or {}).get("id"))
        for a in view["appeasements"]
    ]  # fmt: skip
    assert shown == [
        ("apz_2", "granted", "30.00", "late_delivery", "ZD-4411", "agent-grace", "manager-hopper"),
        ("apz_1", "granted", "15.00", "late_delivery", "ZD-4411", "agent-grace", None),
    ]
