"""The amendment workload's messages: a seeded catalogue, orders of 1-20 lines, and one mixed
after-sale command per order (amend, change delivery, cancel) in realistic proportions.

Everything is drawn from one seeded `random.Random`, so a run's orders and commands are the
same every time (only envelope ids and times differ). Each order gets at most one command in
a burst, so no two commands of a burst race for the same order's version.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from actors import demo_story
from services.pricing import LineInput, price_order

#: The seed of every draw: the same orders and commands on every run.
SEED = 20261126
#: SKUs in the benchmark catalogue.
SKUS = 50
#: Billing accounts the orders are spread over.
ACCOUNTS = 20
CURRENCY = "EUR"
#: Share (%) of each command type in a burst.
MIX: dict[str, int] = {"order.amend": 60, "order.change_delivery": 25, "order.cancel": 15}
#: Share (%) of each change inside an `order.amend` of 1-3 changes.
CHANGES: dict[str, int] = {"set_quantity": 45, "add": 25, "replace": 15, "remove": 15}
#: Destination countries (all in the seeded tax table) and their share (%) of the orders.
COUNTRIES: dict[str, int] = {"DE": 50, "FR": 20, "NL": 15, "AT": 15}
#: Lines in the large order whose single amendments are timed.
LARGE_LINES = 200

_PLACES = {
    "DE": ("Berlin", "Invalidenstraße"),
    "FR": ("Lyon", "Rue de la République"),
    "NL": ("Utrecht", "Oudegracht"),
    "AT": ("Graz", "Herrengasse"),
}


def _postal_code(rng: random.Random, country: str) -> str:
    if country == "NL":
        return f"{rng.randint(1000, 9999)} {rng.choice('ABCDEFGHJK')}{rng.choice('LMNPRSTVWX')}"
    digits = 4 if country == "AT" else 5
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def _address(rng: random.Random, country: str) -> dict[str, Any]:
    city, street = _PLACES[country]
    return {
        "name": "Ada Lovelace",
        "line1": f"{street} {rng.randint(1, 250)}",
        "city": city,
        "postal_code": _postal_code(rng, country),
        "country": country,
    }


def _pick(rng: random.Random, weights: Mapping[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass(frozen=True, slots=True)
class Item:
    """A catalogue entry as the workload prices it."""

    sku: str
    price: Decimal
    tax_class: str
    backorderable: bool


@dataclass(frozen=True, slots=True)
class SeededOrder:
    """An order the workload created: its lines (l1, l2, … as OrderCare numbers them)."""

    order_id: str
    account_id: str
    country: str
    method: str
    lines: dict[str, tuple[str, int]]  # line_id -> (sku, quantity)


class Workload:
    """Builds the seed messages and the mixed commands; `rates` and `fees` come from the
    database's reference data so the orders' payments cover their totals exactly."""

    def __init__(
        self,
        rates: Mapping[str, Mapping[str, Decimal]],
        fees: Mapping[str, Decimal],
        seed: int = SEED,
    ) -> None:
        self.rates = rates
        self.fees = fees
        self.rng = random.Random(seed)
        self.items = [self._item(i) for i in range(1, SKUS + 1)]
        self.by_sku = {item.sku: item for item in self.items}

    def _item(self, n: int) -> Item:
        # 7 in 10 standard rate, 2 reduced (books, food), 1 zero; every 5th backorderable.
        tax_class = ("standard",) * 7 + ("reduced",) * 2 + ("zero",)
        price = Decimal(self.rng.randint(300, 12_000)) / 100
        return Item(f"BENCH-{n:03d}", price, tax_class[n % 10], n % 5 == 0)

    # --- seeding -----------------------------------------------------------------------

    def catalog_upsert(self) -> dict[str, Any]:
        items = [
            {"sku": i.sku, "name": f"Bench item {i.sku[-3:]}", "prices": {CURRENCY: str(i.price)},
             "tax_class": i.tax_class, "backorderable": i.backorderable}
            for i in self.items
        ]  # fmt: skip
        data = {"actor": demo_story.STOREFRONT, "items": items}
        return demo_story.envelope("catalog.upsert", data, source="storefront/eu")

    @staticmethod
    def account_ids() -> list[str]:
        return [f"acc_bench_{n:02d}" for n in range(ACCOUNTS)]

    def accounts(self) -> list[dict[str, Any]]:
        return [demo_story.ada_account(account_id) for account_id in self.account_ids()]

    def orders(self, count: int, prefix: str = "ord_bench") -> list[SeededOrder]:
        """`count` orders of 1-20 lines, mostly small (triangular, mode 3: mean about 8)."""
        return [
            self._order(f"{prefix}_{n:05d}", round(self.rng.triangular(1, 20, 3)))
            for n in range(count)
        ]

    def _order(self, order_id: str, size: int) -> SeededOrder:
        skus = self.rng.sample([i.sku for i in self.items], size)
        quantities = self.rng.choices((1, 2, 3, 4), weights=(60, 25, 10, 5), k=size)
        return SeededOrder(
            order_id,
            self.rng.choice(self.account_ids()),
            _pick(self.rng, COUNTRIES),
            "express" if self.rng.random() < 0.2 else "standard",
            {f"l{n}": (sku, q) for n, (sku, q) in enumerate(zip(skus, quantities, strict=True), 1)},
        )

    def uniform_order(self, order_id: str, size: int) -> SeededOrder:
        """`size` lines cycling through the catalogue, 3 units each, to Germany."""
        lines = {f"l{n}": (self.items[(n - 1) % SKUS].sku, 3) for n in range(1, size + 1)}
        return SeededOrder(order_id, self.account_ids()[0], "DE", "standard", lines)

    def timed_orders(self) -> list[SeededOrder]:
        """The orders the sequentially timed amendments change (see TIMED)."""
        return [self.uniform_order(order_id, size) for order_id, size in TIMED_ORDERS.items()]

    def create(self, order: SeededOrder) -> dict[str, Any]:
        """The storefront's order.create, paid in full (authorised = captured = total)."""
        total = str(self.total(order))
        data = {
            "actor": demo_story.STOREFRONT, "order_id": order.order_id,
            "account_id": order.account_id, "currency": CURRENCY,
            "lines": [{"sku": sku, "quantity": q} for sku, q in order.lines.values()],
            "delivery": {"method": order.method, "address": _address(self.rng, order.country)},
            "payment": {"authorized": total, "captured": total, "reference": f"psp_{order.order_id}"},
        }  # fmt: skip
        return demo_story.envelope(
            "order.create", data, source="storefront/eu", subject=order.order_id
        )

    def total(self, order: SeededOrder) -> Decimal:
        lines = (
            LineInput(line_id, q, self.by_sku[sku].price, self.by_sku[sku].tax_class)
            for line_id, (sku, q) in order.lines.items()
        )
        priced = price_order(
            CURRENCY,
            lines,
            country=order.country,
            rates=self.rates[order.country],
            shipping_fee=self.fees[order.method],
        )
        return priced.total

    # --- the mixed commands --------------------------------------------------------------

    def command(self, order: SeededOrder) -> dict[str, Any]:
        """One command for the order: 60 % amend, 25 % change delivery, 15 % cancel."""
        kind = _pick(self.rng, MIX)
        if kind == "order.amend":
            return self.amend(order)
        if kind == "order.change_delivery":
            return self.change_delivery(order)
        return self.cancel(order)

    def _settle_to(self) -> str:
        return "store_credit" if self.rng.random() < 0.1 else "original_payment"

    def amend(self, order: SeededOrder) -> dict[str, Any]:
        """1-3 changes, each on a different line; at least one line stays."""
        count = self.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        untouched = list(order.lines)
        self.rng.shuffle(untouched)
        in_order = {sku for sku, _q in order.lines.values()}
        removable = len(untouched) - 1
        changes: list[dict[str, Any]] = []
        for _ in range(count):
            action = _pick(self.rng, CHANGES)
            if action == "remove" and removable < 1:
                action = "set_quantity"
            if action == "add" or not untouched:
                sku = self._other_sku(in_order)
                changes.append(
                    {"action": "add", "sku": sku, "quantity": self.rng.choice((1, 1, 2))}
                )
                continue
            line_id = untouched.pop()
            if action == "remove":
                removable -= 1
                changes.append({"action": "remove", "line_id": line_id})
            elif action == "replace":
                changes.append(
                    {"action": "replace", "line_id": line_id, "sku": self._other_sku(in_order)}
                )
            else:
                changes.append({"action": "set_quantity", "line_id": line_id,
                                "quantity": self._new_quantity(order.lines[line_id][1])})  # fmt: skip
        return demo_story.amend(order.order_id, changes, settle_to=self._settle_to())

    def _other_sku(self, taken: set[str]) -> str:
        sku = self.rng.choice([i.sku for i in self.items if i.sku not in taken])
        taken.add(sku)
        return sku

    def _new_quantity(self, quantity: int) -> int:
        if quantity > 1 and self.rng.random() < 0.5:
            return self.rng.randint(1, quantity - 1)
        return quantity + self.rng.randint(1, 2)

    def change_delivery(self, order: SeededOrder) -> dict[str, Any]:
        """Half a corrected address in the same country, 3 in 10 another country (a quarter of
        those with the other method too), 2 in 10 the method only (standard <-> express)."""
        draw = self.rng.random()
        other_method = "standard" if order.method == "express" else "express"
        data: dict[str, Any] = {"actor": demo_story.AGENT, "order_id": order.order_id}
        if draw < 0.5:
            data |= {"reason": "address_correction", "address": _address(self.rng, order.country)}
        elif draw < 0.8:
            country = self.rng.choice([c for c in COUNTRIES if c != order.country])
            data |= {"reason": "customer_request", "address": _address(self.rng, country)}
            if self.rng.random() < 0.25:
                data["method"] = other_method
        else:
            data |= {"reason": "customer_request", "method": other_method}
        data["settle_to"] = self._settle_to()
        return demo_story.envelope("order.change_delivery", data, subject=order.order_id)

    def cancel(self, order: SeededOrder) -> dict[str, Any]:
        """3 in 10 the whole order; otherwise 1-2 lines, half of them partly (some units)."""
        data: dict[str, Any] = {"actor": demo_story.AGENT, "order_id": order.order_id,
                                "reason": "customer_request", "settle_to": self._settle_to()}  # fmt: skip
        if self.rng.random() < 0.3:
            data["scope"] = "order"
        else:
            chosen = self.rng.sample(
                list(order.lines), min(len(order.lines), self.rng.choice((1, 2)))
            )
            data["scope"] = "lines"
            data["lines"] = [
                self._cancel_line(line_id, order.lines[line_id][1]) for line_id in chosen
            ]
        return demo_story.envelope("order.cancel", data, subject=order.order_id)

    def _cancel_line(self, line_id: str, quantity: int) -> dict[str, Any]:
        if quantity > 1 and self.rng.random() < 0.5:
            return {"line_id": line_id, "quantity": self.rng.randint(1, quantity - 1)}
        return {"line_id": line_id}


