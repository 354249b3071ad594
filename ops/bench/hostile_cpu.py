"""What the most expensive hostile message of each kind costs a worker, in CPU.

Builds the InboundProcessor as a worker does (actors/bootstrap.py's Runtime: the engine on
the real PostgreSQL, a ReferenceCache, a SqlUnitOfWork per message) on a scratch database,
and feeds it one crafted worst case per kind of hostile input (nineteen), each as the consumer would
hand it over (an over-size body as its first bytes and its size). Each message's cost is
the CPU time of the processing thread (`time.thread_time`, so PostgreSQL's own work and
waiting on it do not count), the median of `--runs` (5) with a fresh command id each time.
Prints every kind, then the ten most expensive, and exits 1 if any costs more than
`--budget-ms` (50).

    ops/run sh python ops/bench/hostile_cpu.py [--runs 5] [--budget-ms 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from harness import create_database, drop_database, sqlalchemy_url

LIMIT = 262_144
VISA = "4111111111111111"


@dataclass(frozen=True)
class Case:
    kind: str
    routing_key: str
    #: Builds the body from a fresh command id.
    body: Callable[[str], bytes]
    exchange: str = "ordercare.commands"
    #: Over-size: the size the delivery had (the body is then its first 4 KiB).
    size: int | None = None


def envelope(command_id: str, type_: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": command_id, "source": "bench/hostile", "type": type_,
            "data": data, **extra}  # fmt: skip


AGENT = {"id": "agent-1", "role": "agent"}


def cancel_with(note: Any, **extra: Any) -> Callable[[str], bytes]:
    def build(command_id: str) -> bytes:
        data = {"actor": AGENT, "order_id": "ord_x", "reason": "customer_request", "note": note}
        return orjson.dumps(envelope(command_id, "order.cancel", data, **extra))

    return build


def billing_with(**fields: Any) -> Callable[[str], bytes]:
    def build(command_id: str) -> bytes:
        data = {"actor": AGENT, "account_id": "acc_x", **fields}
        return orjson.dumps(envelope(command_id, "billing_account.update", data))

    return build


def fill(unit: str, budget: int = LIMIT - 400) -> str:
    return unit * (budget // len(unit.encode()))


def cases() -> list[Case]:
    spaced_card = "\u00a0".join(VISA[i : i + 4] for i in range(0, 16, 4))
    deep = 1000
    many_lines = [{"sku": f"SKU-{n}", "quantity": -1} for n in range(7500)]
    return [
        Case("note: 250 KB of '1 1 1 …'", "order.cancel", cancel_with(fill("1 "))),
        Case(
            "note: 18,000 runs of 13 digits failing Luhn",
            "order.cancel",
            cancel_with(fill("4111111111112x")),
        ),
        Case(
            "billing name: 18,000 runs failing Luhn (scanned)",
            "billing_account.update",
            billing_with(name=fill("4111111111112x")),
        ),
        Case(
            "billing: 9,000 small strings with digits",
            "billing_account.update",
            billing_with(tags=[f"{n:012d}" for n in range(9000)]),
        ),
        Case(
            "billing: a card in a key of every object",
            "billing_account.update",
            billing_with(extra=[{VISA: n} for n in range(6000)]),
        ),
        Case(
            "not JSON: 256 KB of card-like runs",
            "billing_account.update",
            lambda _id: fill(f"{spaced_card} ").encode()[: LIMIT - 1] + b"\xff",
        ),
        Case(
            "not JSON: 256 KB of JSON escapes of digits",
            "billing_account.update",
            lambda _id: (b'{"n": "' + fill("\\u0031").encode())[: LIMIT - 1] + b"\xff",
        ),
        Case(
            "not UTF-8: 256 KB of random-ish bytes",
            "order.cancel",
            lambda _id: bytes((n * 151) % 256 for n in range(LIMIT)),
        ),
        Case(
            "deep: 1000 levels",
            "order.cancel",
            lambda i: (
                orjson.dumps(envelope(i, "order.cancel", {}))[:-1]
                + b', "x": '
                + b"[" * deep
                + b"]" * deep
                + b"}"
            ),
        ),
        Case(
            "deep: 32 levels, 256 KB wide",
            "order.cancel",
            cancel_with(
                None, x=[[[[[[[[[[[[[[[[[[[[[[[[[[[[1] * 20]]]]]]]]]]]]]]]]]]]]]]]]]]] * 2500
            ),
        ),
        Case(
            "NUL: 256 KB of \\u0000 keys",
            "order.cancel",
            cancel_with(None, x={f"k{n}\x00": n for n in range(12000)}),
        ),
        Case(
            "schema: 7,500 invalid lines",
            "order.create",
            lambda i: orjson.dumps(
                envelope(i, "order.create", {"actor": AGENT, "lines": many_lines})
            ),
        ),
        Case(
            "envelope: 256 KB of extension attributes",
            "order.cancel",
            cancel_with(None, **{f"ext{n}": "x" * 8 for n in range(12000)}),
        ),
        Case(
            "over-size: 40 MB (consumer passes 4 KiB)",
            "order.cancel",
            lambda i: orjson.dumps(envelope(i, "order.cancel", {"note": "x" * 5000}))[:4096],
            size=40 * 1024 * 1024,
        ),
        Case(
            "billing name: 256 KB of valid IBANs",
            "billing_account.update",
            billing_with(name=fill("GB82WEST12345698765432 x ")),
        ),
        Case(
            "not JSON: 256 KB of valid IBANs",
            "order.cancel",
            lambda _id: fill("GB82WEST12345698765432 x ").encode() + b"\xff",
        ),
        Case(
            "billing name: 256 KB of runs no card is laid out like",
            "billing_account.update",
            billing_with(name=fill("1 22 " * 25 + "x ")),
        ),
        Case(
            "not JSON: 256 KB of surrogate-pair escapes of digits",
            "billing_account.update",
            lambda _id: (b'{"n": "' + fill("\\ud835\\udfcf").encode())[: LIMIT - 1] + b"\xff",
        ),
        Case(
            "unknown type with a card-like name",
            "4111 1111 1111 1111",
            lambda i: orjson.dumps(envelope(i, "4111 1111 1111 1111", {})),
        ),
    ]


class _NoReplies:
    def reply(self, message: Any) -> None:
        """Nothing here has a reply_to."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--budget-ms", type=float, default=50.0)
    args = parser.parse_args()

    from actors.inbound import InboundMessage, InboundProcessor
    from actors.logs import configure_logging
    from actors.settings import Settings
    from persistence.database import upgrade
    from persistence.engine import make_engine
    from persistence.repositories import ReferenceCache
    from persistence.uow import SqlUnitOfWork

    configure_logging("ERROR")
    db = f"ordercare_bench_hostile_{uuid.uuid4().hex[:6]}"
    create_database(db)
    try:
        url = sqlalchemy_url(db)
        upgrade(url)
        engine = make_engine(url, pool_size=2)
        settings = Settings(database_url=url, max_message_bytes=LIMIT)
        cache = ReferenceCache()
        processor = InboundProcessor(settings, lambda: SqlUnitOfWork(engine, cache), _NoReplies())
        results: list[tuple[float, str, int]] = []
        for case in cases():
            costs = []
            size = 0
            for _ in range(args.runs):
                body = case.body(f"hostile-{uuid.uuid4()}")
                size = case.size or len(body)
                msg = InboundMessage(body, case.exchange, case.routing_key, size=case.size,
                                     message_id=f"m-{uuid.uuid4().hex[:8]}")  # fmt: skip
                started = time.thread_time()
                processor.process(msg)
                costs.append((time.thread_time() - started) * 1000)
            results.append((statistics.median(costs), case.kind, size))
        engine.dispose()
    finally:
        drop_database(db)

    print(f"worker CPU per message, median of {args.runs} (ms), one crafted worst case per kind:")
    for cost, kind, size in results:
        print(f"  {cost:7.2f}  {kind}  ({size:,} bytes)")
    print("the ten most expensive:")
    for cost, kind, _size in sorted(results, reverse=True)[:10]:
        print(f"  {cost:7.2f}  {kind}")
    worst = max(results)
    verdict = "OK" if worst[0] <= args.budget_ms else "OVER BUDGET"
    print(f"worst: {worst[0]:.2f} ms ({worst[1]}), budget {args.budget_ms:.0f} ms: {verdict}")
    return 0 if worst[0] <= args.budget_ms else 1


if __name__ == "__main__":
    sys.exit(main())
