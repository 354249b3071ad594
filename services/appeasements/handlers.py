"""Appeasement command handlers: offer, approve, reject, expire.

An offer within the acting role's limits is granted at once: store credit goes to the
account's store-credit ledger; a discount changes the order through its `discount` method (a
credit memo with `goodwill_discount` lines, then a refund, a lower capture or store credit,
like any decrease). Above a limit the offer waits, pending, for someone whose limits cover
it, until it expires. The appeasement row, the order, the money and the audit are written
in the one transaction of the command.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from contracts.appeasements import (
    AppeasementExpired,
    AppeasementGranted,
    AppeasementPendingApproval,
    AppeasementRejected,
    ApproveAppeasement,
    ExpireAppeasement,
    OfferAppeasement,
    RejectAppeasement,
)
from contracts.common import Actor
from services.appeasements import events
from services.appeasements.limits import Exceeded, Exposure, exceeded
from services.appeasements.model import Appeasement, BeyondOwnLimits, FullyRefunded
from services.appeasements.views import appeasement_view, audit_state, limit_view, person
from services.context import Change, Context
from services.errors import (
    AlreadyCancelled,
    AlreadyExists,
    Invalid,
    NotAllowedInState,
    NotFound,
)
from services.money import check_currency, is_rounded, quantum, round_money
from services.orders.model import Order
from services.orders.recording import lock, locked, record
from services.ports import UnitOfWork

#: The credit memo reason of a discount, whichever way the order's total goes.

#: The deadline kind of a pending appeasement (the sweeper sends `appeasement.expire`).
DEADLINE = "appeasement"

#: How far back an agent's own appeasements count towards the per-day limit.
DAY = timedelta(hours=24)


def offer_appeasement(cmd: OfferAppeasement, ctx: Context, uow: UnitOfWork) -> Change:
    uow.appeasements.hold_offerer(ctx.actor.id)
    offered, exposure = _offered(cmd, ctx, uow)
    over = exceeded(ctx.policy, ctx.actor.role, exposure)
    change = _wait(offered, over, ctx, uow) if over else _grant(offered, None, ctx, uow, None)
    if not uow.appeasements.add(offered):
        raise _taken(offered.appeasement_id)
    return change


def approve_appeasement(cmd: ApproveAppeasement, ctx: Context, uow: UnitOfWork) -> Change:
    appeasement = _decidable(cmd.appeasement_id, "approved", ctx, uow)
    appeasement.check_open(ctx.now)
    before = audit_state(appeasement)
    exposure = _exposure_now(appeasement, cmd.expected_version, uow)
    _check_covers(appeasement, exposure, ctx)
    appeasement.value = exposure.value
    change = _grant(appeasement, ctx.actor, ctx, uow, before)
    uow.appeasements.save(appeasement)
    uow.deadlines.clear(DEADLINE, appeasement.appeasement_id)
    return change


def reject_appeasement(cmd: RejectAppeasement, ctx: Context, uow: UnitOfWork) -> Change:
    appeasement = _decidable(cmd.appeasement_id, "rejected", ctx, uow)
    appeasement.check_open(ctx.now, "it ends as expired; nothing was granted")
    order = uow.orders.get(appeasement.order_id) if appeasement.order_id else None
    _check_covers(appeasement, _exposure(appeasement, order, appeasement.value, uow), ctx)
    before = audit_state(appeasement)
    appeasement.reject(ctx.actor, ctx.now, cmd.reason, cmd.note)
    event = AppeasementRejected(appeasement=appeasement_view(appeasement))
    return _closed(appeasement, before, event, uow)


def expire_appeasement(cmd: ExpireAppeasement, ctx: Context, uow: UnitOfWork) -> Change:
    appeasement = _found(cmd.appeasement_id, uow)
    before = audit_state(appeasement)
    appeasement.expire(ctx.actor, ctx.now)
    event = AppeasementExpired(appeasement=appeasement_view(appeasement))
    return _closed(appeasement, before, event, uow)


# --- the offer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Terms:
    """What an offer comes to: whose it is, the order it names, the amount and its value."""

    account_id: str
    order: Order | None
    currency: str
    amount: Decimal
    value: Decimal


def _offered(cmd: OfferAppeasement, ctx: Context, uow: UnitOfWork) -> tuple[Appeasement, Exposure]:
    """The appeasement as offered (not stored yet) and what the offering role's limits count."""
    appeasement_id = cmd.appeasement_id or ctx.ids("apz")
    if uow.appeasements.get(appeasement_id) is not None:
        raise _taken(appeasement_id)
    terms = _store_credit(cmd, uow) if cmd.kind == "store_credit" else _discount_terms(cmd, uow)
    offered = Appeasement(
        appeasement_id, cmd.kind, terms.account_id, terms.order.order_id if terms.order else None,
        cmd.line_id, terms.currency, terms.amount, cmd.percent, terms.value,
        cmd.settle_to if cmd.kind == "discount" else None, cmd.reason, cmd.note, cmd.ticket,
        ctx.actor, ctx.now, ctx.command_id,
    )  # fmt: skip
    today = uow.appeasements.offered_since(ctx.actor.id, terms.currency, ctx.now - DAY)
    exposure = _exposure(offered, terms.order, terms.value, uow)
    return offered, replace(exposure, offered_today=today)


