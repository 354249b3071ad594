"""Card numbers must never reach OrderCare: one scanner that finds and masks them.

A card number here is 13 to 19 digits that pass the Luhn check, made of whole digit
groups of one *run*: decimal digits (of any script) with at most three separators between
two of them. Separators are every Unicode space (U+0020, U+00A0, U+2000 to U+200A, U+202F,
U+205F, U+3000, …), tabs and line breaks, the zero-width ones (U+200B to U+200D, U+2060,
U+FEFF, U+180E), dashes (`-`, U+2010 to U+2015, U+2212, fullwidth), dots (`.`, `·`, U+2024,
fullwidth), slashes (`/`, U+2044, U+2215, fullwidth), underscores, and any byte that is not
UTF-8 (a Latin-1 no-break space, say). So `4111 1111 1111 1111`, `4111\u00a01111…`,
`4111 - 1111 - …` and `4111.1111.…` are card numbers; `4111, 1111, …` or `12:30` are not
runs. A group longer than 19 digits is not part of a card number.

The scan is linear in its input: a regular expression (C speed) finds the runs of 13 or
more digits, and only those are checked, window by window (a window is consecutive whole
groups). A run of more than 76 digits (four card numbers' worth), and every run once a
message has looked at its budget of 2,000 windows, counts as a card number unchecked: it is
masked and refused, and one made of random digits would almost surely hold a Luhn-valid
window anyway.

Identifiers are never scanned (`IDENTIFIER_KEYS`): a UUID's digit groups pass the check
often enough (1 in 340) to make a command impossible to correlate. Where the scan finds
one, it tells where (a path whose keys are masked too), never what.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterator
from typing import Any

_SEPARATORS = (
    r"\s\u180e\u200b-\u200d\u2060\ufeff"  # spaces of every kind, line breaks, zero-width
    r"\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"  # dashes and minus signs
    r".\u00b7\u2024\u2027\u30fb\uff0e\uff61"  # dots
    r"/\u2044\u2215\uff0f_\uff3f"  # slashes, underscores
    r"\udc80-\udcff"  # bytes that are not UTF-8, as Python's surrogateescape shows them
)
#: A run of at least 13 digits with at most three separators between two of them. The
#: look-behinds start a match only at the first digit of a run, so a run of 12 digits costs
#: one attempt, not twelve (linear, whatever the text).
_S = f"[{_SEPARATORS}]"
_DENSE = re.compile(
    rf"(?=\d)(?<!\d)(?<!\d{_S})(?<!\d{_S}{{2}})(?<!\d{_S}{{3}})\d(?:{_S}{{0,3}}+\d){{12,}}+"
)
_GROUP = re.compile(r"\d+")
#: What a masked digit becomes.
MASK = "*"
#: Every decimal digit of any script -> MASK, for str.translate (C speed).
_MASK_DIGITS = {c: MASK for c in range(sys.maxunicode + 1) if chr(c).isdecimal()}
_SHORTEST, _LONGEST = 13, 19
#: Runs longer than this count as a card number unchecked.
LONG_RUN_DIGITS = 4 * _LONGEST
#: Windows (a run's consecutive groups) one message may look at; past it every long run
#: counts as a card number. Everyday text spends a few dozen.
SCAN_BUDGET = 2000

#: CloudEvents context attributes (the envelope's top level) and data keys that identify
#: something: never scanned. In `data`, so is any key ending in `_id` (and the items of one
#: ending in `_ids`).
IDENTIFIER_KEYS = frozenset({"id", "source", "subject", "correlationid", "causationid"})

#: Each digit doubled, its digits summed (the Luhn rule), as a translation table.
_DOUBLED = str.maketrans("0123456789", "0246813579")


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes (ASCII digits)."""
    total = sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return total % 10 == 0


#: Group sizes of the card numbers that are not in equal groups: Amex, Diners.
_UNEVEN_LAYOUTS = ((4, 6, 5), (4, 6, 4))


def _card_layout(sizes: list[int]) -> bool:
    """Whether digit groups are laid out as a card number is written: one group, equal
    groups of one to four digits (the last may be shorter: 4-4-4-4, 4-4-4-4-3, 1-1-1-…), or
    4-6-5 and 4-6-4. Only a part of a longer run must be: an order number 111-3428836-5033689
    holds no card as 3428836-5033689."""
    if len(sizes) == 1:
        return True
    first = sizes[0]
    return (first <= 4 and all(size == first for size in sizes[:-1]) and sizes[-1] <= first) or (
        tuple(sizes) in _UNEVEN_LAYOUTS
    )


#: An IBAN as written: country, check digits, then the account in groups (a space or a
#: no-break space between them) or not.
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ \u00a0]?[A-Z0-9]{4}){2,7}(?:[ \u00a0]?[A-Z0-9]{1,3})?"
    r"(?![A-Za-z0-9])"
)
_IBAN_HINT = re.compile(r"[A-Z]{2}\d{2}")


def iban_valid(text: str) -> bool:
    """ISO 13616's check: the IBAN, its first four characters moved to the end and letters
    read as 10 to 35, is 1 modulo 97."""
    compact = "".join(text.split())
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


