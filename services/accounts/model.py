"""A billing account: contact, billing address, hold, preferences and tokenised cards."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from contracts.accounts import AccountField
from services.errors import (
    AlreadyExists,
    Invalid,
    NotAllowedInState,
    NotFound,
    OverLimit,
    VersionConflict,
)

#: What billing_account.update may change, in the order events and audit rows name them.
UPDATABLE: tuple[AccountField, ...] = (
    "name",
    "email",
    "phone",
    "billing_address",
    "status",
    "locale",
    "notification_opt_outs",
    "payment_methods",
)

#: The most cards an account keeps.
MAX_PAYMENT_METHODS = 10


class AccountClosed(NotAllowedInState):
    """A closed account cannot be put on hold or released."""


class CardExpired(Invalid):
    """A payment method whose expiry month has passed cannot be added."""


class TooManyPaymentMethods(OverLimit):
    """An account keeps at most MAX_PAYMENT_METHODS cards."""


class PaymentMethodTaken(AlreadyExists):
    """The account has a payment method with that id already."""


class PaymentMethodNotFound(NotFound):
    """The account has no payment method with that id."""


class AccountVersionConflict(VersionConflict):
    """The agent saw another version of the account than the current one."""


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """A card as the payment service tokenised it. Never a card number."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    token_ref: str

    def expired(self, now: datetime) -> bool:
        """A card is valid to the end of its expiry month."""
        return (self.exp_year, self.exp_month) < (now.year, now.month)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Account:
    """A customer's billing account. Contact fields are personal data: never logged."""

    account_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    billing_address: dict[str, str | None] | None = None
    locale: str = "en"
    status: Literal["active", "on_hold", "closed"] = "active"
    extra: dict[str, str] = field(default_factory=dict)
    version: int = 1
    notification_opt_outs: list[str] = field(default_factory=list)
    payment_methods: list[PaymentMethod] = field(default_factory=list)

    def check_version(self, expected: int | None) -> None:
        """Refuse an update written against another version than the current one."""
        if expected is not None and expected != self.version:
            raise AccountVersionConflict(
                f"billing account {self.account_id} is at version {self.version}, "
                f"the command expected {expected}",
                current_version=self.version,
                expected_version=expected,
            )

    def hold(self, on_hold: bool) -> None:
        """Put the account on hold (it takes no new orders) or release it."""
        if self.status == "closed":
            raise AccountClosed(f"billing account {self.account_id} is closed", field="data.hold")
        self.status = "on_hold" if on_hold else "active"

    def add_payment_method(self, method: PaymentMethod, now: datetime, at: str) -> None:
        if method.expired(now):
            raise CardExpired(
                f"the card expired at the end of {method.exp_month:02d}/{method.exp_year}",
                field=f"{at}.exp_year",
            )
        if any(m.payment_method_id == method.payment_method_id for m in self.payment_methods):
            raise PaymentMethodTaken(
                f"payment method {method.payment_method_id} exists already",
                field=f"{at}.payment_method_id",
            )
        if len(self.payment_methods) >= MAX_PAYMENT_METHODS:
            raise TooManyPaymentMethods(
                f"an account keeps at most {MAX_PAYMENT_METHODS} payment methods",
                field=at,
                limit=MAX_PAYMENT_METHODS,
            )
        self.payment_methods.append(method)

    def remove_payment_method(self, payment_method_id: str, at: str) -> None:
        kept = [m for m in self.payment_methods if m.payment_method_id != payment_method_id]
        if len(kept) == len(self.payment_methods):
            raise PaymentMethodNotFound(
                f"billing account {self.account_id} has no payment method {payment_method_id}",
                field=at,
            )
        self.payment_methods = kept

    def state(self) -> dict[str, Any]:
        """Every field an update can change, as the audit log records it (no card data: a
        payment method is its token reference, brand, last four and expiry)."""
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "billing_address": self.billing_address,
            "status": self.status,
            "locale": self.locale,
            "notification_opt_outs": list(self.notification_opt_outs),
            "payment_methods": [m.as_dict() for m in self.payment_methods],
        }