def _store_credit(cmd: OfferAppeasement, uow: UnitOfWork) -> _Terms:
    assert cmd.account_id is not None and cmd.currency is not None and cmd.amount is not None
    account_id = _active_account(cmd.account_id, uow)
    check_currency(cmd.currency, "data.currency")
    amount = _rounded(cmd.amount, cmd.currency, "data.amount")
    order = None
    if cmd.order_id is not None:
        order = locked(cmd.order_id, uow)
        _belongs(order, account_id, cmd.currency)
    return _Terms(account_id, order, cmd.currency, amount, amount)


def _discount_terms(cmd: OfferAppeasement, uow: UnitOfWork) -> _Terms:
    assert cmd.order_id is not None
    order = locked(cmd.order_id, uow)
    order.check_version(cmd.expected_version)
    _belongs(order, cmd.account_id or order.account_id, cmd.currency or order.currency)
    _check_discountable(order, cmd.line_id)
    amount = _discount_amount(order, cmd)
    return _Terms(
        order.account_id, order, order.currency, amount, _value(order, amount, cmd.line_id)
    )


def _active_account(account_id: str, uow: UnitOfWork) -> str:
    account = uow.accounts.get(account_id)
    if account is None:
        raise NotFound(f"billing account {account_id} does not exist", field="data.account_id")
    if account.status != "active":
        raise NotAllowedInState(
            f"billing account {account_id} is {account.status}: no goodwill is granted to it",
            status=account.status,
        )
    return account.account_id


def _belongs(order: Order, account_id: str, currency: str) -> None:
    """An order named by an appeasement must be the account's, in the appeasement's currency."""
    if order.account_id != account_id:
        raise Invalid(
            f"order {order.order_id} belongs to another billing account than {account_id}",
            field="data.order_id",
        )
    if order.currency != currency:
        raise Invalid(
            f"order {order.order_id} is in {order.currency}, not {currency}",
            field="data.currency",
        )


def _check_discountable(order: Order, line_id: str | None) -> None:
    """A discount needs an order (and line) with money left on it."""
    if order.status == "cancelled":
        raise AlreadyCancelled(
            f"order {order.order_id} is cancelled: there is nothing to discount (offer store "
            "credit instead)",
            status=order.status,
        )
    total, paid = order.priced().total, order.payment
    if total <= 0:
        raise FullyRefunded(
            f"order {order.order_id} totals {total} {order.currency}: there is nothing to "
            "discount (offer store credit instead)",
            status=order.status,
        )
    if paid.captured > 0 and paid.refunded >= paid.captured:
        raise FullyRefunded(
            f"everything captured on order {order.order_id} "
            f"({round_money(paid.captured, order.currency)} {order.currency}) was refunded: "
            "there is nothing to discount (offer store credit instead)",
            status=order.status,
        )
    if line_id is not None and order.line(line_id, "data.line_id").charged == 0:
        raise NotAllowedInState(
            f"line {line_id} of order {order.order_id} has no units charged (cancelled or "
            "returned): there is nothing to discount",
            field="data.line_id",
        )