_TO_X = str.maketrans("0123456789", "xxxxxxxxxx")


def _ascii(group: str) -> str:
    return group if group.isascii() else "".join(str(unicodedata.decimal(c)) for c in group)


class CardScan:
    """One message's scan: every string it looks at shares one budget of windows to look at, so
    the work on a message is bounded by its size, whatever it holds."""

    def __init__(self, budget: int = SCAN_BUDGET) -> None:
        self.budget = budget
        #: How many runs were masked.
        self.masked = 0

    def run_is_card(self, run: str) -> bool:
        """Whether a run of 13+ digits holds a card number: the whole run, or a part of it
        (whole groups) written as cards are."""
        if self.budget <= 0 or len(run) > 4 * LONG_RUN_DIGITS:
            return True  # a digit at least every fourth character: surely over the limit
        groups = [_ascii(g) for g in _GROUP.findall(run)]
        if sum(map(len, groups)) > LONG_RUN_DIGITS:
            return True
        sizes = [len(g) for g in groups]
        for start in range(len(groups)):
            digits = ""
            for end in range(start, len(groups)):
                self.budget -= 1  # every window looked at counts, not only those checked
                digits += groups[end]
                if len(digits) > _LONGEST:
                    break
                if len(digits) < _SHORTEST:
                    continue
                whole = start == 0 and end == len(groups) - 1
                if (whole or _card_layout(sizes[start : end + 1])) and luhn(digits):
                    return True
            if self.budget <= 0:
                return True  # spent: counts as a card unchecked, like every run after it
        return False

    def has_card(self, text: str) -> bool:
        if len(text) < _SHORTEST:
            return False
        view = self._without_ibans(text)
        return any(self.run_is_card(m.group()) for m in _DENSE.finditer(view))

    def _without_ibans(self, text: str) -> str:
        """`text` with the digits of every valid IBAN (ISO 13616: its mod-97 check holds)
        replaced by letters, at the same places: an IBAN is not a card number, and its
        groups of four digits would otherwise pass the Luhn check one time in four."""
        if _IBAN_HINT.search(text) is None:
            return text
        pieces: list[str] = []
        pos = 0
        for match in _IBAN.finditer(text):
            if self.budget <= 0:
                break  # out of budget: the rest is scanned as it is, the safe way
            self.budget -= 1
            if iban_valid(match.group()):
                start, end = match.span()
                pieces += (text[pos:start], text[start:end].translate(_TO_X))
                pos = end
        if not pieces:
            return text
        pieces.append(text[pos:])
        return "".join(pieces)

    def mask(self, text: str) -> str:
        """`text` with every digit of each card-like run masked (separators kept). Once the
        budget is spent, every digit of the rest is masked without looking further."""
        if len(text) < _SHORTEST:
            return text
        if self.budget <= 0:
            return self._mask_all(text)
        pieces, pos = [], 0
        for match in _DENSE.finditer(self._without_ibans(text)):
            if self.budget <= 0:
                pieces.append(self._mask_all(text[pos:]))
                return "".join(pieces)
            if self.run_is_card(match.group()):
                pieces += (text[pos : match.start()], match.group().translate(_MASK_DIGITS))
                pos = match.end()
                self.masked += 1
        if pos == 0:
            return text
        pieces.append(text[pos:])
        return "".join(pieces)

    def _mask_all(self, text: str) -> str:
        masked = text.translate(_MASK_DIGITS)
        self.masked += masked != text
        return masked

    # --- JSON documents ---------------------------------------------------------------

    def find(self, value: Any, path: str = "") -> str | None:
        """The path (`data.note`, `data.add_payment_methods.0.token_ref`) of the first value
        or key holding a card number; None when there is none. Keys in the path are masked."""
        for trail, key, item in _walk(value, not path):
            if key is not None and self.has_card(key):
                return self._path(path, trail) + " (a key)"
            if isinstance(item, str) and self.has_card(item):
                return self._path(path, trail)
            if _is_number(item) and self.has_card(str(item)):
                return self._path(path, trail)
        return None

    def _path(self, root: str, trail: _Trail) -> str:
        parts: list[str] = []
        while trail is not None:
            trail, step = trail
            parts.append(self.mask(step) if isinstance(step, str) else str(step))
        return ".".join([root] * bool(root) + parts[::-1])

    def mask_document(self, value: Any) -> Any:
        """A copy of a JSON document with every card-like run masked, identifiers left as
        they are; a number holding one becomes its masked text."""
        if isinstance(value, str):
            return self.mask(value)
        if _is_number(value):
            text = str(value)
            return self.mask(text) if self.has_card(text) else value
        if isinstance(value, dict):
            # Iterative, so no nesting depth can exhaust the stack: containers are built
            # first and filled as the walk reaches them.
            root: dict[str, Any] = {}
            self._fill(value, root, top=True)
            return root
        if isinstance(value, list):
            out: list[Any] = []
            self._fill(value, out, top=False)
            return out
        return value

    def _fill(self, source: dict[str, Any] | list[Any], target: Any, top: bool) -> None:
        stack: list[tuple[Any, Any, bool, bool]] = [(source, target, top, False)]
        while stack:
            src, dst, at_top, verbatim = stack.pop()
            pairs = src.items() if isinstance(src, dict) else enumerate(src)
            for key, item in pairs:
                keep = verbatim or (isinstance(key, str) and _identifier(key, at_top))
                if isinstance(item, dict | list):
                    child: Any = {} if isinstance(item, dict) else []
                    stack.append((item, child, False, keep and _plural_id(key)))
                    new = child
                elif keep:
                    new = item
                else:
                    new = self.mask_document(item)
                if isinstance(dst, dict):
                    dst[self.mask(key) if isinstance(key, str) else key] = new
                else:
                    dst.append(new)


