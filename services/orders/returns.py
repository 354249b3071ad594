"""Returns and exchanges of an order's shipped units.

A return authorisation (RMA) names shipped units, a reason per line and how the parcel comes
back. On receipt the warehouse reports each unit's condition, and the verification table
decides what it refunds; units a person must judge wait for a manager's decision. An
exchange is a return with replacement lines: the returned units are credited at once, so
the price difference nets into one settlement, and whatever does not come back (or comes
back refused) is charged again. README.md shows the tables below.

Money moves through the one pricing function: accepted units leave a line's `charged`
units (`Line.returned`), a restocking fee or return label is a `Charge` on the order, and
the original shipping is dropped (`Order.shipping_refunded`) when the policy says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from contracts.common import Role, SettleTo
from contracts.orders import Condition, Outcome, ReturnMethod, ReturnStatus
from services.errors import (
    AlreadyExists,
    Forbidden,
    Invalid,
    NotAllowedInState,
    NotFound,
    OverLimit,
)
from services.money import round_money
from services.orders.charges import Charge
from services.orders.rules import require
from services.orders.settlement import SHIPPING, Reason
from services.policy import Policy

if TYPE_CHECKING:
    from services.orders.model import Line, Order


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a unit in one condition refunds, and whether a manager must decide it first."""

    outcome: Outcome
    manager: bool
    why: str


#: condition -> verdict. The only place the verification rules are written.
VERIFICATION: dict[Condition, Verdict] = {
    "resellable": Verdict("full", False, "back in stock as sold: refunded in full"),
    "damaged_in_transit": Verdict(
        "full", False, "the carrier's damage, not the customer's: refunded in full"
    ),
    "damaged_by_customer": Verdict("restocking_fee", False, "refunded less the restocking fee"),
    "wrong_item": Verdict(
        "none", True, "not the item sold: nothing is refunded unless a manager decides otherwise"
    ),
    "missing": Verdict("none", False, "not in the parcel: nothing to refund"),
}

Fault = Literal["merchant", "customer"]


@dataclass(frozen=True, slots=True)
class ReturnReason:
    """Whose fault a return reason is, and when an exchange's replacement ships."""

    fault: Fault
    exchange: Literal["advance", "after_receipt"]


#: reason code -> policy. The merchant's faults ship the replacement at once and return free.
RETURN_REASONS: dict[str, ReturnReason] = {
    "damaged": ReturnReason("merchant", "advance"),
    "defective": ReturnReason("merchant", "advance"),
    "wrong_item_sent": ReturnReason("merchant", "advance"),
    "not_as_described": ReturnReason("merchant", "after_receipt"),
    "wrong_size": ReturnReason("customer", "advance"),
    "changed_mind": ReturnReason("customer", "after_receipt"),
    "no_longer_needed": ReturnReason("customer", "after_receipt"),
}

#: The return shipping policy, as README states it.
SHIPPING_POLICY = (
    "A prepaid label (`carrier_label`) is free when any returned line's reason is the "
    "merchant's fault and for every exchange; otherwise its cost (the order currency's fee "
    "of the `standard` delivery method) is deducted from the refund, once per return and "
    "only when the return refunds at least that much. `drop_off` (the customer posts it) and "
    "`in_store` cost the customer nothing here. The original shipping is refunded when a "
    "return leaves nothing of the order charged and one of its reasons is the merchant's "
    "fault."
)

RETURN: Reason = ("return", "return_not_accepted")
EXCHANGE: Reason = ("exchange_return", "exchange_replacement")


@dataclass(slots=True)
class ReturnLine:
    """One line of a return: units authorised, what arrived in which condition, and how
    each was settled."""

    line_id: str
    sku: str
    quantity: int
    reason: str
    received: dict[str, int] = field(default_factory=dict)
    refunded: int = 0
    restocking_fee: int = 0
    refused: int = 0
    missing: int = 0
    awaiting: dict[str, int] = field(default_factory=dict)
    #: Units an exchange credited when it was created.
    credited_in_advance: int = 0
    #: Of those, the ones no receipt or decision has settled yet.
    advance_left: int = 0

    @property
    def back(self) -> int:
        """Units that physically came back (in any condition but missing)."""
        return sum(n for c, n in self.received.items() if c != "missing")


