"""The billing-account flow: create, update, search and read an account, and its event."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from contracts.appeasements import AppeasementView
from contracts.common import (
    MIN_VERSION_FIELD,
    Address,
    Amount,
    CommandData,
    Currency,
    Identifier,
    MinimumVersion,
    Money,
    Published,
    QueryData,
    ReasonCode,
    Wire,
)
from contracts.orders import CreditMemoView, InvoiceView, RefundView

#: The customer e-mails a customer may opt out of: the notifier's kinds (notifier/kinds.py;
#: a test keeps the two equal, as contracts may not import the notifier).
NotificationKind = Literal[
    "order_confirmed",
    "order_changed",
    "order_cancelled",
    "item_short",
    "item_backordered",
    "shipped",
    "delivered",
    "refund_issued",
    "return_received",
]

#: Card brands as the payment service names them.
CardBrand = Literal[
    "visa",
    "mastercard",
    "amex",
    "discover",
    "diners",
    "jcb",
    "unionpay",
    "maestro",
    "cartes_bancaires",
    "other",
]

AccountStatus = Literal["active", "on_hold", "closed"]

#: What `billing_account.update` can change (named in `billing_account.updated`).
AccountField = Literal[
    "name",
    "email",
    "phone",
    "billing_address",
    "status",
    "locale",
    "notification_opt_outs",
    "payment_methods",
]

#: Where `billing_account.search` looks.
SearchField = Literal["name", "email", "phone", "postal_code", "order_id"]

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+?[0-9 ()./-]{4,40}$"
_LOCALE = r"^[a-z]{2,3}(-[A-Z]{2})?$"

# --- commands -------------------------------------------------------------------------


class CreateBillingAccount(CommandData):
    """Sent by the storefront import or an agent: open a billing account for a customer."""

    TYPE: ClassVar[str] = "billing_account.create"

    account_id: Identifier | None = Field(
        default=None, description="Chosen by the client; generated (acc_…) when absent."
    )
    name: str = Field(min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40, pattern=_PHONE)
    billing_address: Address | None = None
    locale: str = Field(default="en", pattern=_LOCALE)


class NewPaymentMethod(Wire):
    """A card as the payment service tokenised it: brand, last four digits, expiry and the
    token. Never the card number: a message carrying one is refused whole."""

    payment_method_id: Identifier | None = Field(
        default=None, description="Generated (pm_…) when absent."
    )
    brand: CardBrand
    last4: str = Field(pattern=r"^[0-9]{4}$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100, description="Refused when the card has expired.")
    token_ref: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{2,199}$",
        description="The payment service's token or stored-credential reference.",
        examples=["tok_1Q2w3E4r5T"],
    )


_UPDATABLE = frozenset(
    {"name", "email", "phone", "billing_address", "hold", "locale", "notification_opt_outs"}
)


class UpdateBillingAccount(CommandData):
    """Sent by an agent: change a billing account's contact, billing address, hold, locale,
    e-mail opt-outs or payment methods, as one version step. A field left out is kept; for
    email, phone and billing_address an explicit null removes the value."""

    TYPE: ClassVar[str] = "billing_account.update"

    account_id: Identifier
    name: str | None = Field(default=None, min_length=1, max_length=120)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40, pattern=_PHONE)
    billing_address: Address | None = None
    hold: bool | None = Field(
        default=None,
        description="true puts the account on hold (no new orders); false releases it.",
    )
    locale: str | None = Field(default=None, pattern=_LOCALE)
    notification_opt_outs: list[NotificationKind] | None = Field(
        default=None, max_length=20, description="Replaces the list: the e-mails not to send."
    )
    add_payment_methods: list[NewPaymentMethod] = Field(default_factory=list, max_length=10)
    remove_payment_methods: list[Identifier] = Field(
        default_factory=list, max_length=10, description="payment_method_ids to remove."
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be removed")
        for field in ("hold", "locale", "notification_opt_outs"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null; leave it out to keep it")
        changes = self.model_fields_set & _UPDATABLE
        if not changes and not self.add_payment_methods and not self.remove_payment_methods:
            raise ValueError("give at least one field to change")
        return self


class EraseBillingAccount(CommandData):
    """Sent by a care manager to honour a customer's request to erase their personal data:
    the account's name, e-mail, phone and billing address, and every delivery address of its
    orders, are replaced by a pseudonym wherever OrderCare stores them (the account, the
    orders, kept command bodies and outcomes, customer e-mails, dead letters, the audit log's
    before and after values). Amounts, invoices, credit memos, refunds, store credit and the
    audit rows themselves are kept. The outcome's result counts what was erased per table. A
    second erase of an erased account is accepted and changes nothing."""

    TYPE: ClassVar[str] = "billing_account.erase"

    account_id: Identifier
    reason: ReasonCode = Field(
        description="Required: why the data is erased (e.g. `customer_request`).",
        examples=["customer_request"],
    )


class SearchBillingAccounts(QueryData):
    """Sent by a helpdesk with reply_to: billing accounts whose name, e-mail, phone, billing
    postal code or order number contains `q` (case-insensitive), exact matches first, then
    prefixes, then by trigram similarity; one page at a time."""

    TYPE: ClassVar[str] = "billing_account.search"

    q: str = Field(min_length=3, max_length=100, description="At least three characters.")
    field: SearchField | None = Field(default=None, description="Search this field only.")
    page: int = Field(default=1, ge=1, le=100)
    page_size: int = Field(default=20, ge=1, le=100)


class GetBillingAccount(QueryData):
    """Sent by a helpdesk with reply_to: the account as an agent sees it, with its money."""

    TYPE: ClassVar[str] = "billing_account.get"

    account_id: Identifier
    max_orders: int = Field(default=50, ge=1, le=200, description="The newest orders shown.")
    min_version: int | None = MIN_VERSION_FIELD

    def must_see(self) -> MinimumVersion | None:
        if self.min_version is None:
            return None
        return MinimumVersion("billing_account", self.account_id, self.min_version)


# --- published shapes ------------------------------------------------------------------


class PaymentMethodView(Published):
    """A stored card: brand, last four, expiry and the token reference."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    token_ref: str


