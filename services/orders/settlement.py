"""Settling a change of an order's total: the credit memo, the refund, the capture left.

Invariant (SPEC.md, Money): captured - refunded - total = credit_owed - balance_due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from services.errors import OverLimit
from services.ids import IdFactory
from services.ledger import CreditLine, CreditMemo, Invoice, Refund, RefundStatus, SettleTo
from services.money import ZERO, round_money
from services.pricing import Priced

#: The key of the shipping component of a change: no line id can take it (ids start with a
#: letter or a digit).
SHIPPING = "#shipping"

#: The reason code of a component: (when it went down, when it went up).
Reason = tuple[str, str]

#: A document line with the key of the component it comes from (a line id, a charge id or
#: SHIPPING): two fees may share a description, never a key.
Keyed = tuple[str, CreditLine]


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


@dataclass(frozen=True, slots=True)
class Books:
    """What a settlement reads of an order: its id and currency, its invoices and payment
    as they stand, and its lines' and charges' names (for the memo lines)."""

    order_id: str
    currency: str
    invoices: tuple[InvoiceRef, ...]
    payment: PaymentFacts
    names: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PaymentState:
    """Derived money position of an order."""

    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    to_capture: Decimal
    balance_due: Decimal
    credit_owed: Decimal


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a change of the total settled: credit memos and refunds for what went down, a
    supplementary invoice for what went up, and the payment position before and after."""

    old_total: Decimal
    new_total: Decimal
    credit_memos: tuple[CreditMemo, ...]
    refunds: tuple[Refund, ...]
    invoice: Invoice | None
    before: PaymentState
    after: PaymentState

    @property
    def difference(self) -> Decimal:
        return self.new_total - self.old_total

    @property
    def refund_due(self) -> Decimal:
        return sum((r.amount for r in self.refunds), ZERO)

    @property
    def authorization_released(self) -> Decimal:
        return max(self.before.to_capture - self.after.to_capture, ZERO)

    @property
    def balance_due_raised(self) -> bool:
        return self.after.balance_due > self.before.balance_due


def payment_state(order_total: Decimal, payment: PaymentFacts) -> PaymentState:
    """Balance due and credit owed from the facts; remaining authorisation covers the balance."""
    difference = payment.captured - payment.refunded - order_total
    balance_due = max(-difference, ZERO)
    return PaymentState(
        authorized=payment.authorized,
        captured=payment.captured,
        refunded=payment.refunded,
        to_capture=min(balance_due, max(payment.authorized - payment.captured, ZERO)),
        balance_due=balance_due,
        credit_owed=max(difference, ZERO),
    )


def components(
    before: Priced,
    after: Priced,
    *,
    reasons: Mapping[str, Reason],
    default_reason: Reason,
    pairs: Mapping[str, str],
    names: Mapping[str, str],
) -> tuple[list[Keyed], list[Keyed]]:
    """What went down (credits) and what went up (debits), one line per order line and one
    for shipping. A replacement line is compared with the line it replaced. A line whose only
    change is tax (a new destination) is a `tax_change`."""
    old: dict[str, tuple[Decimal, Decimal]] = {}
    new: dict[str, tuple[Decimal, Decimal]] = {}
    for priced, into in ((before, old), (after, new)):
        for p in priced.lines:
            key = pairs.get(p.line_id, p.line_id)
            net, tax = into.get(key, (ZERO, ZERO))
            into[key] = (net + p.net, tax + p.tax)
        into[SHIPPING] = (priced.shipping_net, priced.shipping_tax)
    credits: list[Keyed] = []
    debits: list[Keyed] = []
    for key in dict.fromkeys([*old, *new]):
        old_net, old_tax = old.get(key, (ZERO, ZERO))
        new_net, new_tax = new.get(key, (ZERO, ZERO))
        d_net, d_tax = new_net - old_net, new_tax - old_tax
        # Shipping and the order's charges (fees) are no lines: their keys start with '#'.
        line_id = None if key.startswith("#") else key
        down, up = reasons.get(key, default_reason)
        # Only the tax moved when the amount in the order's price terms stayed: the net
        # (prices net of tax) or the net plus tax (prices that include tax: a new destination
        # shifts the same gross between net and tax).
        tax_only = (d_net + d_tax if after.tax_included else d_net) == 0
        # What went down is credited and what went up invoiced, net and tax each in its own
        # direction (a cheaper replacement at a higher tax rate: net credited, tax invoiced).
        for net, tax, reason, side in (
            (max(-d_net, ZERO), max(-d_tax, ZERO), down, credits),
            (max(d_net, ZERO), max(d_tax, ZERO), up, debits),
        ):
            if net or tax:
                why = "tax_change" if tax_only else reason
                side.append((key, CreditLine(why, names.get(key, key), net, tax, line_id)))
    return credits, debits