@dataclass(slots=True)
class Return:
    """A return authorisation (RMA)."""

    return_id: str
    status: ReturnStatus
    method: ReturnMethod
    lines: list[ReturnLine]
    created_at: datetime
    return_by: datetime
    replacement_line_ids: list[str] = field(default_factory=list)
    advance: bool = False
    window_override: bool = False
    received_at: datetime | None = None
    exceptions: list[dict[str, object]] = field(default_factory=list)
    settle_to: SettleTo = "original_payment"

    @property
    def exchange(self) -> bool:
        return bool(self.replacement_line_ids)

    def line(self, line_id: str, at: str) -> ReturnLine:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise NotFound(f"return {self.return_id} has no line {line_id}", field=at)


@dataclass(frozen=True, slots=True)
class Requested:
    """Units of a line asked back (from the command)."""

    line_id: str
    quantity: int
    reason: str


# --- authorising ---------------------------------------------------------------------------


def find(order: Order, return_id: str) -> Return:
    for rma in order.returns:
        if rma.return_id == return_id:
            return rma
    raise NotFound(f"order {order.order_id} has no return {return_id}", field="data.return_id")


def returnable(order: Order, line: Line) -> int:
    """Shipped units not back yet and not pending in an open return."""
    back = pending = 0
    for rma in order.returns:
        for rl in rma.lines:
            if rl.line_id != line.line_id:
                continue
            if rma.status == "authorized":
                pending += rl.quantity
            else:
                back += rl.back
    return line.shipped - back - pending


def delivered_at(order: Order, line_id: str) -> datetime | None:
    """When the line's last delivered parcel arrived (None before any did)."""
    times = [s.delivered_at for s in order.shipments if line_id in s.lines and s.delivered_at]
    return max(times) if times else None


def authorize(
    order: Order,
    *,
    return_id: str,
    requested: Sequence[Requested],
    method: ReturnMethod,
    replacements: Sequence[tuple[str, Line]] = (),
    override_window: bool = False,
    settle_to: SettleTo = "original_payment",
    role: Role,
    why: str | None,
    now: datetime,
    policy: Policy,
) -> Return:
    """Authorise a return of shipped units (and add an exchange's replacement lines, whose
    returned units are credited at once)."""
    if any(r.return_id == return_id for r in order.returns):
        raise AlreadyExists(
            f"order {order.order_id} already has a return {return_id}", field="data.return_id"
        )
    lines = []
    overridden = False
    for n, req in enumerate(requested):
        at = f"data.lines.{n}"
        line = order.line(req.line_id, f"{at}.line_id")
        require("return_units", order, line)
        if req.reason not in RETURN_REASONS:
            raise Invalid(
                f"return reason '{req.reason}' is not one of {', '.join(RETURN_REASONS)}",
                field=f"{at}.reason",
            )
        left = returnable(order, line)
        if req.quantity > left:
            raise OverLimit(
                f"line {line.line_id} ({line.sku}) has {left} unit(s) that can be returned "
                f"({line.shipped} shipped, {line.shipped - left} returned or pending); "
                f"{req.quantity} asked",
                field=f"{at}.quantity",
                limit=left,
            )
        overridden |= _check_window(order, line, at, override_window, role, why, now, policy)
        lines.append(ReturnLine(line.line_id, line.sku, req.quantity, req.reason))
    if override_window and not overridden:
        raise Invalid(
            "override_window is set but every line is within its return window",
            field="data.override_window",
        )
    rma = Return(
        return_id,
        "authorized",
        method,
        lines,
        now,
        now + timedelta(days=policy.return_arrival_days),
        window_override=overridden,
        settle_to=settle_to,
    )
    _exchange(order, rma, replacements)
    order.returns.append(rma)
    order.touched()
    return rma


