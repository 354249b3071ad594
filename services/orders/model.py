"""The Order aggregate: every change to an order is a method here, returns included.

Each method enforces its rules, changes the order and records what happened as a domain
event (`Order.events`, services/orders/changes.py). A command's money change settles once
(`settle`): the settlement is a value computed from the order's prices before and after,
which the order then applies to its invoices and payment. The command ends with one
version step (`finish`). Handlers only load, call, settle and record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from contracts.common import Role
from contracts.orders import Condition, Outcome, ReturnMethod
from services.errors import (
    AlreadyCancelled,
    AlreadyExists,
    AlreadyShipped,
    Forbidden,
    Invalid,
    NotAllowedInState,
    NotFound,
    OverLimit,
    VersionConflict,
)
from services.ids import IdFactory
from services.ledger import Invoice, Refund, SettleTo
from services.money import ZERO, allocate, round_money
from services.orders import changes
from services.orders.changes import OrderEvent
from services.orders.charges import Charge
from services.orders.parts import DeliveryInfo, Edited, Line, LineState, OrderStatus, Shipment
from services.orders.returns import (
    RETURN,
    RETURN_REASONS,
    VERIFICATION,
    Arrived,
    Requested,
    Return,
    ReturnLine,
)
from services.orders.rules import EDIT_RULES, Action, allowed
from services.orders.settlement import (
    SHIPPING,
    Books,
    InvoiceRef,
    PaymentFacts,
    PaymentState,
    Reason,
    Settlement,
    payment_state,
    refund,
    settle,
)
from services.orders.told import Told, told_of
from services.policy import Policy
from services.pricing import Priced, price_order

__all__ = [
    "DeliveryInfo",
    "Edited",
    "InvoiceRef",
    "Line",
    "LineState",
    "Order",
    "OrderStatus",
    "PaymentFacts",
    "Shipment",
]


@dataclass(slots=True)
class Pending:
    """The command in progress: what the order was when it began, the open units and holds
    of the lines it touched as they were, and how its money change settles."""

    version: int
    priced: Priced
    delivery: DeliveryInfo
    to_ship: dict[str, int] = field(default_factory=dict)
    held: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, Reason] = field(default_factory=dict)
    default_reason: Reason = ("amendment", "amendment")
    net: bool = False
    settle_to: SettleTo = "original_payment"
    settlement: Settlement | None = None
    #: An exchange created in this command whose price difference is paid out only when
    #: the units it credited in advance arrive.
    holds_refund_for: Return | None = None


@dataclass(slots=True)
class Order:
    """An order after checkout."""

    order_id: str
    account_id: str
    currency: str
    status: OrderStatus
    version: int
    lines: list[Line]
    delivery: DeliveryInfo
    tax_rates: dict[str, Decimal]
    payment: PaymentFacts
    created_at: datetime
    updated_at: datetime
    invoices: list[InvoiceRef] = field(default_factory=list)
    shipments: list[Shipment] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    #: The original shipping was credited back (a whole order returned for the merchant's fault).
    shipping_refunded: bool = False
    #: The order's prices include tax (its market's setting when it was placed): unit prices,
    #: discounts, fees and shipping are what the customer pays, and tax is extracted from them.
    tax_included: bool = False
    #: What the customer was last told (None: not known, an order stored before it was kept).
    told: Told | None = None
    #: What happened to the order in this command, in order (never stored).
    events: list[OrderEvent] = field(default_factory=list, init=False, repr=False, compare=False)
    #: The command in progress, from its first change on.
    pending: Pending | None = field(default=None, init=False, repr=False, compare=False)
    #: The last result of the pricing function; every change clears it (`_changing`).
    _priced: Priced | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        account_id: str,
        currency: str,
        lines: list[Line],
        delivery: DeliveryInfo,
        tax_rates: dict[str, Decimal],
        payment: PaymentFacts,
        invoice_id: str,
        now: datetime,
        tax_included: bool = False,
    ) -> tuple[Order, Invoice]:
        """A new order, version 1, with its invoice for the full total."""
        order = cls(
            order_id, account_id, currency, "open", 1, lines, delivery, tax_rates, payment, now, now
        )
        order.tax_included = tax_included
        priced = order.priced()
        order._check_payment_covers(priced)
        invoice = Invoice(
            invoice_id, order_id, currency, priced.total - priced.tax, priced.tax, now
        )
        order.invoices.append(InvoiceRef(invoice_id, invoice.total))
        order.events.append(changes.Placed(invoice))
        return order, invoice

    def priced(self) -> Priced:
        """The order's totals, from the one pricing function (computed once per state)."""
        if self._priced is None:
            self._priced = self._price()
        return self._priced

    def _price(self) -> Priced:
        return price_order(
            self.currency,
            [*(line.as_input() for line in self.lines), *(c.as_input() for c in self.charges)],
            country=self.delivery.country,
            rates=self.tax_rates,
            shipping_fee=self.delivery.fee,
            tax_included=self.tax_included,
            # Shipping stands while a unit is ordered: a return takes it back only when the
            # return policy says so.
            charge_shipping=not self.shipping_refunded
            and any(line.quantity > 0 for line in self.lines),
        )

    def payment_state(self, priced: Priced | None = None) -> PaymentState:
        """Balance due, credit owed and what is left to capture, at the current total."""
        return payment_state((priced or self.priced()).total, self.payment)

    def tell(self, told: Told | None = None) -> None:
        """What the customer is told now, the baseline of their next e-mail: the order as it
        stands, or `told` (nothing, for an order placed without telling them)."""
        if told is None:
            told = told_of(self.lines, self.priced().total, self.payment_state())
        self.told = told

    def check_version(self, expected: int | None) -> None:
        """Refuse a command written against another version than the current one."""
        if expected is not None and expected != self.version:
            raise VersionConflict(
                f"order {self.order_id} is at version {self.version}, the command expected {expected}",
                current_version=self.version,
                expected_version=expected,
            )

    # --- lines ------------------------------------------------------------------------

    def line(self, line_id: str, field: str = "data.line_id") -> Line:
        """The line with that id, or a rejection naming the field."""
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise NotFound(f"order {self.order_id} has no line {line_id}", field=field)

    def next_line_id(self, taken: set[str] | None = None) -> str:
        """The first free `l<n>` id (not among `taken` either, for ids handed out in advance)."""
        used = {line.line_id for line in self.lines} | (taken or set())
        n = len(self.lines) + 1
        while f"l{n}" in used:
            n += 1
        return f"l{n}"

    def amend(self, edits: Sequence[LineEdit], reason: str, settle_to: SettleTo) -> None:
        """An agent's amendment: each edit in turn, as one change settled once, in one
        document (SPEC: one amendment, one credit memo or one balance change): what went down
        and what went up are netted."""
        pending = self._begin(
            default_reason=("amendment", "amendment"), settle_to=settle_to, net=True
        )
        # Shipping changes only when the last live unit goes (or the first comes back).
        pending.reasons[SHIPPING] = ("shipping_change", "shipping_change")
        done = []
        for n, edit in enumerate(edits):
            at = f"data.changes.{n}"
            if isinstance(edit, AddLine):
                made = self.add_line(self._numbered(edit.line), at)
            elif isinstance(edit, RemoveLine):
                made = self.remove_line(edit.line_id, f"{at}.line_id")
            elif isinstance(edit, ReplaceLine):
                made = self.replace_line(edit.line_id, self._numbered(edit.line), f"{at}.line_id")
            else:
                made = self.set_quantity(edit.line_id, edit.quantity, at)
            pending.reasons[made.replaces or made.line_id] = _AMEND_REASONS[made.action]
            done.append(made)
        self.events.append(changes.Amended(reason, tuple(done)))

    def _numbered(self, line: Line) -> Line:
        """A new line without an id gets the next free one, when its edit comes."""
        if not line.line_id:
            line.line_id = self.next_line_id()
        return line

    def add_line(self, line: Line, field: str = "data.changes") -> Edited:
        self._require_not_cancelled()
        self.require("add_line")
        if any(existing.line_id == line.line_id for existing in self.lines):
            raise AlreadyExists(
                f"order {self.order_id} already has a line {line.line_id}", field=field
            )
        self._append(line)
        return Edited(
            "added",
            line.line_id,
            line.sku,
            line.name,
            0,
            line.quantity,
            None,
            line.unit_price,
            line.price_override,
        )

    def remove_line(self, line_id: str, field: str = "data.changes") -> Edited:
        line = self.line(line_id, field)
        self.require("remove_line", line)
        self._require_return_arrived(line, "removed", field)
        old = line.quantity
        self._changing(line)
        line.cancelled = line.ordered
        line.clamp_backorder()
        return Edited("removed", line.line_id, line.sku, line.name, old, 0, line.unit_price)

    def replace_line(self, line_id: str, new: Line, field: str = "data.changes") -> Edited:
        old = self.line(line_id, field)
        self.require("replace_line", old)
        self._require_return_arrived(old, "replaced", field)
        if any(existing.line_id == new.line_id for existing in self.lines):
            raise AlreadyExists(
                f"order {self.order_id} already has a line {new.line_id}", field=field
            )
        quantity = old.quantity
        if new.ordered == 0:  # as many units as the replaced line has
            new.ordered = quantity
        self._changing(old)
        old.cancelled = old.ordered
        old.clamp_backorder()
        new.replaces = old.line_id
        self._append(new)
        return Edited(
            "replaced",
            new.line_id,
            new.sku,
            new.name,
            quantity,
            new.quantity,
            old.unit_price,
            new.unit_price,
            new.price_override,
            old.line_id,
        )

    def set_quantity(self, line_id: str, quantity: int, at: str = "data.changes") -> Edited:
        """Set a line's units; `at` is where the change is in the message (for the errors)."""
        line = self.line(line_id, f"{at}.line_id")
        field = f"{at}.quantity"
        old = line.quantity
        if quantity == old:
            raise Invalid(
                f"line {line_id} already has quantity {old}: nothing to change", field=field
            )
        if quantity > old:
            self.require("increase_quantity", line)
            self._changing(line)
            line.ordered += quantity - old
        else:
            self.require("reduce_quantity", line)
            self._require_return_arrived(line, "reduced", field)
            if quantity < line.shipped:
                raise NotAllowedInState(
                    f"line {line_id} ({line.sku}) has {line.shipped} unit(s) shipped: its quantity "
                    f"cannot drop below {line.shipped}; shipped units go through returns",
                    field=field,
                    line_id=line_id,
                    shipped=line.shipped,
                )
            self._changing(line)
            line.cancelled += old - quantity
            line.clamp_backorder()
        return Edited(
            "quantity_changed", line_id, line.sku, line.name, old, quantity, line.unit_price
        )

    def cancel_units(
        self, line_id: str, quantity: int | None = None, *, action: str = "cancelled",
        field: str = "data.lines",
    ) -> Edited:  # fmt: skip
        """Cancel unshipped units of a line (all of them by default)."""
        line = self.line(line_id, field)
        self.require("short_pick" if action == "short_picked" else "cancel_units", line)
        if action == "cancelled":
            self._require_return_arrived(line, "cancelled", field)
        count = line.open_units if quantity is None else quantity
        if count > line.open_units:
            raise OverLimit(
                f"line {line_id} ({line.sku}) has {line.open_units} unshipped unit(s); "
                f"{count} cannot be {action.replace('_', ' ')}",
                field=field,
                limit=line.open_units,
                line_id=line_id,
            )
        old = line.quantity
        self._changing(line)
        line.cancelled += count
        line.clamp_backorder()
        return Edited(action, line_id, line.sku, line.name, old, line.quantity, line.unit_price)

    def cancel(
        self,
        scope: Literal["order", "unshipped", "lines"],
        reason: str,
        settle_to: SettleTo,
        lines: Sequence[tuple[str, int | None]] = (),
    ) -> None:
        """Cancel every unit (nothing may have shipped), every unshipped unit, or the units
        of the lines given."""
        self._begin(default_reason=("cancellation", "cancellation"), settle_to=settle_to)
        if scope == "lines":
            edits = [
                self.cancel_units(line_id, quantity, field=f"data.lines.{n}")
                for n, (line_id, quantity) in enumerate(lines)
            ]
        else:
            self._require_not_cancelled()
            if scope == "order":
                self._require_nothing_shipped()
            edits = [
                self.cancel_units(line.line_id, field="data.scope")
                for line in self.lines
                if line.open_units > 0
            ]
            if not edits:
                raise NotAllowedInState(
                    f"order {self.order_id} has no unshipped units left to cancel",
                    order_status=self.status,
                )
        self.events.append(changes.Cancelled(reason, scope, tuple(edits)))

    def short_pick(
        self,
        line_id: str,
        quantity: int,
        *,
        sku: str | None,
        warehouse: str,
        why: Literal["short_picked", "not_backorderable"],
    ) -> None:
        """Units the warehouse cannot pick (or backorder) are cancelled and settled."""
        pending = self._begin(default_reason=("short_pick", "short_pick"))
        line = self.line(line_id)
        _check_sku(line.sku, sku)
        self.cancel_units(line_id, quantity, action="short_picked", field="data.quantity")
        rma = next((r for r in self.returns if r.return_id == line.exchange_for), None)
        if rma is not None and rma.expecting:
            # The replacement will not come: the returned units it stood for are a plain
            # return now, credited when they arrive, not before. One document, all of it for
            # the short pick: the replacement's credit less the advance credit taken back.
            self._reverse_unreplaced_advance(rma)
            pending.net = True
        pending.reasons[line_id] = ("short_pick", "short_pick")
        self.events.append(changes.ShortPicked(line_id, quantity, line.open_units, warehouse, why))

    def backorder(
        self, line_id: str, quantity: int, expected: date, *, sku: str | None, warehouse: str
    ) -> None:
        """Units of a line wait for stock until `expected`."""
        line = self.line(line_id)
        _check_sku(line.sku, sku)
        self.require("backorder", line)
        free = line.open_units - line.backordered
        if quantity > free:
            raise OverLimit(
                f"line {line_id} ({line.sku}) has {free} open unit(s) not yet backordered; "
                f"{quantity} cannot be backordered",
                field="data.quantity",
                limit=free,
            )
        self._changing(line)
        line.backordered += quantity
        line.expected_date = expected
        self.events.append(changes.Backordered(line_id, quantity, expected, warehouse))

    # --- discounts ----------------------------------------------------------------------

    def discountable(self, line_id: str | None = None) -> Decimal:
        """What a discount can still take off the line (or all lines), in the order's price
        terms: net of tax, or tax included when the order's prices include tax."""
        priced = self.priced()
        lines = [self.line(line_id)] if line_id else self.lines
        return sum((priced.line(line.line_id).charged for line in lines), ZERO)

    def discount(
        self,
        amount: Decimal,
        line_id: str | None = None,
        *,
        reason: str = "goodwill",
        reference: str | None = None,
        settle_to: SettleTo = "original_payment",
    ) -> dict[str, Decimal]:
        """Take a rounded amount (in the order's price terms) off one line, or off the order's
        lines in proportion to what each is charged (largest remainder, so the parts add up to
        the cent). Never below zero: the amount may not exceed `discountable`. Returns the
        amount each line got."""
        self._require_not_cancelled()
        room = self.discountable(line_id)
        if amount <= 0:
            raise Invalid("a discount must be more than zero", field="data.amount")
        if amount > room:
            where = f"line {line_id}" if line_id else f"order {self.order_id}"
            raise OverLimit(
                f"a discount of {amount} {self.currency} exceeds the {room} {self.currency} "
                f"({self.price_terms}) left to discount on {where}: no line or order goes below "
                "zero",
                field="data.amount",
                limit=str(room),
            )
        priced = self.priced()
        nets = {
            line.line_id: priced.line(line.line_id).charged
            for line in ([self.line(line_id)] if line_id else self.lines)
            if line.charged > 0 and priced.line(line.line_id).charged > 0
        }
        shares = allocate(amount, nets, self.currency)
        pending = self._changing(default_reason=_GOODWILL, settle_to=settle_to)
        for lid, share in shares.items():
            line = self.line(lid)
            line.discounts.append((share / line.charged, line.charged))
            pending.reasons[lid] = _GOODWILL
        self.events.append(changes.Discounted(reason, reference, line_id, amount, shares))
        return shares

    # --- fulfilment ---------------------------------------------------------------------

    def ship(self, shipment: Shipment) -> None:
        """Record a parcel: its units leave the open units of their lines."""
        if any(s.shipment_id == shipment.shipment_id for s in self.shipments):
            raise AlreadyExists(
                f"order {self.order_id} already has shipment {shipment.shipment_id}",
                field="data.shipment_id",
            )
        for n, (line_id, count) in enumerate(shipment.lines.items()):
            line = self.line(line_id, f"data.lines.{n}.line_id")
            self.require("ship", line)
            if line.hold:
                raise NotAllowedInState(
                    f"line {line_id} ({line.sku}) replaces units of return {line.exchange_for}: "
                    "it ships once that return has arrived",
                    field=f"data.lines.{n}.line_id",
                    line_id=line_id,
                    return_id=line.exchange_for,
                )
            if count > line.open_units:
                raise OverLimit(
                    f"line {line_id} ({line.sku}) has {line.open_units} unit(s) left to ship; "
                    f"the shipment says {count}",
                    field=f"data.lines.{n}.quantity",
                    limit=line.open_units,
                )
        for line_id, count in shipment.lines.items():
            line = self.line(line_id)
            self._changing(line)
            line.shipped += count
            line.clamp_backorder()
        self.shipments.append(shipment)
        self.events.append(changes.Shipped(shipment))

    def deliver(self, shipment_id: str, at: datetime) -> None:
        """A parcel reached the customer: its units are delivered."""
        shipment = next((s for s in self.shipments if s.shipment_id == shipment_id), None)
        if shipment is None:
            raise NotFound(
                f"order {self.order_id} has no shipment {shipment_id}", field="data.shipment_id"
            )
        if shipment.delivered_at is not None:
            raise NotAllowedInState(
                f"shipment {shipment_id} was delivered already ({shipment.delivered_at.isoformat()})",
                field="data.shipment_id",
            )
        self._changing()
        for line_id, count in shipment.lines.items():
            self.line(line_id).delivered += count
        shipment.delivered_at = at
        self.events.append(changes.Delivered(shipment, at))

    # --- delivery -----------------------------------------------------------------------

    def change_delivery(
        self, new: DeliveryInfo, rates: dict[str, Decimal], reason: str, settle_to: SettleTo
    ) -> None:
        """Send the order elsewhere or otherwise; the rules say until when."""
        self._require_not_cancelled()
        old = self.delivery
        if new.address is not None and new.address != old.address:
            self.require("change_address")
        if new.method != old.method:
            self.require("change_method")
        if new.pickup_location_id != old.pickup_location_id and new.pickup_location_id:
            self.require("change_pickup")
        if new.country != old.country:
            # Shipped units were taxed at their destination: it cannot move to another country.
            self.require("change_address")
        if new == old:
            raise Invalid("the delivery is already exactly that: nothing to change")
        # One change, one document: a new fee and a new destination net like an amendment.
        self._changing(
            default_reason=("shipping_change", "shipping_change"), settle_to=settle_to, net=True
        )
        self.delivery = new
        self.tax_rates = rates
        self.events.append(changes.DeliveryChanged(reason, old))

    # --- returns ------------------------------------------------------------------------

    def find_return(self, return_id: str) -> Return:
        for rma in self.returns:
            if rma.return_id == return_id:
                return rma
        raise NotFound(f"order {self.order_id} has no return {return_id}", field="data.return_id")

    def returnable(self, line: Line) -> int:
        """Shipped units not back yet and not pending in an open return."""
        back = pending = 0
        for rma in self.returns:
            for rl in rma.lines:
                if rl.line_id != line.line_id:
                    continue
                back += rl.back
                if rma.expecting:
                    pending += rl.outstanding
        return line.shipped - back - pending

    def authorize_return(
        self,
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
        if any(r.return_id == return_id for r in self.returns):
            raise AlreadyExists(
                f"order {self.order_id} already has a return {return_id}", field="data.return_id"
            )
        lines = []
        overridden = False
        for n, req in enumerate(requested):
            at = f"data.lines.{n}"
            line = self.line(req.line_id, f"{at}.line_id")
            self.require("return_units", line)
            if req.reason not in RETURN_REASONS:
                raise Invalid(
                    f"return reason '{req.reason}' is not one of {', '.join(RETURN_REASONS)}",
                    field=f"{at}.reason",
                )
            left = self.returnable(line)
            if req.quantity > left:
                raise OverLimit(
                    f"line {line.line_id} ({line.sku}) has {left} unit(s) that can be returned "
                    f"({line.shipped} shipped, {line.shipped - left} returned or pending); "
                    f"{req.quantity} asked",
                    field=f"{at}.quantity",
                    limit=left,
                )
            overridden |= self._check_window(line, at, override_window, role, why, now, policy)
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
        pending = self._changing(default_reason=RETURN, settle_to=settle_to, net=True)
        self._exchange(rma, replacements)
        if any(rl.advance_left for rl in rma.lines):
            pending.holds_refund_for = rma
        self.returns.append(rma)
        self._return_step(rma, "authorized", why or "return")
        return rma

    def receive_return(
        self,
        return_id: str,
        arrived: Sequence[Arrived],
        *,
        now: datetime,
        policy: Policy,
        label_fee: Decimal,
    ) -> Return:
        """Verify a parcel unit by unit and settle what the rules accept. Units beyond what
        was authorised, of another SKU or of a line not in the return are kept as exceptions.
        A return takes parcels until every unit authorised has come: units a parcel lacks
        (or reports `missing`) may come in the next one; only the return's end (`close_return`
        when it expires) counts them missing."""
        rma = self.find_return(return_id)
        if not rma.expecting:
            raise NotAllowedInState(
                f"return {rma.return_id} is {rma.status.replace('_', ' ')}: every unit it "
                "authorised was received already, or it is closed",
                field="data.return_id",
                status=rma.status,
            )
        self._changing(default_reason=RETURN, settle_to=rma.settle_to, net=True)
        left = {rl.line_id: rl.outstanding for rl in rma.lines}
        for unit in arrived:
            if unit.condition != "missing":  # not in this parcel: still to come
                self._take(rma, unit, left, policy)
        rma.received_at = now
        self._after_verification(rma, label_fee)
        self._release_replacements(rma)
        self._return_step(rma, "received", "return_received")
        return rma

    def decide_return(
        self,
        return_id: str,
        decisions: Sequence[tuple[str, Condition, Outcome, int | None]],
        *,
        reason: str,
        settle_to: SettleTo,
        policy: Policy,
        label_fee: Decimal,
    ) -> Return:
        """A manager's verdict on units the verification rules left to a person."""
        rma = self.find_return(return_id)
        if rma.status != "awaiting_decision":
            raise NotAllowedInState(
                f"return {rma.return_id} is {rma.status.replace('_', ' ')}: no units await a "
                "decision",
                field="data.return_id",
                status=rma.status,
            )
        self._changing(default_reason=RETURN, settle_to=settle_to, net=True)
        for n, (line_id, condition, outcome, quantity) in enumerate(decisions):
            at = f"data.decisions.{n}"
            rl = rma.line(line_id, f"{at}.line_id")
            waiting = rl.awaiting.get(condition, 0)
            count = waiting if quantity is None else quantity
            if waiting == 0 or count > waiting:
                raise OverLimit(
                    f"line {line_id} has {waiting} unit(s) in condition '{condition}' awaiting "
                    f"a decision; {count} cannot be decided",
                    field=f"{at}.quantity",
                    limit=waiting,
                )
            rl.awaiting[condition] = waiting - count
            if not rl.awaiting[condition]:
                del rl.awaiting[condition]
            self._settle_units(rma, rl, condition, outcome, count, policy)
        self._after_verification(rma, label_fee)
        self._return_step(rma, "decided", reason)
        return rma

    def close_return(
        self,
        return_id: str,
        status: Literal["cancelled", "expired"],
        reason: str,
        now: datetime,
        policy: Policy,
    ) -> Return:
        """Cancel a return nothing of which arrived, or expire one whose parcel is overdue:
        units an exchange credited in advance are charged again; replacements not shipped yet
        are cancelled (a replacement already on its way stays, and is paid for). A return
        that got part of its units expires as received: the units still to come are missing."""
        rma = self.find_return(return_id)
        if status == "expired" and rma.status != "authorized" and rma.expecting:
            return self._expire_rest(rma, reason, now, policy)
        if rma.status != "authorized":
            raise NotAllowedInState(
                f"return {rma.return_id} is {rma.status.replace('_', ' ')}: only a return "
                "nothing of which has arrived can be " + status,
                field="data.return_id",
                status=rma.status,
            )
        if status == "expired" and now < rma.return_by:
            raise NotAllowedInState(
                f"return {rma.return_id} is due by {rma.return_by.isoformat()}: it has not expired",
                field="data.return_id",
                return_by=rma.return_by.isoformat(),
            )
        self._changing(default_reason=RETURN, settle_to=rma.settle_to, net=True)
        for rl in rma.lines:
            self.line(rl.line_id).returned -= rl.advance_left
            rl.advance_left = 0
        for line in self.lines:
            if line.exchange_for == rma.return_id and line.open_units:
                self._changing(line)
                line.cancelled += line.open_units
                line.clamp_backorder()
                line.hold = False
        rma.status = status
        self._return_step(rma, status, reason)
        return rma

    def _expire_rest(self, rma: Return, reason: str, now: datetime, policy: Policy) -> Return:
        """The end of a partly received return: what no parcel brought is missing (charged
        again when an exchange credited it in advance); what came stays settled."""
        if now < rma.return_by:
            raise NotAllowedInState(
                f"return {rma.return_id} is due by {rma.return_by.isoformat()}: it has not expired",
                field="data.return_id",
                return_by=rma.return_by.isoformat(),
            )
        self._changing(default_reason=RETURN, settle_to=rma.settle_to, net=True)
        for rl in rma.lines:
            if rl.outstanding:
                count = rl.outstanding
                rl.received["missing"] = rl.received.get("missing", 0) + count
                self._changing(self.line(rl.line_id))
                self._settle_units(rma, rl, "missing", "none", count, policy)
        rma.status = "awaiting_decision" if any(rl.awaiting for rl in rma.lines) else "received"
        self._release_replacements(rma)
        self._return_step(rma, "expired", reason)
        return rma

    def _release_replacements(self, rma: Return) -> None:
        """A replacement held for its return ships once every unit it replaces has come (or
        the return's end counted the rest missing, which charges them again)."""
        for line in self.lines:
            if (
                line.exchange_for == rma.return_id
                and line.hold
                and line.replaces
                and rma.line(line.replaces, "data.return_id").outstanding == 0
            ):
                self._changing(line)
                line.hold = False

    def _return_step(self, rma: Return, step: changes.ReturnStepKind, reason: str) -> None:
        """The reasons a return step settles with, and its event."""
        pending = self._begin()
        pending.reasons.update(rma.reasons())
        for charge in self.charges:
            pending.reasons[charge.charge_id] = (charge.kind, charge.kind)
        pending.reasons[SHIPPING] = ("original_shipping", "shipping_change")
        self.events.append(changes.ReturnStep(step, rma.return_id, reason))

    def _check_window(
        self,
        line: Line,
        at: str,
        override: bool,
        role: Role,
        why: str | None,
        now: datetime,
        policy: Policy,
    ) -> bool:
        """Whether the line needed the manager's override (refused when it is missing)."""
        arrived, scanned = self._window_start(line.line_id, policy)
        if arrived is None:
            return False
        closes = arrived + timedelta(days=policy.return_window_days)
        if now <= closes:
            return False
        if not override:
            when = (
                f"was delivered on {arrived.date().isoformat()}"
                if scanned
                else f"shipped without a delivery scan, taken as delivered on "
                f"{arrived.date().isoformat()} ({policy.return_transit_days} days after shipping)"
            )
            raise NotAllowedInState(
                f"line {line.line_id} ({line.sku}) {when}: "
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

    def _window_start(self, line_id: str, policy: Policy) -> tuple[datetime | None, bool]:
        """When the line's return window starts, and whether a delivery scan says so: its
        last parcel's delivery, a parcel the carrier never scanned as delivered counting as
        delivered `return_transit_days` after it shipped. None before anything shipped."""
        starts = [
            (s.delivered_at, True)
            if s.delivered_at
            else (s.shipped_at + timedelta(days=policy.return_transit_days), False)
            for s in self.shipments
            if line_id in s.lines
        ]
        return max(starts, key=lambda start: start[0]) if starts else (None, False)

    def _exchange(self, rma: Return, replacements: Sequence[tuple[str, Line]]) -> None:
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
                self.line(rl.line_id).returned += credited
        for for_line, new in replacements:
            if any(existing.line_id == new.line_id for existing in self.lines):
                raise AlreadyExists(
                    f"order {self.order_id} already has a line {new.line_id}",
                    field="data.replacements",
                )
            new.exchange_for = rma.return_id
            new.replaces = for_line
            new.hold = not rma.advance
            self._append(new)
            rma.replacement_line_ids.append(new.line_id)

    def _reverse_unreplaced_advance(self, rma: Return) -> None:
        """Units an exchange credited in advance stand for replacement units; those short
        picked or cancelled take the advance credit of as many returned units back onto the
        charge (never units already received)."""
        for rl in rma.lines:
            replaced = sum(
                ln.quantity
                for ln in self.lines
                if ln.exchange_for == rma.return_id and ln.replaces == rl.line_id
            )
            excess = min(rl.advance_left, max(rl.credited_in_advance - replaced, 0))
            if excess:
                line = self.line(rl.line_id)
                self._changing(line)
                line.returned -= excess
                rl.advance_left -= excess
                rl.credited_in_advance -= excess

    def _take(self, rma: Return, unit: Arrived, left: dict[str, int], policy: Policy) -> None:
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
                    self._settle_units(rma, rl, unit.condition, verdict.outcome, take, policy)
            if take == unit.quantity:
                return
            unit = Arrived(unit.line_id, unit.sku, unit.condition, unit.quantity - take)
        rma.keep_exception(unit, why)

    def _settle_units(
        self, rma: Return, rl: ReturnLine, condition: str, outcome: Outcome, count: int,
        policy: Policy,
    ) -> None:  # fmt: skip
        """Take `count` units off the charge (or back onto it) as the outcome says."""
        line = self.line(rl.line_id)
        off = count if outcome != "none" else 0
        in_advance = min(count, rl.advance_left)
        rl.advance_left -= in_advance
        line.returned += off - in_advance
        if outcome == "full":
            rl.refunded += count
        elif outcome == "restocking_fee":
            rl.restocking_fee += count
            self._restocking_fee(rma, line, count, policy)
        elif condition == "missing":
            rl.missing += count
        else:
            rl.refused += count

    def _restocking_fee(self, rma: Return, line: Line, count: int, policy: Policy) -> None:
        unit_net = max(line.unit_price - line.unit_discount, Decimal(0))
        fee = round_money(unit_net * count * policy.restocking_fee_percent / 100, self.currency)
        if fee <= 0:
            return
        n = sum(1 for c in self.charges if c.reference == rma.return_id) + 1
        self.charges.append(
            Charge(
                f"#restock-{rma.return_id}-{n}",
                "restocking_fee",
                f"restocking fee {policy.restocking_fee_percent}% of {count} x {line.name}",
                fee,
                line.tax_class,
                rma.return_id,
            )
        )

    def _after_verification(self, rma: Return, label_fee: Decimal) -> None:
        """The return's status, its label cost and the original shipping, once units settled."""
        if any(rl.awaiting for rl in rma.lines):
            rma.status = "awaiting_decision"
        elif rma.outstanding:
            # Something came, more is to come; an empty parcel leaves the return as it was.
            rma.status = (
                "partially_received" if any(rl.received for rl in rma.lines) else rma.status
            )
        else:
            rma.status = "received"
        merchant = any(RETURN_REASONS[rl.reason].fault == "merchant" for rl in rma.lines)
        accepted = sum(rl.refunded + rl.restocking_fee for rl in rma.lines)
        labelled = any(
            c.kind == "return_shipping" and c.reference == rma.return_id for c in self.charges
        )
        if (
            rma.method == "carrier_label" and not merchant and not rma.exchange and not labelled
            and accepted and label_fee > 0
            and self._refunded_gross(rma) >= self._gross(label_fee, "standard")
        ):  # fmt: skip
            self.charges.append(
                Charge(
                    f"#label-{rma.return_id}",
                    "return_shipping",
                    "return label",
                    label_fee,
                    "standard",
                    rma.return_id,
                )
            )
        if merchant and not self.shipping_refunded and all(ln.charged == 0 for ln in self.lines):
            self.shipping_refunded = True

    def _refunded_gross(self, rma: Return) -> Decimal:
        """What the return gives back, tax included: its accepted units at the price paid, less
        the restocking fees charged on it (a label is deducted only from at least that much)."""
        total = Decimal(0)
        for rl in rma.lines:
            line = self.line(rl.line_id)
            unit = max(line.unit_price - line.unit_discount, Decimal(0))
            total += self._gross(unit * (rl.refunded + rl.restocking_fee), line.tax_class)
        for charge in self.charges:
            if charge.reference == rma.return_id and charge.kind == "restocking_fee":
                total -= self._gross(charge.net, charge.tax_class)
        return total

    def _gross(self, amount: Decimal, tax_class: str) -> Decimal:
        """An amount in the order's price terms, tax included (unrounded)."""
        if self.tax_included:
            return amount
        return amount * (1 + self.tax_rates.get(tax_class, Decimal(0)))

    @property
    def price_terms(self) -> str:
        """How the order's amounts are meant, for messages."""
        return "tax included" if self.tax_included else "net of tax"

    # --- money --------------------------------------------------------------------------

    def settle(self, now: datetime, ids: IdFactory) -> Settlement:
        """Price the order again and settle the difference from where the command began:
        credit memos and refunds for what went down, a supplementary invoice for what went
        up. The settlement is a value; the order applies it to its invoices and payment."""
        pending = self._begin()
        settlement = settle(
            pending.priced,
            self.priced(),
            books=self._books(),
            reasons=pending.reasons,
            default_reason=pending.default_reason,
            pairs=self._replaced_in_change(pending.priced),
            settle_to=pending.settle_to,
            now=now,
            ids=ids,
            net=pending.net,
        )
        settlement = self._hold_or_release_exchange_refunds(settlement, pending, now, ids)
        self._apply(settlement)
        moved = self.delivery != pending.delivery
        touched = [ln for ln in self.lines if ln.line_id in pending.to_ship]
        if moved or any(
            ln.open_units != pending.to_ship[ln.line_id] or ln.hold != pending.held[ln.line_id]
            for ln in touched
        ):
            self.events.append(
                changes.FulfilmentChanged(dict(pending.to_ship), dict(pending.held), moved)
            )
        return settlement

    def _hold_or_release_exchange_refunds(
        self, settlement: Settlement, pending: Pending, now: datetime, ids: IdFactory
    ) -> Settlement:
        """An exchange for something cheaper credits the returned units before they come
        back: its credit memo stands, but nothing is paid out (the difference is owed, held
        on the return) until no unit it credited in advance is still to come. Then what is
        still owed of it is paid, against the same memo; units that never came or came back
        refused have already taken their part back onto the charge."""
        payment = self.payment
        rma = pending.holds_refund_for
        if rma is not None and settlement.refunds:
            rma.held_refunds = [(r.credit_memo_id, r.amount) for r in settlement.refunds]
            return replace(
                settlement,
                refunds=(),
                after=payment_state(settlement.new_total, payment),
            )
        refunded = payment.refunded + settlement.refund_due
        made = list(settlement.refunds)
        for held in self.returns:
            if not held.held_refunds or any(rl.advance_left for rl in held.lines):
                continue
            owed = payment_state(settlement.new_total, replace(payment, refunded=refunded))
            room = min(owed.credit_owed, payment.captured - refunded)
            for memo_id, amount in held.held_refunds:
                paid = min(amount, room)
                if paid > 0:
                    made.append(refund(self._books(), memo_id, paid, held.settle_to, now, ids))
                    refunded += paid
                    room -= paid
            held.held_refunds = []
        if len(made) == len(settlement.refunds):
            return settlement
        return replace(
            settlement,
            refunds=tuple(made),
            after=payment_state(settlement.new_total, replace(payment, refunded=refunded)),
        )

    def reverse_refund(self, failed: Refund, reason: str) -> None:
        """A refund the payment service could not make: the money is owed again."""
        self._changing()
        self.payment.refunded -= failed.amount
        self.events.append(changes.RefundFailed(failed, reason))

    def retry_refund(
        self, failed: Refund, *, retried: bool, settle_to: SettleTo, now: datetime, ids: IdFactory
    ) -> Settlement:
        """Pay out again what a declined refund left owed: to the original payment, or as
        store credit. Never more than is owed, nor than was captured and not refunded."""
        if failed.status != "failed":
            raise NotAllowedInState(
                f"refund {failed.refund_id} is {failed.status}: only a failed refund is retried",
                field="data.refund_id",
                status=failed.status,
            )
        if retried:
            raise NotAllowedInState(
                f"refund {failed.refund_id} was retried already", field="data.refund_id"
            )
        state = self.payment_state()
        amount = min(failed.amount, state.credit_owed, state.captured - state.refunded)
        if amount <= 0:
            raise NotAllowedInState(
                f"nothing is owed on order {self.order_id} any more",
                credit_owed=str(state.credit_owed),
            )
        self._begin(settle_to=settle_to)
        again = refund(
            self._books(), failed.credit_memo_id, amount, settle_to, now, ids, failed.refund_id
        )
        priced = self.priced()
        settlement = Settlement(
            old_total=priced.total,
            new_total=priced.total,
            credit_memos=(),
            refunds=(again,),
            invoice=None,
            before=state,
            after=payment_state(
                priced.total, PaymentFacts(
                    self.payment.authorized, self.payment.captured,
                    self.payment.refunded + amount, self.payment.reference,
                ),
            ),
        )  # fmt: skip
        self.events.append(changes.RefundRetried(again))
        self._apply(settlement)
        return settlement

    def record_capture(self, amount: Decimal, reference: str | None = None) -> None:
        """Money the payment service captured (a balance due, say)."""
        owed = self.payment_state()
        if amount > owed.balance_due:
            raise OverLimit(
                f"capturing {amount} {self.currency} exceeds the {owed.balance_due} "
                f"{self.currency} balance due on order {self.order_id}",
                field="data.amount",
                limit=str(owed.balance_due),
            )
        self._changing()
        self.payment.captured += amount
        self.payment.authorized = max(self.payment.authorized, self.payment.captured)
        self.events.append(changes.Captured(amount, reference))

    def collect(self) -> tuple[list[OrderEvent], Pending]:
        """What happened in this command and what it began from; the order is ready for the
        next command."""
        happened = self.events
        pending = self.pending or Pending(self.version, self.priced(), self.delivery)
        self.events, self.pending = [], None
        return happened, pending

    def finish(self, now: datetime) -> None:
        """One version step for the whole command; the status follows the lines."""
        self.refresh_status()
        # The version is no input of the pricing function: the last pricing stays valid.
        self.version += 1
        self.updated_at = now

    def refresh_status(self) -> None:
        live = [line for line in self.lines if line.quantity > 0]
        if not live:
            self.status = "cancelled"
        elif all(line.delivered >= line.quantity for line in live):
            self.status = "delivered"
        elif all(line.shipped >= line.quantity for line in live):
            self.status = "shipped"
        elif any(line.shipped for line in self.lines):
            self.status = "partially_shipped"
        else:
            self.status = "open"

    def _books(self) -> Books:
        names = {line.line_id: line.name for line in self.lines}
        names.update({c.charge_id: c.description for c in self.charges})
        return Books(self.order_id, self.currency, tuple(self.invoices), self.payment, names)

    def _apply(self, settlement: Settlement) -> None:
        """Count a settlement's documents on the order: the new invoice, what each credit
        memo credited against its invoice, the money refunded."""
        pending = self._begin()
        pending.settlement = settlement
        if settlement.invoice is not None:
            self.invoices.append(
                InvoiceRef(settlement.invoice.invoice_id, settlement.invoice.total)
            )
        for memo in settlement.credit_memos:
            invoice = next(i for i in self.invoices if i.invoice_id == memo.invoice_id)
            invoice.credited += memo.total
        for made in settlement.refunds:
            self.payment.refunded += made.amount
        self.events.append(changes.Settled(settlement))

    def _replaced_in_change(self, before: Priced) -> dict[str, str]:
        """Each line added by this change as a replacement, with the line it replaces that
        existed before it (following a chain of replacements made within the change). Lines
        replaced by earlier changes settle as themselves."""
        existed = {p.line_id for p in before.lines}
        replaces = {line.line_id: line.replaces for line in self.lines if line.replaces}
        pairs = {}
        for new_id, replaced in replaces.items():
            if new_id in existed:
                continue
            root = replaced
            while root not in existed and root in replaces:
                root = replaces[root]
            pairs[new_id] = root
        return pairs

    # --- the command in progress ----------------------------------------------------------

    def _begin(
        self,
        *,
        default_reason: Reason | None = None,
        settle_to: SettleTo | None = None,
        net: bool | None = None,
    ) -> Pending:
        """The command's record, begun on its first call (the order as it is then), with how
        its money change settles."""
        pending = self.pending
        if pending is None:
            pending = self.pending = Pending(self.version, self.priced(), self.delivery)
        if default_reason is not None:
            pending.default_reason = default_reason
        if settle_to is not None:
            pending.settle_to = settle_to
        if net is not None:
            pending.net = net
        return pending

    def _changing(self, *lines: Line, **how: Any) -> Pending:
        """Called before every change: keeps the open units and hold of each line about to
        change as they were, and clears the cached price (`how`: as `_begin`)."""
        pending = self._begin(**how)
        for line in lines:
            pending.to_ship.setdefault(line.line_id, line.open_units)
            pending.held.setdefault(line.line_id, line.hold)
        self._priced = None
        return pending

    def _append(self, line: Line) -> None:
        """A new line: it had nothing to ship and no hold before this command."""
        pending = self._changing()
        pending.to_ship.setdefault(line.line_id, 0)
        pending.held.setdefault(line.line_id, False)
        self.lines.append(line)

    # --- rules ------------------------------------------------------------------------------

    def require(self, action: Action, line: Line | None = None) -> None:
        """Refuse, naming the unit at fault, an action the edit rules table does not allow."""
        rule = EDIT_RULES[action]
        line_state = line.state if line is not None else None
        if allowed(action, self.status, line_state):
            return
        details: dict[str, object] = {
            "action": action,
            "order_status": self.status,
            "rule": rule.why,
        }
        if line is not None and rule.line_states is not None and line_state not in rule.line_states:
            details |= {"line_id": line.line_id, "line_state": line_state, "shipped": line.shipped}
            what = f"line {line.line_id} ({line.sku}) is {line.state.replace('_', ' ')}"
            if line.shipped:
                what += f": {line.shipped} of {line.quantity} unit(s) shipped"
            raise NotAllowedInState(
                f"{action.replace('_', ' ')} refused: {what}; {rule.why}", **details
            )
        shipped = [ln for ln in self.lines if ln.shipped]
        what = f"order {self.order_id} is {self.status.replace('_', ' ')}"
        if shipped:
            first = shipped[0]
            what += f" (line {first.line_id} ({first.sku}) has {first.shipped} unit(s) shipped)"
            details |= {"line_id": first.line_id, "shipped": first.shipped}
        raise NotAllowedInState(
            f"{action.replace('_', ' ')} refused: {what}; {rule.why}", **details
        )

    def _check_payment_covers(self, priced: Priced) -> None:
        if self.payment.authorized < priced.total:
            raise Invalid(
                f"authorized {self.payment.authorized} {self.currency} does not cover the order "
                f"total {priced.total} {self.currency}",
                field="data.payment.authorized",
                total=str(priced.total),
            )
        if self.payment.captured > priced.total:
            raise Invalid(
                f"captured {self.payment.captured} {self.currency} exceeds the order total "
                f"{priced.total} {self.currency}",
                field="data.payment.captured",
                total=str(priced.total),
            )

    def _require_return_arrived(self, line: Line, what: str, field: str) -> None:
        """An exchange's replacement stands while its return is outstanding: the returned
        units were credited against it, and taking it off would pay that credit out before
        anything came back. Cancelling the return undoes both."""
        pending = next(
            (r for r in self.returns if r.return_id == line.exchange_for and r.expecting),
            None,
        )
        if pending is not None:
            raise NotAllowedInState(
                f"line {line.line_id} ({line.sku}) replaces units of return {pending.return_id}, "
                f"which has not arrived: it cannot be {what}; cancel the return instead",
                field=field,
                line_id=line.line_id,
                return_id=pending.return_id,
            )

    def _require_not_cancelled(self) -> None:
        if self.status == "cancelled":
            raise AlreadyCancelled(
                f"order {self.order_id} is already cancelled", status=self.status
            )

    def _require_nothing_shipped(self) -> None:
        for line in self.lines:
            if line.shipped:
                raise AlreadyShipped(
                    f"line {line.line_id} ({line.sku}) has {line.shipped} shipped unit(s); "
                    "shipped units go through returns",
                    line_id=line.line_id,
                    shipped=line.shipped,
                )


# --- an amendment's edits, as the aggregate takes them ----------------------------------------


@dataclass(frozen=True, slots=True)
class AddLine:
    """A new line, priced (an empty `line_id`: the next free id when the edit comes)."""

    line: Line


@dataclass(frozen=True, slots=True)
class RemoveLine:
    line_id: str


@dataclass(frozen=True, slots=True)
class ReplaceLine:
    """The line, by a new one (`ordered` 0: as many units as the replaced line has then)."""

    line_id: str
    line: Line


@dataclass(frozen=True, slots=True)
class SetQuantity:
    line_id: str
    quantity: int


LineEdit = AddLine | RemoveLine | ReplaceLine | SetQuantity

_AMEND_REASONS: dict[str, Reason] = {
    "added": ("line_added", "line_added"),
    "removed": ("line_removed", "line_removed"),
    "replaced": ("cheaper_replacement", "dearer_replacement"),
    "quantity_changed": ("quantity_reduced", "quantity_increased"),
}

#: A goodwill discount's credit reason.
_GOODWILL: Reason = ("goodwill_discount", "goodwill_discount")


def _check_sku(expected: str, reported: str | None) -> None:
    if reported is not None and reported != expected:
        raise Invalid(
            f"the line holds SKU {expected}, the warehouse reported {reported}", field="data.sku"
        )
