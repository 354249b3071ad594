"""What an erasure asks storage to replace (services/accounts/erasure.py decides it)."""

from __future__ import annotations

from dataclasses import dataclass

#: Shorter values are replaced where they are stored with the customer (their account,
#: orders, audit rows, e-mails), but not searched for elsewhere: "Köln" or "12" would
#: match other customers' records.
SEARCHABLE_LENGTH = 5


@dataclass(frozen=True, slots=True)
class Scrub:
    """What the Erasure port replaces: each personal value (longest first) by its stand-in,
    in the rows of the account and its orders, and in any other row holding one of the
    `searched` values (those that identify the customer alone: an e-mail address or phone
    number of at least SEARCHABLE_LENGTH characters; a name, street, city or postal code
    may be another customer's too)."""

    account_id: str
    order_ids: tuple[str, ...]
    replacements: tuple[tuple[str, str], ...]
    searched: tuple[str, ...] = ()