def _check_window(
    order: Order,
    line: Line,
    at: str,
    override: bool,
    role: Role,
    why: str | None,
    now: datetime,
    policy: Policy,
) -> bool:
    """Whether the line needed the manager's override (refused when it is missing)."""
    arrived = delivered_at(order, line.line_id)
    if arrived is None:
        return False
    closes = arrived + timedelta(days=policy.return_window_days)
    if now <= closes:
        return False
    if not override:
        raise NotAllowedInState(
            f"line {line.line_id} ({line.sku}) was delivered on {arrived.date().isoformat()}: "
            f"its {policy.return_window_days}-day return window closed on "
            f"{closes.date().isoformat()} (a manager may override it, with a reason)",
            field=f"{at}.line_id",
            closed_on=closes.date().isoformat(),
        )
    if role != "manager":
        raise Forbidden(
            f"only a manager may override the return window (role '{role}')",
            field="data.override_window",
            role=role,
        )
    if not why:
        raise Invalid(
            "overriding the return window needs a reason and a note saying why",
            field="data.note",
        )
    return True


def _exchange(order: Order, rma: Return, replacements: Sequence[tuple[str, Line]]) -> None:
    """Add each replacement line; its returned units come off the charge at once."""
    if not replacements:
        return
    reasons = {rl.line_id: RETURN_REASONS[rl.reason] for rl in rma.lines}
    replaced: dict[str, int] = {}
    for for_line, new in replacements:
        replaced[for_line] = replaced.get(for_line, 0) + new.quantity
    rma.advance = all(reasons[lid].exchange == "advance" for lid in replaced)
    for rl in rma.lines:
        if rl.line_id in replaced:
            # Units beyond those replaced are a plain return: credited when they arrive.
            credited = min(rl.quantity, replaced[rl.line_id])
            rl.credited_in_advance = rl.advance_left = credited
            order.line(rl.line_id).returned += credited
    for for_line, new in replacements:
        if any(existing.line_id == new.line_id for existing in order.lines):
            raise AlreadyExists(
                f"order {order.order_id} already has a line {new.line_id}",
                field="data.replacements",
            )
        new.exchange_for = rma.return_id
        new.replaces = for_line
        new.hold = not rma.advance
        order.lines.append(new)
        rma.replacement_line_ids.append(new.line_id)


# --- receiving -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrived:
    """Units of a line found in the parcel in one condition (from the warehouse message)."""

    line_id: str
    sku: str
    condition: Condition
    quantity: int


def receive(
    order: Order,
    rma: Return,
    arrived: Sequence[Arrived],
    *,
    now: datetime,
    policy: Policy,
    label_fee: Decimal,
) -> dict[str, Reason]:
    """Verify a parcel unit by unit and settle what the rules accept. Units beyond what was
    authorised, of another SKU or of a line not in the return are kept as exceptions."""
    if rma.status != "authorized":
        raise NotAllowedInState(
            f"return {rma.return_id} is {rma.status.replace('_', ' ')}: its parcel was "
            "received already or it is closed",
            field="data.return_id",
            status=rma.status,
        )
    left = {rl.line_id: rl.quantity for rl in rma.lines}
    for unit in arrived:
        _take(order, rma, unit, left, policy)
    for rl in rma.lines:
        if left[rl.line_id]:
            rl.received["missing"] = rl.received.get("missing", 0) + left[rl.line_id]
            _settle_units(order, rma, rl, "missing", "none", left[rl.line_id], policy)
    rma.received_at = now
    _after_verification(order, rma, label_fee)
    for line in order.lines:
        if line.exchange_for == rma.return_id:
            line.hold = False
    order.touched()
    return reasons(order, rma)


