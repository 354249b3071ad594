"""billing_account.search on a million accounts: latency through the real query handler.

    ops/run sh python ops/bench/search.py [--accounts 1000000] [--orders 300000]
                                          [--queries 200] [--runs 3] [--keep | --reuse]

Creates its own scratch database (`ordercare_bench_search`, dropped at the end unless
`--keep`), applies every migration, then loads with COPY, untimed: ACCOUNTS billing accounts
with realistic names (first and last names of six countries), e-mails, phones formatted as
people type them (85 % have one) and billing addresses with each country's postal-code
shape (90 %), and ORDERS orders (storefront numbers such as SO-10412345) spread over the
accounts. The trigram indexes of migration 0004 are dropped for the load and built again
after it, then the tables are analysed.

Each run sends QUERIES queries of each kind, drawn afresh from the data, through
`services.accounts.handlers.search_accounts` on a `SqlUnitOfWork` (connection from the
pool, BEGIN, the statements, ROLLBACK), one at a time, as an agent types into one search
box (no `field`: every plausible field is searched): a name (a surname, a first name and
the start of a surname, the start of a surname or a piece of one), an e-mail (whole, its
start, or a piece of the local part), four to seven digits of a phone, a postal code
(whole, or its first characters) and an order number (whole, or its digits). It prints p50 and p95 per
kind and over all, per run, and the median of the runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from contracts.accounts import SearchBillingAccounts
from persistence.database import upgrade
from persistence.engine import make_engine
from persistence.repositories import ReferenceCache
from persistence.uow import SqlUnitOfWork
from services.accounts import search
from services.accounts.handlers import search_accounts

DATABASE = "ordercare_bench_search"
PG = "postgresql://postgres@127.0.0.1:5432"
KINDS = ("name", "email", "phone", "postal_code", "order_id")

FIRST = {
    "DE": "Anna Lena Lea Marie Sophie Hannah Emma Mia Laura Julia Katharina Sabine Ursula Petra "
    "Monika Jürgen Klaus Stefan Thomas Michael Andreas Lukas Jonas Felix Maximilian Paul Leon "
    "Tobias Florian Sebastian Uwe Dieter Wolfgang Matthias Björn Jörg",
    "FR": "Camille Léa Manon Chloé Inès Sarah Julie Claire Élodie Nathalie Isabelle Sophie Amélie "
    "Louis Gabriel Hugo Lucas Jules Arthur Nicolas Julien Pierre Antoine Mathieu François "
    "Olivier Thierry Sébastien Jérôme",
    "GB": "Olivia Amelia Isla Ava Grace Lily Freya Charlotte Emily Ruby Sophie Jessica Rebecca "
    "Oliver George Harry Jack Charlie Jacob Thomas James William Henry Alfie Oscar Edward "
    "Samuel Daniel Matthew",
    "NL": "Sanne Lotte Fleur Anouk Femke Eva Tess Noor Lieke Daan Sem Lars Bram Thijs Ruben Sven "
    "Jeroen Joost Pieter Wouter Maarten Niels Koen",
    "US": "Emma Madison Abigail Ashley Brittany Jennifer Megan Taylor Kayla Hailey Ethan Mason "
    "Logan Tyler Brandon Austin Dylan Justin Kevin Ryan Christopher Joshua Anthony Andrew",
    "AT": "Anna Lena Johanna Valentina Theresa Magdalena Katharina Elias Jakob Tobias Lukas "
    "Florian Fabian Dominik Stefan Christoph Alexander Manuel Bernhard",
}
LAST = {
    "DE": "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann "
    "Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König "
    "Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel "
    "Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht "
    "Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto "
    "Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn "
    "Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer",
    "FR": "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre "
    "Mercier Dupont Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc "
    "Guérin Muller Henry Roussel Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Lopez "
    "Fontaine Chevalier Robin Masson Sanchez Gérard Nguyen Boyer Denis Lemaire Duval Joly "
    "Gautier Roger Roche Roy Noël Meyer Lucas Meunier Jean Perez Marchand Dufour Blanchard",
    "GB": "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips Mason "
    "Mitchell Rose Davis Rodriguez Cox Alexander Morgan Hughes Edwards Hill Moore Clark Harrison "
    "Scott Young Morris Ward Turner Carter Cooper Harris King Lee Martin Baker Allen Lovelace "
    "Babbage Hopper Turing Byron Somerville Herschel Faraday Darwin Brunel Nightingale",
    "NL": "de Jong Jansen de Vries van den Berg van Dijk Bakker Janssen Visser Smit Meijer de Boer "
    "Mulder de Groot Bos Vos Peters Hendriks van Leeuwen Dekker Brouwer de Wit Dijkstra Smits "
    "de Graaf van der Meer van der Linden Kok Jacobs de Haan Vermeulen van den Heuvel van der "
    "Veen van den Broek de Bruijn de Bruin van der Heijden Schouten van Beek Willems van Vliet",
    "US": "Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Kowalski",
    "AT": "Gruber Huber Bauer Wagner Müller Pichler Steiner Moser Mayer Hofer Leitner Berger "
    "Fuchs Eder Fischer Schmid Winkler Weber Schwarz Maier Schneider Reiter Mayr Schmidt Wimmer "
    "Egger Brunner Lang Baumgartner Auer Binder Lechner Wolf Wallner Aigner Ebner Koller Lehner",
}
DOMAINS = {
    "DE": ["gmx.de", "web.de", "t-online.de", "gmail.com", "posteo.de", "outlook.de"],
    "FR": ["orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr", "hotmail.fr"],
    "GB": ["btinternet.com", "gmail.com", "outlook.com", "yahoo.co.uk", "sky.com"],
    "NL": ["ziggo.nl", "kpnmail.nl", "gmail.com", "hotmail.nl", "xs4all.nl"],
    "US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com", "proton.me"],
    "AT": ["gmx.at", "aon.at", "gmail.com", "chello.at", "a1.net"],
}
COUNTRIES = ["DE"] * 35 + ["FR"] * 20 + ["GB"] * 15 + ["NL"] * 10 + ["US"] * 10 + ["AT"] * 10
CITIES = {"DE": "Berlin", "FR": "Paris", "GB": "London", "NL": "Amsterdam", "US": "Boston",
          "AT": "Wien"}  # fmt: skip
LETTERS = "ABCDEFGHJKLMNPRSTUVWXY"


@dataclass(frozen=True, slots=True)
class Person:
    account_id: str
    name: str
    email: str
    phone: str | None
    postal_code: str | None
    country: str


def ascii_of(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in plain if c.isascii() and c.isalnum()).lower()


def postal_code(rnd: random.Random, country: str) -> str:
    if country in ("DE", "FR", "US"):
        return f"{rnd.randrange(1000, 99999):05d}"
    if country == "AT":
        return str(rnd.randrange(1010, 9999))
    if country == "NL":
        return f"{rnd.randrange(1000, 9999)} {rnd.choice(LETTERS)}{rnd.choice(LETTERS)}"
    area = rnd.choice(["SW", "SE", "N", "E", "W", "NW", "EC", "M", "B", "LS", "G", "EH", "CF"])
    digit, letters = rnd.randrange(1, 20), rnd.choice(LETTERS) + rnd.choice(LETTERS)
    return f"{area}{digit} {rnd.randrange(1, 10)}{letters}"


def phone(rnd: random.Random, country: str) -> str:
    n = rnd.randrange
    return {
        "DE": lambda: rnd.choice(
            [
                f"+49 30 {n(1000000, 99999999)}",
                f"0151 {n(10000000, 99999999)}",
                f"+49 (0)89 {n(100000, 9999999)}",
            ]
        ),
        "FR": lambda: f"+33 {n(1, 7)} {n(10, 99)} {n(10, 99)} {n(10, 99)} {n(10, 99)}",
        "GB": lambda: rnd.choice(
            [f"+44 20 {n(7000, 8999)} {n(1000, 9999)}", f"07{n(100, 999)} {n(100000, 999999)}"]
        ),
        "NL": lambda: f"+31 6 {n(10000000, 99999999)}",
        "US": lambda: rnd.choice(
            [
                f"({n(201, 989)}) {n(200, 999)}-{n(1000, 9999)}",
                f"+1 {n(201, 989)} {n(200, 999)} {n(1000, 9999)}",
            ]
        ),
        "AT": lambda: f"+43 664 {n(1000000, 9999999)}",
    }[country]()


def people(count: int, seed: int = 5) -> Iterator[Person]:
    rnd = random.Random(seed)
    firsts = {c: names.split() for c, names in FIRST.items()}
    lasts = {c: _surnames(names) for c, names in LAST.items()}
    for i in range(count):
        country = rnd.choice(COUNTRIES)
        first, last = rnd.choice(firsts[country]), rnd.choice(lasts[country])
        f, la = ascii_of(first), ascii_of(last)
        local = rnd.choice([f"{f}.{la}", f"{f[0]}{la}", f"{f}{la}{rnd.randrange(50, 99)}",
                            f"{f}.{la}{rnd.randrange(1, 999)}", f"{la}.{f}"])  # fmt: skip
        yield Person(
            f"acc_{i:07d}",
            f"{first} {last}",
            f"{local}@{rnd.choice(DOMAINS[country])}",
            phone(rnd, country) if rnd.random() < 0.85 else None,
            postal_code(rnd, country) if rnd.random() < 0.9 else None,
            country,
        )


def _surnames(text: str) -> list[str]:
    """Surnames, keeping Dutch ones with their particles (`van der Meer`)."""
    names, parts = [], []
    for word in text.split():
        parts.append(word)
        if word[0].isupper():
            names.append(" ".join(parts))
            parts = []
    return names


# --- the scratch database -------------------------------------------------------------------


def admin(sql: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type,unused-ignore]


def build(accounts: int, orders: int) -> list[Person]:
    """A fresh database with every migration, the accounts and the orders; returns the people."""
    admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DATABASE}"')
    upgrade(f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}")
    everyone = list(people(accounts))
    started = time.perf_counter()
    with psycopg.connect(f"{PG}/{DATABASE}", autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix\\_%trgm'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")  # type: ignore[arg-type,unused-ignore]
        copy_accounts(conn, everyone)
        copy_orders(conn, everyone, orders)
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE billing_accounts")
        conn.execute("VACUUM ANALYZE orders")
    print(f"loaded {accounts:,} accounts and {orders:,} orders, indexed, in "
          f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    return everyone


def copy_accounts(conn: psycopg.Connection[Any], everyone: list[Person]) -> None:
    now = datetime.now(UTC)
    columns = "id, name, email, phone, billing_address, locale, status, created_at, updated_at"
    with conn.cursor().copy(f"COPY billing_accounts ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type,unused-ignore]
        for p in everyone:
            address = None
            if p.postal_code:
                address = orjson.dumps({"name": p.name, "line1": "1 Main Street", "city":
                                        CITIES[p.country], "postal_code": p.postal_code,
                                        "country": p.country}).decode()  # fmt: skip
            copy.write_row(
                (p.account_id, p.name, p.email, p.phone, address, "en", "active", now, now)
            )


ORDER_DOC = orjson.dumps({"v": 2, "lines": [], "delivery": {"method": "standard", "country": "DE",
    "fee": "4.95"}, "tax_rates": {}, "payment": {"authorized": "4.95", "captured": "4.95",
    "refunded": "0"}}).decode()  # fmt: skip


def order_numbers(count: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    number, found = 10_000_000, []
    for _ in range(count):
        number += rnd.randrange(1, 60)
        found.append(f"SO-{number}")
    return found


def copy_orders(conn: psycopg.Connection[Any], everyone: list[Person], count: int) -> None:
    rnd, now = random.Random(11), datetime.now(UTC)
    columns = "id, account_id, status, currency, version, total, doc, created_at, updated_at"
    with conn.cursor().copy(f"COPY orders ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type,unused-ignore]
        for number in order_numbers(count):
            owner = rnd.choice(everyone).account_id
            copy.write_row((number, owner, "open", "EUR", 1, "4.95", ORDER_DOC, now, now))


# --- the queries ------------------------------------------------------------------------------


def queries(kind: str, everyone: list[Person], numbers: list[str], n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    make: dict[str, Callable[[], str | None]] = {
        "name": lambda: name_query(rnd, rnd.choice(everyone)),
        "email": lambda: email_query(rnd, rnd.choice(everyone).email),
        "phone": lambda: phone_fragment(rnd, rnd.choice(everyone).phone),
        "postal_code": lambda: postal_query(rnd, rnd.choice(everyone).postal_code),
        "order_id": lambda: order_query(rnd, rnd.choice(numbers)),
    }
    found: list[str] = []
    while len(found) < n:
        q = make[kind]()
        if q and len(q.strip()) >= 3:
            found.append(q)
    return found


def name_query(rnd: random.Random, person: Person) -> str:
    """What an agent types for a name: the surname, the first name and the start of the
    surname, the start of the surname, or a piece of it; a fifth of them in capitals."""
    first, last = person.name.split(" ", 1)
    q = rnd.choice(
        [
            last,
            f"{first} {last[: rnd.randrange(2, 5)]}",
            last[: rnd.randrange(4, 7)],
            fragment(rnd, last.split()[-1], 4, 6),
        ]
    )
    return q.upper() if rnd.random() < 0.2 else q


def email_query(rnd: random.Random, email: str) -> str:
    """The whole address, the start of it, or a piece of its local part."""
    local = email.split("@", 1)[0]
    return rnd.choice([email, email[: rnd.randrange(5, 10)], fragment(rnd, local, 5, 9)])


def fragment(rnd: random.Random, text: str, shortest: int, longest: int) -> str:
    size = min(len(text), rnd.randrange(shortest, longest + 1))
    start = rnd.randrange(0, len(text) - size + 1)
    return text[start : start + size]


def order_query(rnd: random.Random, number: str) -> str:
    """The whole number (SO-10412345), or its digits as a customer reads them out."""
    return number if rnd.random() < 0.5 else number[3:]


def phone_fragment(rnd: random.Random, number: str | None) -> str | None:
    if number is None:
        return None
    digits = "".join(c for c in number if c.isdigit())
    return fragment(rnd, digits, 4, 7)


def postal_query(rnd: random.Random, code: str | None) -> str | None:
    if code is None:
        return None
    return code if rnd.random() < 0.7 else code[: max(3, len(code) - 2)].lower()


# --- timing -------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_once(
    engine: Any, cache: ReferenceCache, work: dict[str, list[str]]
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {k: [] for k in work}
    mixed = [(k, q) for k, qs in work.items() for q in qs]
    random.Random(len(mixed)).shuffle(mixed)
    actor = {"id": "bench-agent", "role": "agent"}
    hits = 0
    for kind, q in mixed:
        query = SearchBillingAccounts.model_validate({"actor": actor, "q": q})
        started = time.perf_counter()
        with SqlUnitOfWork(engine, cache) as uow:
            result = search_accounts(query, uow)
        timings[kind].append((time.perf_counter() - started) * 1000)
        hits += bool(result["hits"])
    print(f"  {hits} of {len(mixed)} queries found something", flush=True)
    return timings


def report(label: str, timings: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    rows = {k: (percentile(v, 50), percentile(v, 95)) for k, v in timings.items()}
    every = [t for v in timings.values() for t in v]
    rows["overall"] = (percentile(every, 50), percentile(every, 95))
    print(
        f"{label}: " + ", ".join(f"{k} p50 {a:.1f} ms p95 {b:.1f} ms" for k, (a, b) in rows.items())
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=200, help="per kind and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="search the kept database again")
    parser.add_argument(
        "--candidates", type=int, help="rank at most this many matches per tier and field"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print the plan of one query per kind"
    )
    args = parser.parse_args()
    if args.candidates:
        search.CANDIDATES = args.candidates
    everyone = list(people(args.accounts)) if args.reuse else build(args.accounts, args.orders)
    numbers = order_numbers(args.orders)
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}", pool_size=2)
    cache = ReferenceCache()
    try:
        if args.explain:
            explain(engine, cache, everyone, numbers)
        warm = {k: queries(k, everyone, numbers, 20, seed=99) for k in KINDS}
        run_once(engine, cache, warm)
        runs = []
        for n in range(args.runs):
            work = {k: queries(k, everyone, numbers, args.queries, seed=n * 10 + i)
                    for i, k in enumerate(KINDS)}  # fmt: skip
            runs.append(report(f"run {n + 1}", run_once(engine, cache, work)))
        print(f"median of {args.runs} runs ({args.accounts:,} accounts, {args.orders:,} orders, "
              f"{args.queries} queries of each kind a run, no field given):")  # fmt: skip
        for kind in [*KINDS, "overall"]:
            p50 = statistics.median(r[kind][0] for r in runs)
            p95 = statistics.median(r[kind][1] for r in runs)
            print(f"  {kind:<12} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    finally:
        engine.dispose()
        if not args.keep:
            admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return 0


def explain(engine: Any, cache: ReferenceCache, everyone: list[Person], numbers: list[str]) -> None:
    """EXPLAIN ANALYZE the statement one query of each kind runs."""
    from services.accounts.search import CANDIDATES, plan

    for kind in KINDS:
        [q] = queries(kind, everyone, numbers, 1, seed=1)
        with SqlUnitOfWork(engine, cache) as uow:
            views = uow.account_views
            statement, params = views.statement(plan(q, None), 21, CANDIDATES)
            rows = views.sql.all(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", params)
        print(f"--- {kind}: {q!r}\n" + "\n".join(r[0] for r in rows))


if __name__ == "__main__":
    sys.exit(main())