def settle(
    before: Priced,
    after: Priced,
    *,
    books: Books,
    reasons: Mapping[str, Reason],
    default_reason: Reason,
    pairs: Mapping[str, str],
    settle_to: SettleTo,
    now: datetime,
    ids: IdFactory,
    net: bool = False,
) -> Settlement:
    """The money documents of a change from `before` to `after`, as a value the order then
    applies: credit memos and refunds for what went down, a supplementary invoice for what
    went up. With `net`, what went down and what went up net into one document: a credit
    memo that deducts the increases, or an invoice that deducts the decreases (a return with
    a restocking fee, an exchange for a dearer size)."""
    payment = books.payment
    names = dict(books.names)
    for new_id, old_id in pairs.items():
        names[old_id] = f"{names[old_id]} -> {names[new_id]}"
    names[SHIPPING] = "shipping"
    keyed_credits, keyed_debits = components(
        before, after, reasons=reasons, default_reason=default_reason, pairs=pairs, names=names
    )
    if net and keyed_credits and keyed_debits:
        keyed_credits, keyed_debits = _net(keyed_credits, keyed_debits)
    credits = [line for _key, line in keyed_credits]
    debits = [line for _key, line in keyed_debits]
    invoices = list(books.invoices)
    invoice = None
    if debits:
        invoice = Invoice(
            ids("inv"),
            books.order_id,
            books.currency,
            sum((d.net for d in debits), ZERO),
            sum((d.tax for d in debits), ZERO),
            now,
            tuple(debits),
        )
        invoices.append(InvoiceRef(invoice.invoice_id, invoice.total))
    memos = _issue_memos(books, invoices, credits, settle_to, now, ids) if credits else []
    refunds = []
    refunded = payment.refunded
    owed = payment_state(after.total, payment).credit_owed
    for memo in memos:
        amount = min(owed, memo.total, payment.captured - refunded)
        if amount <= 0:
            break
        refunds.append(refund(books, memo.credit_memo_id, amount, settle_to, now, ids))
        refunded += amount
        owed -= amount
    return Settlement(
        old_total=before.total,
        new_total=after.total,
        credit_memos=tuple(memos),
        refunds=tuple(refunds),
        invoice=invoice,
        before=payment_state(before.total, payment),
        after=payment_state(after.total, replace(payment, refunded=refunded)),
    )


def _net(credits: list[Keyed], debits: list[Keyed]) -> tuple[list[Keyed], list[Keyed]]:
    """Credits and debits as one document: the side with the larger total (net + tax) keeps
    its lines and the other side's lines are deducted from it, so a change that lowers what
    the customer pays is one credit memo and one that raises it one supplementary invoice,
    each listing every reason. Deducting a line at another tax rate can leave the document's
    net or its tax below zero while its total is above (a cheaper item at a higher rate):
    the document then corrects the tax in the other direction, line by line.

    Sides of equal net and equal tax cancel out (nothing to document). Sides of equal total
    and a different split (a same-priced item at another tax rate) have no direction to
    take: they stay a credit memo and an invoice, the one case of two documents."""
    c_net = sum((c.net for _k, c in credits), ZERO)
    c_tax = sum((c.tax for _k, c in credits), ZERO)
    d_net = sum((d.net for _k, d in debits), ZERO)
    d_tax = sum((d.tax for _k, d in debits), ZERO)
    if (c_net, c_tax) == (d_net, d_tax):
        return [], []
    if c_net + c_tax > d_net + d_tax:
        return _merged(credits, debits), []
    if d_net + d_tax > c_net + c_tax:
        return [], _merged(debits, credits)
    return credits, debits