class StoreCreditEntryView(Published):
    """One entry of the store-credit ledger (positive: credited; negative: spent)."""

    entry_id: int
    currency: Currency
    amount: Amount
    reason: str
    reference: str | None = None
    created_at: datetime


class AccountOrderView(Published):
    """One of the account's orders with its money position and documents."""

    order_id: str
    status: str
    version: int
    currency: Currency
    total: Amount
    balance_due: Amount
    credit_owed: Amount
    invoices: list[InvoiceView]
    credit_memos: list[CreditMemoView]
    refunds: list[RefundView]
    created_at: datetime
    updated_at: datetime


class BillingAccountView(Published):
    """The account as `billing_account.get` returns it (on reply_to only: personal data)."""

    account_id: str
    version: int
    status: AccountStatus
    name: str
    email: str | None = None
    phone: str | None = None
    billing_address: dict[str, str | None] | None = None
    locale: str
    notification_opt_outs: list[str]
    payment_methods: list[PaymentMethodView]
    store_credit_balance: list[Money] = Field(description="Per currency: the sum of the ledger.")
    store_credit_entries: list[StoreCreditEntryView] = Field(description="Newest first (100).")
    orders: list[AccountOrderView] = Field(description="Newest first, up to max_orders.")
    orders_total: int = Field(description="How many orders the account has in all.")
    appeasements: list[AppeasementView] = Field(
        default_factory=list,
        description="The newest 100 appeasements offered to the account, newest first: value, "
        "status (granted, pending, rejected, expired), who offered and who decided, why, the "
        "ticket. One place to spot goodwill abuse.",
    )
    appeasements_total: int = Field(
        default=0, description="How many appeasements the account has in all."
    )


class AccountSearchHit(Published):
    """One account found. E-mail and phone are masked; the account's view shows them."""

    account_id: str
    name: str
    email: str | None = Field(default=None, examples=["ad***e@example.com"])
    phone: str | None = Field(default=None, examples=["*******4567"])
    status: AccountStatus
    postal_code: str | None = None
    country: str | None = None
    match_field: SearchField
    match: Literal["exact", "prefix", "partial"]
    score: float = Field(description="Trigram similarity of the matched value, 0 to 1.")
    order_id: str | None = Field(default=None, description="The order matched by order_id.")


class AccountSearchResult(Published):
    """A page of `billing_account.search` (on reply_to only)."""

    page: int
    page_size: int
    has_more: bool
    truncated: bool = Field(
        default=False,
        description="More accounts matched a field than are ranked (250 of each of exact, "
        "prefix and partial): the best of those found are shown; refine the query.",
    )
    hits: list[AccountSearchHit]


# --- events ----------------------------------------------------------------------------


class BillingAccountUpdated(Published):
    """Published by OrderCare when a billing account changed: which fields, the new version
    and status. No contact data, addresses or card details: `billing_account.get` has them."""

    TYPE: ClassVar[str] = "billing_account.updated"

    account_id: str
    version: int
    changed: list[AccountField]
    status: AccountStatus
    payment_methods_added: list[str] = Field(default_factory=list)
    payment_methods_removed: list[str] = Field(default_factory=list)