def _discount_amount(order: Order, cmd: OfferAppeasement) -> Decimal:
    """A fixed amount as given (no finer than the currency), or a percent of the order's or
    line's current amount (in the order's price terms: net of tax, or tax included), rounded
    half-up to the currency."""
    if cmd.amount is not None:
        return _rounded(cmd.amount, order.currency, "data.amount")
    assert cmd.percent is not None
    base = order.discountable(cmd.line_id)
    amount = round_money(base * cmd.percent / 100, order.currency)
    if amount <= 0:
        where = f"line {cmd.line_id}" if cmd.line_id else f"order {order.order_id}"
        raise Invalid(
            f"{cmd.percent} % of the {base} {order.currency} ({order.price_terms}) on {where} rounds to "
            f"{amount} {order.currency}: nothing to discount",
            field="data.percent",
        )
    return amount


def _value(order: Order, amount: Decimal, line_id: str | None) -> Decimal:
    """What the discount gives the customer: how much the order's total goes down, tax
    included (priced on a copy; the order itself is not touched). Refuses a discount that
    would take a line or the order below zero."""
    trial = copy.deepcopy(order)
    trial.discount(amount, line_id)
    return order.priced().total - trial.priced().total


def _rounded(amount: Decimal, currency: str, field: str) -> Decimal:
    if not is_rounded(amount, currency):
        raise Invalid(
            f"{field.removeprefix('data.')} {amount} has more decimals than {currency} allows "
            f"(smallest unit {quantum(currency)})",
            field=field,
        )
    return round_money(amount, currency)


# --- limits ----------------------------------------------------------------------------------


def _exposure(
    appeasement: Appeasement, order: Order | None, value: Decimal, uow: UnitOfWork
) -> Exposure:
    """What the limits count, the per-day sum aside: the value, and with an order its total
    and the order's other granted and pending appeasements."""
    if order is None:
        return Exposure(appeasement.currency, value)
    others = uow.appeasements.on_order(order.order_id, excluding=appeasement.appeasement_id)
    return Exposure(appeasement.currency, value, order.priced().total, others)


def _exposure_now(
    appeasement: Appeasement, expected_version: int | None, uow: UnitOfWork
) -> Exposure:
    """At approval, the appeasement on the order (and account) as they are now: a discount
    that no longer fits is refused and stays pending."""
    if appeasement.kind == "store_credit":
        _active_account(appeasement.account_id, uow)
        order = locked(appeasement.order_id, uow) if appeasement.order_id else None
        return _exposure(appeasement, order, appeasement.amount, uow)
    assert appeasement.order_id is not None
    order = locked(appeasement.order_id, uow)
    order.check_version(expected_version)
    _check_discountable(order, appeasement.line_id)
    value = _value(order, appeasement.amount, appeasement.line_id)
    return _exposure(appeasement, order, value, uow)


#: Who outranks whom when deciding an appeasement.
_RANK = {"agent": 1, "supervisor": 2, "manager": 3}


def _check_covers(appeasement: Appeasement, exposure: Exposure, ctx: Context) -> None:
    """Whoever decides must rank above whoever offered (so two agents cannot approve each
    other's offers past their own limits) and have limits that cover the appeasement (per
    day aside: that counts what a person offers)."""
    offered, deciding = appeasement.offered_by.role, ctx.actor.role
    if _RANK.get(deciding, 0) <= _RANK.get(offered, 0) and deciding != "manager":
        raise BeyondOwnLimits(
            f"a {deciding} cannot decide an appeasement a {offered} offered: it waits for "
            "someone of a higher role",
            role=deciding,
            offered_by_role=offered,
        )
    over = exceeded(ctx.policy, ctx.actor.role, exposure)
    if over:
        raise BeyondOwnLimits(
            f"{over[0].describe(appeasement.currency)}: appeasement "
            f"{appeasement.appeasement_id} needs someone whose limits cover it",
            role=ctx.actor.role,
            exceeded=[
                limit_view(o, appeasement.currency).model_dump(mode="json", exclude_none=True)
                for o in over
            ],
        )