def _merged(kept: list[Keyed], deducted: list[Keyed]) -> list[Keyed]:
    """The kept side's lines less the other side's, one line per component (order line,
    fee or shipping): a line whose net went one way and tax the other (a cheaper item at a
    higher rate) is one line of the document, with its own reason."""
    lines = dict(kept)
    for key, x in deducted:
        same = lines.get(key)
        lines[key] = (
            replace(same, net=same.net - x.net, tax=same.tax - x.tax)
            if same
            else replace(x, net=-x.net, tax=-x.tax)
        )
    return list(lines.items())


def _issue_memos(
    books: Books,
    invoices: Sequence[InvoiceRef],
    lines: list[CreditLine],
    settle_to: SettleTo,
    now: datetime,
    ids: IdFactory,
) -> list[CreditMemo]:
    """One memo against the oldest invoice that can take the whole credit; otherwise the
    credit is spread over the invoices, oldest first, so none is credited above its total."""
    amount = sum((line.net + line.tax for line in lines), ZERO)
    whole = next((i for i in invoices if i.open >= amount), None)
    allocation = (
        {whole.invoice_id: lines} if whole else _spread(invoices, books.currency, lines, amount)
    )
    return [
        CreditMemo(
            ids("cm"), books.order_id, invoice_id, books.currency, tuple(memo_lines), settle_to, now
        )
        for invoice_id, memo_lines in allocation.items()
    ]


def _spread(
    invoices: Sequence[InvoiceRef], currency: str, lines: list[CreditLine], amount: Decimal
) -> dict[str, list[CreditLine]]:
    left = sum((i.open for i in invoices), ZERO)
    if amount > left:
        raise OverLimit(
            f"a credit of {amount} {currency} exceeds the {left} {currency} "
            "left to credit on the order's invoices",
            limit=str(left),
        )
    room = {i.invoice_id: i.open for i in invoices}
    allocation: dict[str, list[CreditLine]] = {}
    # Deductions (negative lines of a netted memo) go with the oldest invoice that has room,
    # which can then take that much more of the credit.
    deductions = [line for line in lines if line.net + line.tax < 0]
    first = next(i for i, r in room.items() if r > 0)
    room[first] -= sum((d.net + d.tax for d in deductions), ZERO)
    for line in lines:
        if line in deductions:
            continue
        net, tax = line.net, line.tax
        while net + tax > 0:
            invoice_id = next(i for i, r in room.items() if r > 0)
            part = min(room[invoice_id], net + tax)
            if part == net + tax:
                piece = replace(line, net=net, tax=tax)
            else:
                part_tax = round_money(tax * part / (net + tax), currency)
                piece = replace(line, net=part - part_tax, tax=part_tax)
            allocation.setdefault(invoice_id, []).append(piece)
            room[invoice_id] -= part
            net, tax = net - piece.net, tax - piece.tax
    if deductions:
        allocation.setdefault(first, []).extend(deductions)
    return allocation


def refund(
    books: Books,
    credit_memo_id: str,
    amount: Decimal,
    settle_to: SettleTo,
    now: datetime,
    ids: IdFactory,
    retry_of: str | None = None,
) -> Refund:
    """Money back for a credit memo. Store credit is settled at once; a refund to the
    original payment waits for the payment service."""
    status: RefundStatus = "settled" if settle_to == "store_credit" else "requested"
    return Refund(
        ids("rf"),
        books.order_id,
        credit_memo_id,
        books.currency,
        amount,
        settle_to,
        status,
        now,
        retry_of=retry_of,
    )
