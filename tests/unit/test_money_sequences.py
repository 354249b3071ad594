"""The money invariants of SPEC.md after every command of random care stories.

A story places an order in EUR, JPY or KWD, its prices tax-exclusive (US-style) or
tax-included (EU consumer prices, tax extracted per line), and then sends whatever agents, the warehouse
and the payment service might send, through the handlers and the in-memory fakes, so the
real settlement path runs. Commands the rules refuse are part of the story: they must be
`Rejected` with a code and change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any, get_args

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import BaseModel

from contracts.appeasements import OfferAppeasement
from contracts.common import Inbound
from contracts.fulfillment import (
    Backordered,
    Delivered,
    FulfillmentChanged,
    LineBackordered,
    Shipped,
    ShortPicked,
)
from contracts.orders import (
    AmendOrder,
    AuthorizationReduced,
    BalanceDue,
    CancelOrder,
    ChangeDelivery,
    CreditMemoIssued,
    OrderChanged,
    RefundRequested,
    RefundSettled,
)
from contracts.outcomes import RejectionCode
from contracts.payments import Captured, RefundConfirmed, RefundDeclined
from contracts.returns import CancelReturn, CreateReturn, DecideReturn, ExpireReturn, ReturnReceived
from services.appeasements.handlers import offer_appeasement
from services.context import Change, CommandHandler
from services.errors import Rejected
from services.money import MINOR_UNITS, ZERO, is_rounded, quantum
from services.orders import fulfillment, payments
from services.orders.handlers import amend_order, cancel_order, change_delivery
from services.orders.model import Line, Order
from services.orders.return_handlers import (
    cancel_return,
    create_return,
    decide_return,
    expire_return,
    return_received,
)
from services.orders.returns import RETURN_REASONS, VERIFICATION
from services.reference import DeliveryMethod
from tests.schemas import assert_matches_schema

from .builders import Helpdesk, ada_catalogue, total_of
from .fakes import NOW, PICKUP_LOCATIONS, TAX_TABLE, FakeReference

CURRENCIES = ("EUR", "JPY", "KWD")
SKUS = ("MUG-ADA", "MUG-ADA-XL", "MUG-TURING", "BOOK-ENGINE", "POSTER-BABBAGE", "MUG-GHOST")
CODES = frozenset(get_args(RejectionCode))

#: Delivery methods priced in every currency of the stories (the shared fakes price some in
#: EUR only).
METHODS = {
    m.code: m
    for m in (
        DeliveryMethod(
            "standard", "Standard delivery", "address",
            {"EUR": Decimal("4.95"), "JPY": Decimal("800"), "KWD": Decimal("1.500")},
        ),
        DeliveryMethod(
            "express", "Express delivery", "address",
            {"EUR": Decimal("9.95"), "JPY": Decimal("1600"), "KWD": Decimal("3.250")},
        ),
        DeliveryMethod(
            "pickup", "Click and collect", "pickup",
            {"EUR": Decimal("0"), "JPY": Decimal("0"), "KWD": Decimal("0")},
        ),
    )
}  # fmt: skip

#: Where Ada might want her order: each with a postal code of the country's shape.
ADDRESSES = {
    country: {"name": "Ada Lovelace", "line1": line1, "city": city, "postal_code": code,
              "country": country}
    for country, line1, city, code in (
        ("DE", "Unter den Linden 1", "Berlin", "10117"),
        ("FR", "12 rue de la Roquette", "Paris", "75011"),
        ("NL", "Damrak 1", "Amsterdam", "1012 LG"),
        ("GB", "1 Dean Street", "London", "W1D 3RB"),
        ("JP", "1-1 Chiyoda", "Tokyo", "100-0001"),
        ("KW", "Gulf Road 1", "Kuwait City", "13001"),
    )
}  # fmt: skip

#: A line of the order, by position (modulo the number of lines); GHOST is no line at all.
GHOST = 12
picks = st.integers(0, GHOST)
skus = st.sampled_from(SKUS)
#: A unit price in minor units (scaled to the order's currency when sent), or none.
override = st.none() | st.integers(0, 4000)

changes = st.one_of(
    st.fixed_dictionaries(
        {"action": st.just("add"), "sku": skus, "quantity": st.integers(1, 4)},
        optional={"unit_price": override},
    ),
    st.fixed_dictionaries({"action": st.just("remove"), "line_id": picks}),
    st.fixed_dictionaries(
        {"action": st.just("replace"), "line_id": picks, "sku": skus},
        optional={"quantity": st.integers(1, 4), "unit_price": override},
    ),
    st.fixed_dictionaries(
        {"action": st.just("set_quantity"), "line_id": picks, "quantity": st.integers(0, 6)}
    ),
)

#: How an agent changes the delivery: a new address, method, or pickup location, or a mix.
deliveries = st.one_of(
    st.fixed_dictionaries({"address": st.sampled_from(sorted(ADDRESSES))}),
    st.fixed_dictionaries({"method": st.sampled_from(["standard", "express", "pickup", "teleport"])}),
    st.fixed_dictionaries(
        {"method": st.sampled_from(["standard", "express"]),
         "address": st.sampled_from(sorted(ADDRESSES))}
    ),
    st.fixed_dictionaries(
        {"method": st.just("pickup"),
         "pickup_location_id": st.sampled_from([*PICKUP_LOCATIONS, "pl_narnia"])}
    ),
)  # fmt: skip


#: Why a line may be credited, by the message that changed the order.
CREDIT_REASONS = {
    # An amendment is one document: a memo deducts what went up in negative lines.
    "order.amend": {
        "line_removed",
        "quantity_reduced",
        "cheaper_replacement",
        "tax_change",
        "line_added",
        "quantity_increased",
        "dearer_replacement",
    },
    "order.cancel": {"cancellation"},
    # A new fee or destination is one document: a memo may deduct what went up.
    "order.change_delivery": {"tax_change", "shipping_change"},
    "warehouse.short_picked": {"short_pick"},
    "warehouse.backordered": {"short_pick"},
    "appeasement.offer": {"goodwill_discount"},
}
#: Returns and exchanges: units back, fees deducted, units charged again, replacements.
_RETURNS = {"return", "exchange_return", "exchange_replacement", "return_not_accepted",
            "restocking_fee", "return_shipping", "tax_change", "cancellation"}  # fmt: skip
CREDIT_REASONS |= {
    t: _RETURNS
    for t in ("return.create", "warehouse.return_received", "return.decide", "return.cancel",
              "return.expire")
}  # fmt: skip
#: Why the shipping may be credited: an amendment that empties the order credits it as a
#: shipping change.
SHIPPING_REASONS = {
    **CREDIT_REASONS,
    **{
        t: _RETURNS | {"original_shipping"} for t in CREDIT_REASONS if CREDIT_REASONS[t] is _RETURNS
    },
    "order.amend": {"shipping_change", "tax_change"},
    "order.change_delivery": {"shipping_change", "tax_change"},
}


def amounts(order: Order) -> Iterable[Decimal]:
    """Every amount the order and its ledger show."""
    priced = order.priced()
    yield from (priced.subtotal, priced.discounts, priced.shipping, priced.shipping_tax)
    yield from (priced.tax, priced.total)
    for p in priced.lines:
        yield from (p.amount, p.discount, p.net, p.tax)
    yield from (line.unit_price for line in order.lines)
    state = order.payment_state()
    yield from (state.authorized, state.captured, state.refunded, state.to_capture)
    yield from (state.balance_due, state.credit_owed)
    for invoice in order.invoices:
        yield from (invoice.total, invoice.credited)


class CareStories(RuleBasedStateMachine):
    """One order and everything that may happen to it."""

    def __init__(self) -> None:
        super().__init__()
        self.desk = Helpdesk(FakeReference(methods=METHODS))
        self.currency = "EUR"
        self.shipments: list[str] = []

    # --- helpers ---------------------------------------------------------------------------

    @property
    def order(self) -> Order:
        return self.desk.order()

    def send(
        self,
        handler: CommandHandler,
        message: type[Inbound],
        *,
        step: int = 1,
        role: str = "agent",
        **data: Any,
    ) -> Change | None:
        """Send a message; an accepted order change moves the version exactly `step` on, a
        refused one is a `Rejected` with a code and changes nothing."""
        stored, ledger = self.order, self.desk.uow.ledger
        counts = (len(ledger.invoices), len(ledger.credit_memos), len(ledger.refunds))
        refunds = list(ledger.refunds)
        try:
            change = self.desk.send(handler, message, role=role, order_id="ord_ada_1", **data)
        except Rejected as rejected:
            assert rejected.code in CODES, rejected
            assert rejected.message
            assert self.order is stored, "a refused command changed the order"
            assert self.desk.uow.ledger.refunds == refunds
            assert counts == (len(ledger.invoices), len(ledger.credit_memos), len(ledger.refunds))
            return None
        assert self.order.version == stored.version + step
        assert change.version == stored.version + step
        for event in change.events:
            assert_matches_schema(event)
        return change

    def settles(self, change: Change | None, before: Order) -> None:
        """A change that went through the pricing function: its credit memos and its events
        tell exactly what moved."""
        if change is None:
            return
        self.credits_name_what_moved(before)
        self.events_tell_what_moved(change, before)
        for event in change.events:
            assert_rounded_event(event, self.currency)

    def credits_name_what_moved(self, before: Order) -> None:
        """Each credit memo line names a line whose money moved, for a reason of the kind."""
        after, ledger = self.order, self.desk.uow.ledger
        reasons = CREDIT_REASONS[self.last_type]
        was = {p.line_id: (p.net, p.tax) for p in before.priced().lines}
        moved_money = {
            p.line_id for p in after.priced().lines if was.get(p.line_id) != (p.net, p.tax)
        }
        for memo, command in ledger.credit_memos:
            if command != self.last_command:
                continue
            for credit in memo.lines:
                if credit.line_id is None:
                    assert credit.reason in SHIPPING_REASONS[self.last_type], credit
                else:
                    assert credit.line_id in moved_money, credit
                    assert credit.reason in reasons, credit

    def events_tell_what_moved(self, change: Change, before: Order) -> None:
        """A credit_memo.issued per memo, a refund event per refund, payment.balance_due when
        more is owed, payment.authorization_reduced when less is to be captured, and
        fulfillment.changed when the warehouse must pick or send otherwise."""
        after, ledger = self.order, self.desk.uow.ledger
        kinds = [type(e) for e in change.events]
        memos = [e for e in change.events if isinstance(e, CreditMemoIssued)]
        refunds = [e for e in change.events if isinstance(e, RefundRequested | RefundSettled)]
        assert {m.credit_memo.credit_memo_id for m in memos} == {
            m.credit_memo_id for m, c in ledger.credit_memos if c == self.last_command
        }
        assert {r.refund.refund_id for r in refunds} == {
            r.refund_id for r, c in ledger.refunds if c == self.last_command
        }
        old, new = before.payment_state(), after.payment_state()
        assert (BalanceDue in kinds) == (new.balance_due > old.balance_due)
        assert (AuthorizationReduced in kinds) == (new.to_capture < old.to_capture)
        moved = after.delivery != before.delivery or {
            ln.line_id: ln.open_units for ln in after.lines if ln.open_units
        } != {ln.line_id: ln.open_units for ln in before.lines if ln.open_units}
        held = {ln.line_id for ln in after.lines if ln.hold}
        moved = moved or held != {ln.line_id for ln in before.lines if ln.hold}
        assert (FulfillmentChanged in kinds) == moved

    def pick(self, n: int) -> str:
        """A line id: mostly of a line with unshipped units, sometimes of any line (cancelled ones
        included), and for GHOST of a line the order does not have."""
        if n == GHOST:
            return "l_ghost"
        lines = self.order.lines
        live = [ln for ln in lines if ln.open_units] if n < GHOST * 2 // 3 else []
        return (live or lines)[n % len(live or lines)].line_id

    def resolved(self, edit: dict[str, Any]) -> dict[str, Any]:
        """A drawn change as an agent sends it: a line id, an amount of the order's currency."""
        edit = dict(edit)
        if "line_id" in edit:
            edit["line_id"] = self.pick(edit["line_id"])
        minor = edit.pop("unit_price", None)
        if minor is not None:
            edit["unit_price"] = str(minor * quantum(self.currency))
        return edit

    @property
    def last_command(self) -> str:
        return f"cmd_{self.desk.sent}"

    @property
    def last_type(self) -> str:
        return self.desk.last_type

    # --- the story ---------------------------------------------------------------------------

    @initialize(
        currency=st.sampled_from(CURRENCIES),
        lines=st.lists(st.tuples(skus.filter(lambda s: s != "MUG-GHOST"), st.integers(1, 5)),
                       min_size=1, max_size=4),
        country=st.sampled_from(sorted(ADDRESSES)),
        paid=st.sampled_from(["all", "none", "part"]),
        percent=st.integers(0, 100),
        spare=st.integers(0, 5000),
        tax_included=st.booleans(),
    )  # fmt: skip
    def place(
        self,
        currency: str,
        lines: list[tuple[str, int]],
        country: str,
        paid: str,
        percent: int,
        spare: int,
        tax_included: bool,
    ) -> None:
        self.currency = currency
        if tax_included:
            self.desk.uow.reference.included = frozenset({currency})
        step = quantum(currency)
        entries = ada_catalogue().entries
        priced = [
            Line(f"l{n}", sku, sku, entries[sku].prices[currency], entries[sku].tax_class, qty)
            for n, (sku, qty) in enumerate(lines, 1)
        ]
        fee = METHODS["standard"].fees[currency]
        total = total_of(
            priced, currency, country, fee, TAX_TABLE[country], tax_included=tax_included
        )
        captured = {"all": total, "none": ZERO, "part": total * percent // 100 // step * step}[paid]
        self.desk.place_ada(
            currency=currency,
            lines=[{"sku": sku, "quantity": qty} for sku, qty in lines],
            delivery={"method": "standard", "address": ADDRESSES[country]},
            payment={"authorized": str(total + spare * step), "captured": str(captured),
                     "reference": "psp_ch_4242"},
        )  # fmt: skip
        assert self.order.version == 1
        assert self.order.tax_included is tax_included
        assert self.order.priced().total == total

    @rule(
        edits=st.lists(changes, min_size=1, max_size=3),
        role=st.sampled_from(["agent", "supervisor"]),
        settle_to=st.sampled_from(["original_payment", "store_credit"]),
        preview=st.booleans(),
    )
    def amend(self, edits: list[dict[str, Any]], role: str, settle_to: str, preview: bool) -> None:
        sent = [self.resolved(e) for e in edits]
        before = self.order
        change = self.send(
            amend_order, AmendOrder, step=0 if preview else 1, role=role,
            reason="customer_request", changes=sent, settle_to=settle_to, preview=preview,
        )  # fmt: skip
        if preview:
            assert self.order is before, "a preview changed the order"
            assert change is None or change.events == []
        else:
            self.settles(change, before)
            self.one_document(change)

    def one_document(self, change: Change | None) -> None:
        """An amendment or a delivery change settles in one document: credit memos (more than one only where no
        single invoice can take the credit) or one supplementary invoice, never both, save
        when the total did not move and only the tax split did."""
        if change is None:
            return
        ledger = self.desk.uow.ledger
        memos = [m for m, command in ledger.credit_memos if command == self.last_command]
        invoices = [i for i, command in ledger.invoices if command == self.last_command]
        assert len(invoices) <= 1
        if memos and invoices:
            amended = change.events[0]
            assert isinstance(amended, OrderChanged)
            assert amended.settlement.difference == 0, (memos, invoices)

    @rule(change=deliveries, preview=st.booleans())
    def change_delivery(self, change: dict[str, str], preview: bool) -> None:
        data: dict[str, Any] = dict(change)
        if "address" in data:
            data["address"] = ADDRESSES[data["address"]]
        before = self.order
        sent = self.send(
            change_delivery, ChangeDelivery, step=0 if preview else 1,
            reason="customer_request", preview=preview, **data,
        )  # fmt: skip
        if preview:
            assert self.order is before, "a preview changed the order"
        else:
            self.settles(sent, before)
            self.one_document(sent)

    @rule(
        scope=st.sampled_from(["order", "unshipped", "lines", "lines", "lines"]),
        chosen=st.lists(st.tuples(picks, st.none() | st.integers(1, 3)), min_size=1, max_size=2),
        settle_to=st.sampled_from(["original_payment", "store_credit"]),
    )
    def cancel(self, scope: str, chosen: list[tuple[int, int | None]], settle_to: str) -> None:
        lines = [{"line_id": self.pick(n), "quantity": q} for n, q in chosen]
        before = self.order
        change = self.send(
            cancel_order, CancelOrder, reason="customer_request", scope=scope,
            lines=lines if scope == "lines" else None, settle_to=settle_to,
        )  # fmt: skip
        self.settles(change, before)

    @rule(parcel=st.dictionaries(picks, st.integers(1, 3), min_size=1, max_size=3))
    def ship(self, parcel: dict[int, int]) -> None:
        shipment_id = f"shp_{len(self.shipments) + 1}"
        lines = {self.pick(n): q for n, q in parcel.items()}
        shipped = self.send(
            fulfillment.shipped, Shipped, role="system", shipment_id=shipment_id,
            lines=[{"line_id": i, "quantity": q} for i, q in lines.items()],
            carrier="DHL", tracking_number=f"JJD{shipment_id}", warehouse="wh_leipzig",
        )  # fmt: skip
        if shipped is not None:
            self.shipments.append(shipment_id)

    @rule(n=st.integers(0, 9))
    def deliver(self, n: int) -> None:
        shipment = self.shipments[n % len(self.shipments)] if self.shipments else "shp_404"
        self.send(fulfillment.delivered, Delivered, role="system", shipment_id=shipment)

    @rule(n=picks, quantity=st.integers(1, 3))
    def short_pick(self, n: int, quantity: int) -> None:
        line_id = self.pick(n)
        sku = next((ln.sku for ln in self.order.lines if ln.line_id == line_id), "MUG-ADA")
        before = self.order
        change = self.send(
            fulfillment.short_picked, ShortPicked, role="system", line_id=line_id, sku=sku,
            quantity=quantity, warehouse="wh_leipzig",
        )  # fmt: skip
        self.settles(change, before)

    @rule(n=picks, quantity=st.integers(1, 3), days=st.integers(1, 30))
    def backorder(self, n: int, quantity: int, days: int) -> None:
        before = self.order
        change = self.send(
            fulfillment.backordered, Backordered, role="system", line_id=self.pick(n),
            quantity=quantity, expected_date=f"2026-12-{days:02}", warehouse="wh_leipzig",
        )  # fmt: skip
        if change is not None and not isinstance(change.events[0], LineBackordered):
            self.settles(change, before)

    @rule(n=st.integers(0, 9), settled=st.booleans())
    def payment_service_answers(self, n: int, settled: bool) -> None:
        refunds = self.desk.uow.ledger.refunds
        refund_id = refunds[n % len(refunds)][0].refund_id if refunds else "rf_1"
        if settled:
            self.send(payments.refund_settled, RefundConfirmed, step=0, role="system",
                      refund_id=refund_id)  # fmt: skip
        else:
            self.send(payments.refund_failed, RefundDeclined, role="system", refund_id=refund_id,
                      failure_reason="card expired")  # fmt: skip

    @rule(whole=st.booleans(), minor=st.integers(1, 5000))
    def capture(self, whole: bool, minor: int) -> None:
        due = self.order.payment_state().balance_due
        amount = due if whole and due > 0 else minor * quantum(self.currency)
        self.send(payments.captured, Captured, role="system", amount=str(amount),
                  currency=self.currency)  # fmt: skip

    @rule(
        n=picks,
        whole=st.booleans(),
        minor=st.integers(1, 5000),
        percent=st.none() | st.integers(1, 100),
        settle_to=st.sampled_from(["original_payment", "store_credit"]),
    )
    def discount(
        self, n: int, whole: bool, minor: int, percent: int | None, settle_to: str
    ) -> None:
        """A manager's goodwill discount (no limit: granted at once) on the order or a line."""
        data: dict[str, Any] = (
            {"amount": str(minor * quantum(self.currency))}
            if percent is None
            else {"percent": str(percent)}
        )
        if not whole:
            data["line_id"] = self.pick(n)
        before = self.order
        change = self.send(offer_appeasement, OfferAppeasement, role="manager", kind="discount",
                           reason="goodwill", settle_to=settle_to, **data)  # fmt: skip
        self.settles(change, before)
        if change is not None and percent is None and before.tax_included:
            # Where prices include tax, "15.00 off" lowers what the customer pays by 15.00.
            lowered = before.priced().total - self.order.priced().total
            assert lowered == minor * quantum(self.currency), (lowered, data)

    # --- returns and exchanges -------------------------------------------------------------

    def pick_shipped(self, n: int) -> str:
        """Mostly a line with units that can be returned; sometimes any line."""
        lines = self.order.lines
        back = [ln for ln in lines if self.order.returnable(ln) > 0] if n < GHOST // 2 else []
        return (back or lines)[n % len(back or lines)].line_id

    def pick_return(self, n: int, status: str) -> str:
        """Mostly a return in `status`; sometimes any; "rma_none" when there is none."""
        returns = self.order.returns
        fitting = [r for r in returns if r.status == status] if n < 7 else []
        chosen = fitting or returns
        return chosen[n % len(chosen)].return_id if chosen else "rma_none"

    @rule()
    def the_warehouse_ships_everything(self) -> None:
        """Everything open leaves in one parcel (returns need shipped units)."""
        parcel = {
            ln.line_id: ln.open_units for ln in self.order.lines if ln.open_units and not ln.hold
        }
        if not parcel:
            return
        shipment_id = f"shp_{len(self.shipments) + 1}"
        shipped = self.send(
            fulfillment.shipped, Shipped, role="system", shipment_id=shipment_id,
            lines=[{"line_id": i, "quantity": q} for i, q in parcel.items()],
            carrier="DHL", tracking_number=f"JJD{shipment_id}", warehouse="wh_leipzig",
        )  # fmt: skip
        assert shipped is not None
        self.shipments.append(shipment_id)

    @rule(
        n=picks,
        quantity=st.integers(1, 3),
        reason=st.sampled_from(sorted(RETURN_REASONS)),
        method=st.sampled_from(["carrier_label", "drop_off", "in_store"]),
        replacement=st.one_of(st.none(), skus),
        settle_to=st.sampled_from(["original_payment", "store_credit"]),
    )
    def ask_for_a_return(
        self, n: int, quantity: int, reason: str, method: str, replacement: str | None,
        settle_to: str,
    ) -> None:  # fmt: skip
        if n % 3 and not any(self.order.returnable(ln) > 0 for ln in self.order.lines):
            self.the_warehouse_ships_everything()
        before = self.order
        line_id = self.pick_shipped(n)
        data: dict[str, Any] = {
            "return_id": f"rma_{self.desk.sent + 1}", "method": method, "settle_to": settle_to,
            "lines": [{"line_id": line_id, "quantity": quantity, "reason": reason}],
        }  # fmt: skip
        if replacement:
            data["replacements"] = [{"line_id": line_id, "sku": replacement}]
        self.settles(self.send(create_return, CreateReturn, **data), before)

    @rule(
        n=st.integers(0, 9),
        conditions=st.lists(st.sampled_from(sorted(VERIFICATION)), max_size=5),
        stray=st.booleans(),
    )
    def a_parcel_arrives(self, n: int, conditions: list[str], stray: bool) -> None:
        if n % 3 and not any(r.expecting for r in self.order.returns):
            self.ask_for_a_return(n, 1, "changed_mind", "drop_off", None, "original_payment")
        before = self.order
        # A second parcel of a partly received return, too.
        return_id = self.pick_return(n, "partially_received" if n % 2 else "authorized")
        rma = next((r for r in before.returns if r.return_id == return_id), None)
        lines: list[dict[str, Any]] = []
        if rma is not None:
            for k, condition in enumerate(conditions):
                rl = rma.lines[k % len(rma.lines)]
                lines.append({"line_id": rl.line_id, "sku": rl.sku,
                              "units": [{"condition": condition, "quantity": 1}]})  # fmt: skip
        if stray:
            lines.append({"line_id": "l1", "sku": "POSTER-BABBAGE",
                          "units": [{"condition": "resellable", "quantity": 2}]})  # fmt: skip
        change = self.send(
            return_received, ReturnReceived, role="system", return_id=return_id,
            warehouse="wh_leipzig", lines=lines,
        )  # fmt: skip
        self.settles(change, before)

    @rule(n=st.integers(0, 9), outcome=st.sampled_from(["full", "restocking_fee", "none"]))
    def a_manager_decides(self, n: int, outcome: str) -> None:
        before = self.order
        return_id = self.pick_return(n, "awaiting_decision")
        rma = next((r for r in before.returns if r.return_id == return_id), None)
        waiting = [(rl.line_id, c) for rl in rma.lines for c in rl.awaiting] if rma else []
        line_id, condition = waiting[0] if waiting else ("l1", "wrong_item")
        change = self.send(
            decide_return, DecideReturn, role="manager", return_id=return_id,
            decisions=[{"line_id": line_id, "condition": condition, "outcome": outcome}],
        )  # fmt: skip
        self.settles(change, before)

    @rule(n=st.integers(0, 9), expire=st.booleans())
    def a_return_is_cancelled_or_expires(self, n: int, expire: bool) -> None:
        before = self.order
        return_id = self.pick_return(n, "partially_received" if expire and n % 2 else "authorized")
        if expire:
            change = self.send(expire_return, ExpireReturn, role="system", return_id=return_id,
                               now=NOW + timedelta(days=31))  # fmt: skip
        else:
            change = self.send(cancel_return, CancelReturn, return_id=return_id)
        self.settles(change, before)

    # --- after every step --------------------------------------------------------------------

    @invariant()
    def no_returned_unit_is_settled_twice(self) -> None:
        """Each unit a return authorised arrives (or is missing) once and settles once; an
        exchange's held difference waits only while advance-credited units are to come."""
        for rma in self.order.returns:
            for rl in rma.lines:
                settled = rl.refunded + rl.restocking_fee + rl.refused + rl.missing
                waiting = sum(rl.awaiting.values())
                assert sum(rl.received.values()) + rl.outstanding == rl.quantity, rl
                assert settled + waiting + rl.outstanding == rl.quantity, rl
                assert 0 <= rl.advance_left <= rl.credited_in_advance <= rl.quantity, rl
            assert not rma.held_refunds or any(rl.advance_left for rl in rma.lines), rma
        for line in self.order.lines:
            assert 0 <= line.returned <= line.shipped, line

    @invariant()
    def paid_minus_refunded_minus_total_is_credit_owed_minus_balance_due(self) -> None:
        order = self.order
        state, total = order.payment_state(), order.priced().total
        assert state.captured - state.refunded - total == state.credit_owed - state.balance_due
        assert state.credit_owed >= 0
        assert state.balance_due >= 0

    @invariant()
    def the_total_is_the_sum_of_its_rounded_parts_in_the_orders_price_terms(self) -> None:
        """Each line's net + tax is what it charges, tax added (exclusive) or extracted from
        the gross (included: tax = gross x rate / (1 + rate), half-up); the total is the sum."""
        order = self.order
        priced, step = order.priced(), quantum(self.currency)
        assert priced.tax_included is order.tax_included
        for p in priced.lines:
            assert p.discount <= p.amount
            if priced.tax_included:
                assert p.net + p.tax == p.charged
                exact = p.charged * p.tax_rate / (1 + p.tax_rate)
            else:
                assert p.net == p.charged
                exact = p.charged * p.tax_rate
            assert abs(p.tax - exact) <= step / 2, (p, exact)
        shipping = priced.shipping_net + priced.shipping_tax
        assert priced.total == sum((p.total for p in priced.lines), ZERO) + shipping
        assert priced.total == priced.subtotal - priced.discounts + priced.shipping + (
            ZERO if priced.tax_included else priced.tax
        )
        assert priced.tax == sum((p.tax for p in priced.lines), ZERO) + priced.shipping_tax

    @invariant()
    def every_amount_is_on_the_currency_minor_unit(self) -> None:
        order, ledger = self.order, self.desk.uow.ledger.for_order("ord_ada_1")
        documents: list[Decimal] = [r.amount for r in ledger.refunds]
        for invoice in ledger.invoices:
            documents += [invoice.net, invoice.tax]
        for memo in ledger.credit_memos:
            documents += [memo.total, *(x.net for x in memo.lines), *(x.tax for x in memo.lines)]
        wrong = [a for a in [*amounts(order), *documents] if not is_rounded(a, self.currency)]
        assert not wrong, f"amounts finer than {self.currency} allows: {wrong}"

    @invariant()
    def credits_against_an_invoice_never_exceed_it(self) -> None:
        order, ledger = self.order, self.desk.uow.ledger.for_order("ord_ada_1")
        credited = {i.invoice_id: ZERO for i in ledger.invoices}
        for memo in ledger.credit_memos:
            credited[memo.invoice_id] += memo.total
            # A netted memo deducts fees or replacements in negative lines; the memo credits.
            # A line may move only tax (net one way, tax the other: a new destination).
            assert memo.total > 0 and all(x.net or x.tax for x in memo.lines), memo
        for invoice in ledger.invoices:
            assert credited[invoice.invoice_id] <= invoice.total
        assert {i.invoice_id: (i.total, i.credited) for i in order.invoices} == {
            i.invoice_id: (i.total, credited[i.invoice_id]) for i in ledger.invoices
        }

    @invariant()
    def invoices_minus_credit_memos_is_the_current_total(self) -> None:
        ledger = self.desk.uow.ledger.for_order("ord_ada_1")
        billed = sum((i.total for i in ledger.invoices), ZERO)
        credited = sum((m.total for m in ledger.credit_memos), ZERO)
        assert billed - credited == self.order.priced().total

    @invariant()
    def refunds_never_exceed_what_was_captured(self) -> None:
        order, ledger = self.order, self.desk.uow.ledger.for_order("ord_ada_1")
        live = sum((r.amount for r in ledger.refunds if r.status != "failed"), ZERO)
        assert live == order.payment.refunded
        assert ZERO <= live <= order.payment.captured

    @invariant()
    def units_only_ship_once_and_never_more_than_ordered(self) -> None:
        for line in self.order.lines:
            assert 0 <= line.delivered <= line.shipped <= line.quantity <= line.ordered
            assert 0 <= line.backordered <= line.open_units
            assert 0 <= line.returned <= line.shipped
            assert self.order.returnable(line) >= 0

    @invariant()
    def the_order_status_follows_its_lines(self) -> None:
        order = self.order
        live = [ln for ln in order.lines if ln.quantity]
        assert (order.status == "cancelled") == (not live)


def assert_rounded_event(event: BaseModel, currency: str) -> None:
    """No amount in an event is finer than the currency's minor unit (rates are not money)."""
    for key, value in _leaves("", event.model_dump()):
        if isinstance(value, Decimal) and key != "tax_rate":
            assert is_rounded(value, currency), (type(event).__name__, key, value)


def _leaves(key: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(k, v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(key, v)
    else:
        yield key, value


CareStories.TestCase.settings = settings(max_examples=150, stateful_step_count=25, deadline=None)
test_care_stories_keep_the_money_invariants = CareStories.TestCase


def test_the_stories_are_told_in_currencies_of_zero_two_and_three_decimals() -> None:
    assert sorted(MINOR_UNITS[c] for c in CURRENCIES) == [0, 2, 3]