def _identifier(key: str, top: bool) -> bool:
    return key in IDENTIFIER_KEYS if top else is_identifier_key(key)


def is_identifier_key(key: str) -> bool:
    """A key that names an identifier inside a document (`id`, `order_id`, `line_ids`)."""
    return key == "id" or key.endswith(("_id", "_ids"))


def _plural_id(key: Any) -> bool:
    return isinstance(key, str) and key.endswith("_ids")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: A value's place in a document, built as the walk goes and rendered only when needed:
#: (the parent's trail, this key or index), None at the root.
_Trail = tuple[Any, str | int] | None


def _walk(value: Any, top: bool) -> Iterator[tuple[_Trail, str | None, Any]]:
    """(trail, key, value) of every value below `value` in document order, skipping
    identifiers. Iterative, so nesting costs no stack."""
    stack: list[tuple[_Trail, str | None, Any, bool]] = [(None, None, value, top)]
    while stack:
        trail, key, item, at_top = stack.pop()
        yield trail, key, item
        if isinstance(item, dict):
            children = [
                ((trail, str(k)), str(k), v, False)
                for k, v in item.items()
                if not (isinstance(k, str) and _identifier(k, at_top))
            ]
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(((trail, n), None, v, False) for n, v in reversed(list(enumerate(item))))


# --- the module-level API: a fresh budget per call -------------------------------------


def has_card_number(text: str) -> bool:
    """Whether `text` holds a digit run that looks like a payment card number."""
    return CardScan().has_card(text)


def mask_text(text: str) -> str:
    """`text` with every digit of each card-like run masked (separators kept)."""
    return CardScan().mask(text)


def find_card_number(value: Any, path: str = "") -> str | None:
    """Where in a JSON document a card number is (see `CardScan.find`)."""
    return CardScan().find(value, path)


def mask_document(value: Any) -> Any:
    """A copy of a JSON document with card-like runs masked (see `CardScan.mask_document`)."""
    return CardScan().mask_document(value)


#: A JSON string escape of a digit or a separator, as it may appear in a body that is not
#: JSON: decoded before the scan, so it sees the same characters the parser would.
_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # a surrogate pair
    r"|\\(?:u([0-9a-fA-F]{4})|([tnrf/]))"
)
_SHORT_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "/": "/"}
_SCANNED = re.compile(rf"[\d{_SEPARATORS}]")


def _unescape(match: re.Match[str]) -> str:
    high, low, code, short = match.groups()
    if high:  # a character beyond the BMP (mathematical digits, say), written as two
        char = chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)
    else:
        char = _SHORT_ESCAPES[short] if short else chr(int(code, 16))
    return char if _SCANNED.fullmatch(char) else match.group()


_SEPARATOR = re.compile(_S)


def mask_cut_tail(body: bytes) -> bytes:
    """The first bytes of a body cut short, with the digits of a run that reaches the cut
    masked unchecked: it may be most of a card whose last digits were cut off, and those
    are easily worked out again (the last one is the Luhn check digit)."""
    text = body.decode("utf-8", "surrogateescape")
    start, gap = len(text), 0
    while start > 0:
        char = text[start - 1]
        if char.isdecimal():
            gap = 0
        elif gap < 3 and _SEPARATOR.fullmatch(char):
            gap += 1
        else:
            break
        start -= 1
    if not any(c.isdecimal() for c in text[start:]):
        return body
    return (text[:start] + text[start:].translate(_MASK_DIGITS)).encode("utf-8", "surrogateescape")


def may_hold_card(body: bytes) -> bool:
    """Whether raw bytes hold any run of 13+ digits (the only place a card number can be)."""
    text = body.decode("utf-8", "surrogateescape")
    view = _ESCAPE.sub(_unescape, text) if "\\" in text else text
    return _DENSE.search(view) is not None


def mask_bytes(body: bytes, scan: CardScan | None = None) -> bytes:
    """Raw bytes (not JSON, or not UTF-8) with card-like runs masked: the same scanner over
    the same characters a parser would see. Bytes that are not UTF-8 stay as they are (and
    count as separators); JSON escapes of digits and separators (`\\u00a0`, `\\t`) are decoded first."""
    scan = scan or CardScan()
    text = body.decode("utf-8", "surrogateescape")
    view = _ESCAPE.sub(_unescape, text) if "\\" in text else text
    masked = scan.mask(view)
    return body if masked == text else masked.encode("utf-8", "surrogateescape")
