"""How often the card-number scanner refuses text that holds no card number.

Generates a corpus of realistic strings an agent or a customer types (`--n`, a million by
default, `--seed`): notes that mention phone numbers, order and ticket numbers, dates and
times, amounts, tracking numbers and IBANs, and those values alone, then counts how many
the scanner (services/accounts/cards.py) takes for a card number. None holds one by
construction: each generated value is checked not to be a real card number on its own.

    ops/run sh python ops/bench/card_false_positives.py [--n 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.accounts.cards import has_card_number


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))


def phone(r: random.Random) -> str:
    """A phone number as people write them, in a few countries' shapes."""
    d = partial(_digits, r)
    return r.choice([
        f"+44 20 {d(4)} {d(4)}", f"07{d(3)} {d(6)}", f"+49 30 {d(8)}", f"0{d(3)}/{d(7)}",
        f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}", f"06.{d(2)}.{d(2)}.{d(2)}.{d(2)}",
        f"+1 ({d(3)}) {d(3)}-{d(4)}", f"{d(3)}-{d(3)}-{d(4)}", f"+31 6 {d(8)}",
        f"+43 664 {d(7)}", f"0049 {d(3)} {d(7)}", f"+44 (0)20 {d(4)} {d(4)}",
    ])  # fmt: skip


def order_number(r: random.Random) -> str:
    return r.choice([
        f"SO-{r.randint(10_000_000, 99_999_999)}", f"#{r.randint(100_000, 999_999)}",
        f"{r.randint(1_000_000_000, 9_999_999_999)}", f"ord_{r.randint(1000, 99_999)}",
        f"R{r.randint(100_000_000, 999_999_999)}",
        f"{r.randint(100, 999)}-{r.randint(10**6, 10**7 - 1)}-{r.randint(10**6, 10**7 - 1)}",
    ])  # fmt: skip


def date(r: random.Random) -> str:
    y, mo, da, h, mi = (
        r.randint(2020, 2027),
        r.randint(1, 12),
        r.randint(1, 28),
        r.randint(0, 23),
        r.randint(0, 59),
    )
    return r.choice([
        f"{y}-{mo:02d}-{da:02d}", f"{da:02d}.{mo:02d}.{y}", f"{mo}/{da}/{y}", f"{da}/{mo}/{y}",
        f"{y}-{mo:02d}-{da:02d} {h:02d}:{mi:02d}", f"{da:02d}.{mo:02d}.{y} {h:02d}.{mi:02d}",
        f"{y}-{mo:02d}-{da:02d}T{h:02d}:{mi:02d}:00Z", f"{da:02d}/{mo:02d}/{y % 100:02d}",
    ])  # fmt: skip


def amount(r: random.Random) -> str:
    return r.choice([f"{r.randint(1, 999)}.{r.randint(0, 99):02d} EUR", f"£{r.randint(1, 99)}.99",
                     f"{r.randint(1, 9)},{r.randint(100, 999)}.00", f"{r.randint(1, 500)} €"])  # fmt: skip


def tracking(r: random.Random) -> str:
    d = partial(_digits, r)
    return r.choice([f"1Z{d(3)}AA{d(10)}", f"00340434{d(12)}", f"JJD{d(18)}", f"{d(12)}"])


def iban(r: random.Random) -> str:
    """A valid IBAN (its check digits computed), grouped by four as people write them."""
    d = partial(_digits, r)
    country, bban = r.choice([("DE", d(18)), ("GB", "NWBK" + d(14)), ("FR", d(23)),
                              ("NL", "ABNA" + d(10)), ("AT", d(16)), ("ES", d(20))])  # fmt: skip
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    compact = f"{country}{98 - int(digits) % 97:02d}{bban}"
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


VALUES: dict[str, Callable[[random.Random], str]] = {
    "phone": phone, "order number": order_number, "date": date, "amount": amount,
    "tracking number": tracking, "iban": iban,
}  # fmt: skip

TEMPLATES = [
    "Customer called from {phone} about order {order number}, wants a refund of {amount}.",
    "Call back on {phone} or {phone} after {date}.",
    "Parcel {tracking number} was due {date}; customer says it never came.",
    "Refund {amount} to IBAN {iban} as agreed on {date}.",
    "Orders {order number} / {order number} should be merged.",
    "Ticket {order number}: delivery moved to {date}, phone {phone}.",
    "Spoke to customer {date}. Reference {order number}, {amount} goodwill.",
    "Replacement sent with tracking {tracking number}, original {order number}.",
    "{date} {phone}",
    "Customer asked twice ({date}, {date}) about {order number}.",
]


def note(r: random.Random) -> tuple[str, str]:
    template = r.choice(TEMPLATES)
    text = template
    while "{" in text:
        start = text.index("{")
        name = text[start + 1 : text.index("}", start)]
        text = text[:start] + VALUES[name](r) + text[text.index("}", start) + 1 :]
    return "note", text


def corpus(n: int, seed: int) -> list[tuple[str, str]]:
    r = random.Random(seed)
    kinds = list(VALUES)
    out: list[tuple[str, str]] = []
    for i in range(n):
        if i % 2 == 0:
            out.append(note(r))
        else:
            kind = kinds[i // 2 % len(kinds)]
            out.append((kind, VALUES[kind](r)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=5, help="examples of refused text to print")
    args = parser.parse_args()

    texts = corpus(args.n, args.seed)
    started = time.perf_counter()
    refused: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    examples: list[str] = []
    for kind, text in texts:
        seen[kind] += 1
        if has_card_number(text):
            refused[kind] += 1
            if len(examples) < args.show:
                examples.append(text)
    elapsed = time.perf_counter() - started

    total = sum(refused.values())
    print(f"card-number false positives on {args.n:,} realistic strings (seed {args.seed}):")
    for kind in seen:
        rate = refused[kind] / seen[kind]
        print(f"  {kind:16} {refused[kind]:7,} of {seen[kind]:9,}  ({rate:.4%})")
    print(f"  {'all':16} {total:7,} of {args.n:9,}  ({total / args.n:.4%})")
    print(f"scanned in {elapsed:.1f} s ({elapsed / args.n * 1e6:.1f} µs a string)")
    for text in examples:
        print(f"  e.g. {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
