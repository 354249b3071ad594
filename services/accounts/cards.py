"""Card numbers must never reach OrderCare: finding and masking them in a message.

A card number here is a run of 13 to 19 digits, up to three separators (any space, dash,
dot, slash or underscore) allowed between digits, that passes the Luhn check. It is
looked for in every string, number and key of a billing-account message and in the note
of any other; a longer run is searched group by group (`4111 1111 1111 1111 12/28`).
Random digit runs pass Luhn one time in ten, so an order id or a phone number of 13 or
more digits may be taken for one: the sender is told where, never what.
"""

from __future__ import annotations

import re
from typing import Any

#: Digits with at most three separators (spaces of any kind, dashes, dots, slashes,
#: underscores) between two of them: "4111 1111", "4111\u00a01111", "4111 - 1111", "4111.1111".
_RUN = re.compile(r"\d(?:[\s.\-/_]{0,3}\d)*")
_GROUP = re.compile(r"\d+")
_SHORTEST, _LONGEST = 13, 19
#: What a masked digit becomes.
MASK = "*"


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def has_card_number(text: str) -> bool:
    """Whether `text` holds a digit run that looks like a payment card number."""
    return any(_run_has_card(run.group()) for run in _RUN.finditer(text))


def _run_has_card(run: str) -> bool:
    groups = _GROUP.findall(run)
    for start in range(len(groups)):
        digits = ""
        for group in groups[start:]:
            digits += group
            if len(digits) > _LONGEST:
                break
            if len(digits) >= _SHORTEST and luhn(digits):
                return True
    return False


def mask_text(text: str) -> str:
    """`text` with every digit of each card-like run masked (separators kept)."""
    return _RUN.sub(lambda m: _masked(m.group()) if _run_has_card(m.group()) else m.group(), text)


def _masked(run: str) -> str:
    return re.sub(r"\d", MASK, run)


def find_card_number(value: Any, path: str = "") -> str | None:
    """The path (`data.note`, `data.add_payment_methods.0.token_ref`) of the first value or
    key in a JSON document that holds a card number; None when there is none. Keys in the
    path are masked, so the path never shows the number."""
    if isinstance(value, str):
        return (path or "(root)") if has_card_number(value) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (path or "(root)") if has_card_number(str(value)) else None
    for key, item in _items(value):
        here = f"{path}.{mask_text(str(key))}" if path else mask_text(str(key))
        if has_card_number(str(key)):
            return here + " (a key)"
        if (found := find_card_number(item, here)) is not None:
            return found
    return None


def mask_document(value: Any) -> Any:
    """A copy of a JSON document with every card-like run masked; a number holding one
    becomes its masked text."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        return mask_text(text) if has_card_number(text) else value
    if isinstance(value, dict):
        return {mask_text(str(k)): mask_document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_document(v) for v in value]
    return value


def _items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return list(enumerate(value))
    return []