def _take(order: Order, rma: Return, unit: Arrived, left: dict[str, int], policy: Policy) -> None:
    """Verify units of one line in one condition; what was not authorised is an exception."""
    rl = next((r for r in rma.lines if r.line_id == unit.line_id), None)
    if rl is None:
        why = f"line {unit.line_id} is not in return {rma.return_id}"
    elif unit.sku != rl.sku:
        why = f"SKU {unit.sku} arrived for line {rl.line_id}, which is {rl.sku}"
    else:
        take = min(unit.quantity, left[rl.line_id])
        why = f"more units of line {rl.line_id} than the {rl.quantity} authorised"
        if take:
            left[rl.line_id] -= take
            rl.received[unit.condition] = rl.received.get(unit.condition, 0) + take
            verdict = VERIFICATION[unit.condition]
            if verdict.manager:
                rl.awaiting[unit.condition] = rl.awaiting.get(unit.condition, 0) + take
            else:
                _settle_units(order, rma, rl, unit.condition, verdict.outcome, take, policy)
        if take == unit.quantity:
            return
        unit = Arrived(unit.line_id, unit.sku, unit.condition, unit.quantity - take)
    _exception(rma, unit.line_id, unit.sku, unit.condition, unit.quantity, why)


def decide(
    order: Order, rma: Return, decisions: Sequence[tuple[str, Condition, Outcome, int | None]],
    policy: Policy, label_fee: Decimal,
) -> dict[str, Reason]:  # fmt: skip
    """A manager's verdict on units the verification rules left to a person."""
    if rma.status != "awaiting_decision":
        raise NotAllowedInState(
            f"return {rma.return_id} is {rma.status.replace('_', ' ')}: no units await a decision",
            field="data.return_id",
            status=rma.status,
        )
    for n, (line_id, condition, outcome, quantity) in enumerate(decisions):
        at = f"data.decisions.{n}"
        rl = rma.line(line_id, f"{at}.line_id")
        waiting = rl.awaiting.get(condition, 0)
        count = waiting if quantity is None else quantity
        if waiting == 0 or count > waiting:
            raise OverLimit(
                f"line {line_id} has {waiting} unit(s) in condition '{condition}' awaiting a "
                f"decision; {count} cannot be decided",
                field=f"{at}.quantity",
                limit=waiting,
            )
        rl.awaiting[condition] = waiting - count
        if not rl.awaiting[condition]:
            del rl.awaiting[condition]
        _settle_units(order, rma, rl, condition, outcome, count, policy)
    _after_verification(order, rma, label_fee)
    order.touched()
    return reasons(order, rma)


def close_unreceived(
    order: Order, rma: Return, status: Literal["cancelled", "expired"], now: datetime
) -> dict[str, Reason]:
    """Cancel a return nothing of which arrived, or expire one whose parcel is overdue: units
    an exchange credited in advance are charged again; replacements not shipped yet are
    cancelled (a replacement already on its way stays, and is paid for)."""
    if rma.status != "authorized":
        raise NotAllowedInState(
            f"return {rma.return_id} is {rma.status.replace('_', ' ')}: only a return nothing "
            "of which has arrived can be " + status,
            field="data.return_id",
            status=rma.status,
        )
    if status == "expired" and now < rma.return_by:
        raise NotAllowedInState(
            f"return {rma.return_id} is due by {rma.return_by.isoformat()}: it has not expired",
            field="data.return_id",
            return_by=rma.return_by.isoformat(),
        )
    for rl in rma.lines:
        order.line(rl.line_id).returned -= rl.advance_left
        rl.advance_left = 0
    for line in order.lines:
        if line.exchange_for == rma.return_id and line.open_units:
            line.cancelled += line.open_units
            line.clamp_backorder()
            line.hold = False
    rma.status = status
    order.touched()
    return reasons(order, rma)


def _settle_units(
    order: Order, rma: Return, rl: ReturnLine, condition: str, outcome: Outcome, count: int,
    policy: Policy,
) -> None:  # fmt: skip
    """Take `count` units off the charge (or back onto it) as the outcome says."""
    line = order.line(rl.line_id)
    off = count if outcome != "none" else 0
    in_advance = min(count, rl.advance_left)
    rl.advance_left -= in_advance
    line.returned += off - in_advance
    if outcome == "full":
        rl.refunded += count
    elif outcome == "restocking_fee":
        rl.restocking_fee += count
        _restocking_fee(order, rma, line, count, policy)
    elif condition == "missing":
        rl.missing += count
    else:
        rl.refused += count