def set_quantities(order_id: str, line_ids: list[str], quantity: int) -> dict[str, Any]:
    """An amendment setting these lines to `quantity` (no expected_version: always applies)."""
    changes = [{"action": "set_quantity", "line_id": i, "quantity": quantity} for i in line_ids]
    return demo_story.amend(order_id, changes)


#: Orders of the sequential timing and their number of lines.
TIMED_ORDERS: dict[str, int] = {"ord_bench_l200": LARGE_LINES, "ord_bench_l10": 10}

#: The sequentially timed amendments: label -> (order, lines set to 4 and back to 3). The two
#: on the large order change different lines, so each alternates on its own.
TIMED: dict[str, tuple[str, list[str]]] = {
    "200 lines, 1 change": ("ord_bench_l200", ["l1"]),
    "200 lines, 20 changes": ("ord_bench_l200", [f"l{n}" for n in range(2, 22)]),
    "10 lines, 1 change": ("ord_bench_l10", ["l1"]),
}


def timed_amendments(label: str, count: int) -> list[dict[str, Any]]:
    """`count` amendments of TIMED[label], quantities alternating 3 -> 4 -> 3 so each one
    applies (an even `count` leaves the order as it was)."""
    order_id, line_ids = TIMED[label]
    return [set_quantities(order_id, line_ids, 4 if n % 2 == 0 else 3) for n in range(count)]
