"""The Order aggregate. Methods enforce the rules and return what the handler must record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from services.errors import (
    AlreadyCancelled,
    AlreadyExists,
    AlreadyShipped,
    Invalid,
    NotAllowedInState,
    NotFound,
    OverLimit,
    VersionConflict,
)
from services.ids import IdFactory
from services.ledger import CreditMemo, Invoice, Refund, SettleTo
from services.money import ZERO, allocate
from services.orders.charges import Charge
from services.orders.returns import Return
from services.orders.rules import require
from services.orders.settlement import PaymentState, Reason, Settlement, payment_state, settle
from services.pricing import LineInput, Priced, price_order

OrderStatus = Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]
LineState = Literal["open", "partially_shipped", "shipped", "delivered", "cancelled"]


@dataclass(slots=True)
class Line:
    """An order line. Units only count up: `ordered` grows when an agent adds units,
    `cancelled` when units are taken off, `shipped` and `delivered` as the warehouse reports."""

    line_id: str
    sku: str
    name: str
    unit_price: Decimal
    tax_class: str
    ordered: int
    cancelled: int = 0
    shipped: int = 0
    delivered: int = 0
    backordered: int = 0
    expected_date: date | None = None
    replaces: str | None = None
    price_override: bool = False
    #: Discounts granted, each as (per unit, net of tax and kept exact, the units it was
    #: granted on): an amount spread over three units is a third each. A grant covers at most
    #: its units, so units added later get none, and units taken off take their share along.
    discounts: list[tuple[Decimal, int]] = field(default_factory=list)
    #: Shipped units taken back off the charge: returned and accepted, or credited in
    #: advance for an exchange.
    returned: int = 0
    #: The return this line replaces units of (an exchange), and whether it waits for that
    #: return to arrive before it ships.
    exchange_for: str | None = None
    hold: bool = False

    @property
    def quantity(self) -> int:
        """Units still ordered."""
        return self.ordered - self.cancelled

    @property
    def charged(self) -> int:
        """Units the customer pays for: ordered, not cancelled, not taken back."""
        return self.quantity - self.returned

    @property
    def open_units(self) -> int:
        """Units ordered and not shipped yet: the only ones a change may touch."""
        return self.quantity - self.shipped

    @property
    def state(self) -> LineState:
        if self.quantity == 0:
            return "cancelled"
        if self.delivered >= self.quantity:
            return "delivered"
        if self.shipped >= self.quantity:
            return "shipped"
        return "partially_shipped" if self.shipped else "open"

    def as_input(self) -> LineInput:
        return LineInput(
            self.line_id,
            self.charged,
            self.unit_price,
            self.tax_class,
            self.discount_for(self.charged),
        )

    def discount_for(self, units: int) -> Decimal:
        """The discount of `units` charged units (the pricing function rounds it)."""
        return sum((each * min(units, covered) for each, covered in self.discounts), ZERO)

    @property
    def unit_discount(self) -> Decimal:
        """The discount of one discounted unit."""
        return sum((each for each, _ in self.discounts), ZERO)

    def clamp_backorder(self) -> None:
        """Backordered units are open units: never more than are left."""
        self.backordered = min(self.backordered, self.open_units)
        if self.backordered == 0:
            self.expected_date = None


@dataclass(frozen=True, slots=True)
class Edited:
    """What one change did to one line (events and audit show it)."""

    action: str
    line_id: str
    sku: str
    name: str
    old_quantity: int
    new_quantity: int
    old_unit_price: Decimal | None = None
    new_unit_price: Decimal | None = None
    price_override: bool = False
    replaces: str | None = None


@dataclass(slots=True)
class Shipment:
    """A parcel the warehouse dispatched: units per line, carrier and tracking."""

    shipment_id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None
    lines: dict[str, int]
    shipped_at: datetime
    delivered_at: datetime | None = None


@dataclass(slots=True)
class DeliveryInfo:
    """Where the order goes, the method, and the fee that method charged."""

    method: str
    country: str
    fee: Decimal
    address: dict[str, str | None] | None = None
    pickup_location_id: str | None = None


@dataclass(slots=True)
class PaymentFacts:
    """What the payment service reported: authorised and captured; what was refunded."""

    authorized: Decimal
    captured: Decimal
    refunded: Decimal = ZERO
    reference: str | None = None


@dataclass(slots=True)
class InvoiceRef:
    """An invoice of the order and how much of it has been credited."""

    invoice_id: str
    total: Decimal
    credited: Decimal = ZERO

    @property
    def open(self) -> Decimal:
        return self.total - self.credited


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
    #: The last result of the pricing function; every method that changes money clears it.
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
    ) -> tuple[Order, Invoice]:
        """A new order, version 1, with its invoice for the full total."""
        order = cls(
            order_id, account_id, currency, "open", 1, lines, delivery, tax_rates, payment, now, now
        )
        priced = order.priced()
        order._check_payment_covers(priced)
        invoice = Invoice(
            invoice_id, order_id, currency, priced.total - priced.tax, priced.tax, now
        )
        order.invoices.append(InvoiceRef(invoice_id, invoice.total))
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
            # Shipping stands while a unit is ordered: a return takes it back only when the
            # return policy says so.
            charge_shipping=not self.shipping_refunded
            and any(line.quantity > 0 for line in self.lines),
        )

    def payment_state(self, priced: Priced | None = None) -> PaymentState:
        """Balance due, credit owed and what is left to capture, at the current total."""
        return payment_state((priced or self.priced()).total, self.payment)

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

    def next_line_id(self) -> str:
        taken = {line.line_id for line in self.lines}
        n = len(self.lines) + 1
        while f"l{n}" in taken:
            n += 1
        return f"l{n}"

    def add_line(self, line: Line, field: str = "data.changes") -> Edited:
        self._require_not_cancelled()
        require("add_line", self)
        if any(existing.line_id == line.line_id for existing in self.lines):
            raise AlreadyExists(
                f"order {self.order_id} already has a line {line.line_id}", field=field
            )
        self.lines.append(line)
        self._changed()
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
        require("remove_line", self, line)
        self._require_return_arrived(line, "removed", field)
        old = line.quantity
        line.cancelled = line.ordered
        line.clamp_backorder()
        self._changed()
        return Edited("removed", line.line_id, line.sku, line.name, old, 0, line.unit_price)

    def replace_line(self, line_id: str, new: Line, field: str = "data.changes") -> Edited:
        old = self.line(line_id, field)
        require("replace_line", self, old)
        self._require_return_arrived(old, "replaced", field)
        if any(existing.line_id == new.line_id for existing in self.lines):
            raise AlreadyExists(
                f"order {self.order_id} already has a line {new.line_id}", field=field
            )
        quantity = old.quantity
        old.cancelled = old.ordered
        old.clamp_backorder()
        new.replaces = old.line_id
        self.lines.append(new)
        self._changed()
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
            require("increase_quantity", self, line)
            line.ordered += quantity - old
        else:
            require("reduce_quantity", self, line)
            self._require_return_arrived(line, "reduced", field)
            if quantity < line.shipped:
                raise NotAllowedInState(
                    f"line {line_id} ({line.sku}) has {line.shipped} unit(s) shipped: its quantity "
                    f"cannot drop below {line.shipped}; shipped units go through returns",
                    field=field,
                    line_id=line_id,
                    shipped=line.shipped,
                )
            line.cancelled += old - quantity
            line.clamp_backorder()
        self._changed()
        return Edited(
            "quantity_changed", line_id, line.sku, line.name, old, quantity, line.unit_price
        )

    def cancel_units(
        self, line_id: str, quantity: int | None = None, *, action: str = "cancelled",
        field: str = "data.lines",
    ) -> Edited:  # fmt: skip
        """Cancel unshipped units of a line (all of them by default)."""
        line = self.line(line_id, field)
        require("short_pick" if action == "short_picked" else "cancel_units", self, line)
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
        line.cancelled += count
        line.clamp_backorder()
        self._changed()
        return Edited(action, line_id, line.sku, line.name, old, line.quantity, line.unit_price)

    def cancel(self, scope: Literal["order", "unshipped"]) -> list[Edited]:
        """Cancel every unit (nothing may have shipped) or every unshipped unit."""
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
        return edits

    def backorder(self, line_id: str, quantity: int, expected: date) -> Line:
        """Units of a line wait for stock until `expected`."""
        line = self.line(line_id)
        require("backorder", self, line)
        free = line.open_units - line.backordered
        if quantity > free:
            raise OverLimit(
                f"line {line_id} ({line.sku}) has {free} open unit(s) not yet backordered; "
                f"{quantity} cannot be backordered",
                field="data.quantity",
                limit=free,
            )
        line.backordered += quantity
        line.expected_date = expected
        self._changed()
        return line

    # --- discounts ----------------------------------------------------------------------

    def discountable(self, line_id: str | None = None) -> Decimal:
        """What a discount can still take off, net of tax: the line's (or all lines') net."""
        priced = self.priced()
        lines = [self.line(line_id)] if line_id else self.lines
        return sum((priced.line(line.line_id).net for line in lines), ZERO)

    def discount(self, amount: Decimal, line_id: str | None = None) -> dict[str, Decimal]:
        """Take a rounded net amount off one line, or off the order's lines in proportion to
        their net (largest remainder, so the parts add up to the cent). Never below zero: the
        amount may not exceed `discountable`. Returns the amount each line got."""
        self._require_not_cancelled()
        room = self.discountable(line_id)
        if amount <= 0:
            raise Invalid("a discount must be more than zero", field="data.amount")
        if amount > room:
            where = f"line {line_id}" if line_id else f"order {self.order_id}"
            raise OverLimit(
                f"a discount of {amount} {self.currency} exceeds the {room} {self.currency} "
                f"(net of tax) left to discount on {where}: no line or order goes below zero",
                field="data.amount",
                limit=str(room),
            )
        priced = self.priced()
        nets = {
            line.line_id: priced.line(line.line_id).net
            for line in ([self.line(line_id)] if line_id else self.lines)
            if line.charged > 0 and priced.line(line.line_id).net > 0
        }
        shares = allocate(amount, nets, self.currency)
        for lid, share in shares.items():
            line = self.line(lid)
            line.discounts.append((share / line.charged, line.charged))
        self._changed()
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
            require("ship", self, line)
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
            line.shipped += count
            line.clamp_backorder()
        self.shipments.append(shipment)
        self._changed()

    def deliver(self, shipment_id: str, at: datetime) -> Shipment:
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
        for line_id, count in shipment.lines.items():
            self.line(line_id).delivered += count
        shipment.delivered_at = at
        self._changed()
        return shipment

    # --- delivery -----------------------------------------------------------------------

    def change_delivery(self, new: DeliveryInfo, rates: dict[str, Decimal]) -> None:
        """Send the order elsewhere or otherwise; the rules say until when."""
        self._require_not_cancelled()
        old = self.delivery
        if new.address is not None and new.address != old.address:
            require("change_address", self)
        if new.method != old.method:
            require("change_method", self)
        if new.pickup_location_id != old.pickup_location_id and new.pickup_location_id:
            require("change_pickup", self)
        if new.country != old.country:
            # Shipped units were taxed at their destination: it cannot move to another country.
            require("change_address", self)
        if new == old:
            raise Invalid("the delivery is already exactly that: nothing to change")
        self.delivery = new
        self.tax_rates = rates
        self._changed()

    # --- money --------------------------------------------------------------------------

    def settle(
        self,
        before: Priced,
        *,
        reasons: Mapping[str, Reason],
        default_reason: Reason,
        settle_to: SettleTo,
        now: datetime,
        ids: IdFactory,
        net: bool = False,
    ) -> Settlement:
        """Price the order again and settle the difference from `before`: credit memos and
        refunds for what went down, a supplementary invoice for what went up."""
        pairs = self._replaced_in_change(before)
        return settle(
            self,
            before,
            self.priced(),
            reasons=reasons,
            default_reason=default_reason,
            pairs=pairs,
            settle_to=settle_to,
            now=now,
            ids=ids,
            net=net,
        )

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

    def finish(self, now: datetime) -> None:
        """One version step for the whole change; the status follows the lines."""
        self.refresh_status()
        self._bump(now)

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

    def record_invoice(self, invoice: Invoice) -> None:
        self.invoices.append(InvoiceRef(invoice.invoice_id, invoice.total))

    def record_credit(self, memo: CreditMemo) -> None:
        """Count a credit memo against its invoice."""
        invoice = next(i for i in self.invoices if i.invoice_id == memo.invoice_id)
        invoice.credited += memo.total

    def record_refund(self, refund: Refund) -> None:
        """Count money returned to the customer."""
        self.payment.refunded += refund.amount

    def reverse_refund(self, refund: Refund) -> None:
        """A refund the payment service could not make: the money is owed again."""
        self.payment.refunded -= refund.amount

    def record_capture(self, amount: Decimal) -> None:
        """Money the payment service captured (a balance due, say)."""
        owed = self.payment_state()
        if amount > owed.balance_due:
            raise OverLimit(
                f"capturing {amount} {self.currency} exceeds the {owed.balance_due} "
                f"{self.currency} balance due on order {self.order_id}",
                field="data.amount",
                limit=str(owed.balance_due),
            )
        self.payment.captured += amount
        self.payment.authorized = max(self.payment.authorized, self.payment.captured)

    def touched(self) -> None:
        """Something the pricing function reads changed (for code beside the aggregate)."""
        self._changed()

    def _changed(self) -> None:
        self._priced = None

    def _bump(self, now: datetime) -> None:
        # The version is no input of the pricing function: the last pricing stays valid.
        self.version += 1
        self.updated_at = now

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
            (
                r
                for r in self.returns
                if r.return_id == line.exchange_for and r.status == "authorized"
            ),
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