# --- outcomes --------------------------------------------------------------------------------


def _wait(appeasement: Appeasement, over: list[Exceeded], ctx: Context, uow: UnitOfWork) -> Change:
    """Pending until someone whose limits cover it decides, or it expires."""
    until = ctx.now + timedelta(hours=ctx.policy.appeasement_pending_hours)
    appeasement.wait(until)
    uow.deadlines.set(DEADLINE, appeasement.appeasement_id, appeasement.subject, until)
    limits = [limit_view(o, appeasement.currency) for o in over]
    event = AppeasementPendingApproval(
        appeasement=appeasement_view(appeasement), exceeded=limits, expires_at=until
    )
    result = {
        **events.result(appeasement),
        "exceeded": [limit.model_dump(mode="json", exclude_none=True) for limit in limits],
        "expires_at": until.isoformat(),
    }
    audit = events.audit(appeasement, "appeasement.offered", None)
    return Change(appeasement.subject, None, result, [event], audit)


def _grant(
    appeasement: Appeasement,
    by: Actor | None,
    ctx: Context,
    uow: UnitOfWork,
    before: dict[str, Any] | None,
) -> Change:
    """Give the customer the goodwill: store credit, or the discount and its settlement."""
    if appeasement.kind == "store_credit":
        uow.appeasements.add_store_credit(
            appeasement.account_id, appeasement.currency, appeasement.amount,
            appeasement.appeasement_id, ctx.now, ctx.command_id,
        )  # fmt: skip
        changed = Change(appeasement.subject, None)
    else:
        changed = _discount(appeasement, ctx, uow)
    appeasement.grant(by, ctx.now, ctx.reason, ctx.note)
    granted = AppeasementGranted(
        appeasement=appeasement_view(appeasement), approved_by=person(by) if by else None
    )
    return Change(
        changed.subject,
        changed.version,
        {**changed.result, **events.result(appeasement)},
        [*changed.events, granted],
        [*changed.audit, *events.audit(appeasement, "appeasement.granted", before)],
    )


def _discount(appeasement: Appeasement, ctx: Context, uow: UnitOfWork) -> Change:
    """The order change: the discount, credited as `goodwill_discount` and settled."""
    assert appeasement.order_id is not None
    order, before = lock(uow, appeasement.order_id)
    order.discount(
        appeasement.amount,
        appeasement.line_id,
        reason=appeasement.reason,
        reference=appeasement.appeasement_id,
        settle_to=appeasement.settle_to or "original_payment",
    )
    settlement = order.settle(ctx.now, ctx.ids)
    appeasement.value = settlement.old_total - settlement.new_total
    memos = settlement.credit_memos
    appeasement.credit_memo_id = memos[0].credit_memo_id if memos else None
    return record(order, before, ctx, uow)


def _closed(
    appeasement: Appeasement, before: dict[str, Any], event: BaseModel, uow: UnitOfWork
) -> Change:
    """Rejected or expired: stored, its deadline gone, published and audited."""
    uow.appeasements.save(appeasement)
    uow.deadlines.clear(DEADLINE, appeasement.appeasement_id)
    action: str = getattr(event, "TYPE")  # noqa: B009 - every event model declares it
    audit = events.audit(appeasement, action, before)
    return Change(appeasement.subject, None, events.result(appeasement), [event], audit)


def _decidable(appeasement_id: str, verb: str, ctx: Context, uow: UnitOfWork) -> Appeasement:
    appeasement = _found(appeasement_id, uow)
    appeasement.check_decidable(ctx.actor, verb)
    return appeasement


def _found(appeasement_id: str, uow: UnitOfWork) -> Appeasement:
    """The appeasement, locked until the unit of work ends, or a rejection."""
    appeasement = uow.appeasements.get_for_update(appeasement_id)
    if appeasement is None:
        raise NotFound(f"appeasement {appeasement_id} does not exist", field="data.appeasement_id")
    return appeasement


def _taken(appeasement_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"appeasement {appeasement_id} already exists", field="data.appeasement_id"
    )