def _restocking_fee(order: Order, rma: Return, line: Line, count: int, policy: Policy) -> None:
    unit_net = max(line.unit_price - line.unit_discount, Decimal(0))
    fee = round_money(unit_net * count * policy.restocking_fee_percent / 100, order.currency)
    if fee <= 0:
        return
    n = sum(1 for c in order.charges if c.reference == rma.return_id) + 1
    order.charges.append(
        Charge(
            f"#restock-{rma.return_id}-{n}",
            "restocking_fee",
            f"restocking fee {policy.restocking_fee_percent}% of {count} x {line.name}",
            fee,
            line.tax_class,
            rma.return_id,
        )
    )


def _after_verification(order: Order, rma: Return, label_fee: Decimal) -> None:
    """The return's status, its label cost and the original shipping, once units settled."""
    rma.status = "awaiting_decision" if any(rl.awaiting for rl in rma.lines) else "received"
    merchant = any(RETURN_REASONS[rl.reason].fault == "merchant" for rl in rma.lines)
    accepted = sum(rl.refunded + rl.restocking_fee for rl in rma.lines)
    labelled = any(
        c.kind == "return_shipping" and c.reference == rma.return_id for c in order.charges
    )
    if (
        rma.method == "carrier_label" and not merchant and not rma.exchange and not labelled
        and accepted and label_fee > 0
        and _refunded_gross(order, rma) >= _gross(order, label_fee, "standard")
    ):  # fmt: skip
        order.charges.append(
            Charge(
                f"#label-{rma.return_id}",
                "return_shipping",
                "return label",
                label_fee,
                "standard",
                rma.return_id,
            )
        )
    if merchant and not order.shipping_refunded and all(ln.charged == 0 for ln in order.lines):
        order.shipping_refunded = True


def _refunded_gross(order: Order, rma: Return) -> Decimal:
    """What the return gives back, tax included: its accepted units at the price paid, less
    the restocking fees charged on it (a label is deducted only from at least that much)."""
    total = Decimal(0)
    for rl in rma.lines:
        line = order.line(rl.line_id)
        unit = max(line.unit_price - line.unit_discount, Decimal(0))
        total += _gross(order, unit * (rl.refunded + rl.restocking_fee), line.tax_class)
    for charge in order.charges:
        if charge.reference == rma.return_id and charge.kind == "restocking_fee":
            total -= _gross(order, charge.net, charge.tax_class)
    return total


def _gross(order: Order, net: Decimal, tax_class: str) -> Decimal:
    return net * (1 + order.tax_rates.get(tax_class, Decimal(0)))


def reasons(order: Order, rma: Return) -> dict[str, Reason]:
    reason = EXCHANGE if rma.exchange else RETURN
    reasons: dict[str, Reason] = {rl.line_id: reason for rl in rma.lines}
    for line_id in rma.replacement_line_ids:
        reasons[line_id] = EXCHANGE
    for charge in order.charges:
        reasons[charge.charge_id] = (charge.kind, charge.kind)
    reasons[SHIPPING] = ("original_shipping", "shipping_change")
    return reasons


def _exception(
    rma: Return, line_id: str | None, sku: str, condition: str, quantity: int, why: str | None
) -> None:
    rma.exceptions.append(
        {
            "line_id": line_id,
            "sku": sku,
            "condition": condition,
            "quantity": quantity,
            "why": why or "not authorised",
        }
    )


def markdown() -> str:
    """The verification and return-reason tables as README.md shows them."""
    rows = [
        "| condition | refunds | manager decides | rule |",
        "| --- | --- | --- | --- |",
        *(
            f"| `{c}` | {v.outcome.replace('_', ' ')} | {'yes' if v.manager else 'no'} | {v.why} |"
            for c, v in VERIFICATION.items()
        ),
        "",
        "| return reason | whose fault | exchange replacement ships |",
        "| --- | --- | --- |",
        *(
            f"| `{r}` | {p.fault} | {'at once' if p.exchange == 'advance' else 'after receipt'} |"
            for r, p in RETURN_REASONS.items()
        ),
        "",
        SHIPPING_POLICY,
    ]
    return "\n".join(rows) + "\n"
