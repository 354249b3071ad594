"""Publish hostile messages to real OrderCare processes and account for every one.

The promise checked: every delivery ends in exactly one of
  (a) an outcome (`command.accepted` / `command.rejected`) whose `data.command_id` is,
      verbatim, the envelope id of the body published, also on reply_to with the
      correlation_id sent when the message had a usable reply_to; or
  (b) a dead letter whose headers carry `x-ordercare-reason` and `x-original-message-id`
      equal to the message_id published.
Besides: nothing in Dramatiq's `.XQ` queues, no worker or relay process died or was
replaced, every effect in PostgreSQL (any row with a `command_id`) belongs to an accepted
command, no planted card number appears in any event, reply, dead letter, table or log
line, and the processes' memory after warm-up and at the end.

Outcomes are counted by event id: a redelivered outcome is the same event (README, "one
outcome per command: a redelivery re-sends the very same outcome event"), counted once
and reported as a copy. Completion is waited for by condition, never by fixed sleeps.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pika
import pika.exceptions
import psycopg
from psycopg import sql

from actors.settings import Settings
from actors.topology import declare
from tests.e2e.conftest import Processes, environment
from tests.hostile.generator import Generator, Group, Hostile, seeding
from tests.processes import Process

OUTCOME_TYPES = frozenset({"command.accepted", "command.rejected"})
MB = 1024.0
#: Violating messages described (regenerated) per kind of violation.
EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class Options:
    n: int
    seed: int
    processes: int = 2
    threads: int = 4
    #: Messages published but not yet answered before publishing waits.
    window: int = 200
    batch: int = 25
    #: With a full window and nothing arriving for this long, publish anyway.
    stall_seconds: float = 2.0
    #: When half a window of messages has waited this long for an answer, stop publishing:
    #: the pipeline is stuck (a violation), and more messages would only queue behind it.
    give_up_seconds: float = 30.0
    #: All accounted: stop once nothing more arrived for this long (late duplicates).
    settle_seconds: float = 1.0
    #: Not all accounted: give up once nothing arrived for this long.
    quiet_seconds: float = 8.0
    #: The longest the final drain may take; default 60 s + 20 ms a message.
    drain_seconds: float | None = None
    #: Messages accounted before the warm-up memory reading; default 10 %, at most 500.
    warmup: int | None = None
    #: RSS growth after warm-up that fails the run, applied from `rss_check_from` messages.
    rss_growth_mb: float = 20.0
    rss_check_from: int = 20_000


# --- card numbers -----------------------------------------------------------------------------

_NON_DIGITS = re.compile(r"[^0-9]+")
_ESCAPES = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|U([0-9a-fA-F]{8}))")


def _unescape(text: str) -> str:
    """JSON and Python escapes decoded, so `4111\\u20091111` shows its digits."""

    def char(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2) or match.group(3), 16)
        return chr(code) if code <= 0x10FFFF else match.group(0)

    return _ESCAPES.sub(char, text)


class CardScanner:
    """Finds planted card numbers in one text value at a time, by its digits alone."""

    def __init__(self) -> None:
        self.planted: dict[str, int] = {}  # digits -> the first message that planted them
        self.lengths: set[int] = set()
        self._starts: re.Pattern[str] | None = None

    def plant(self, digits: str, n: int) -> None:
        if digits not in self.planted:
            self.planted[digits] = n
            self.lengths.add(len(digits))
            self._starts = None

    def find(self, text: str) -> set[str]:
        if not self.planted:
            return set()
        found = self._find(text)
        if "\\" in text:
            found |= self._find(_unescape(text))
        return found

    def _find(self, text: str) -> set[str]:
        digits = _NON_DIGITS.sub("", text)
        if len(digits) < min(self.lengths):
            return set()
        if self._starts is None:
            self._starts = re.compile("[" + "".join(sorted({d[0] for d in self.planted})) + "]")
        hits = set()
        for match in self._starts.finditer(digits):
            at = match.start()
            for length in self.lengths:
                if digits[at : at + length] in self.planted:
                    hits.add(digits[at : at + length])
        return hits


def texts(value: Any) -> Iterator[str]:
    """Every text value in `value` (keys included), one at a time: bytes parsed as JSON
    where they are, else split at quotes; walked without recursion (bodies nest deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, bytes | bytearray | memoryview):
            raw = bytes(item)
            try:
                stack.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                yield from raw.decode("utf-8", "replace").split('"')
        elif isinstance(item, dict):
            for key, inner in item.items():
                stack.extend((key, inner))
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            yield str(item)


# --- processes --------------------------------------------------------------------------------


def group_pids(pgid: int) -> set[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            pids.add(int(entry.name))
    return pids


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(found.group(1)) if found else 0
    return total / MB


@dataclass(frozen=True, slots=True)
class Snapshot:
    pids: dict[str, frozenset[int]]
    rss: dict[str, float]


# --- records ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Sent:
    """What the harness keeps of a published message (the message itself is regenerated)."""

    n: int
    kind: str
    body_id: str | None
    dead_letter_id: str | None
    reply: bool
    correlation_id: bytes | None
    expect: str  # outcome | dead_letter | either (README's rule, informational)
    error: str | None = None


@dataclass(slots=True)
class Seen:
    """One outcome event (by event id) and where it arrived."""

    type: str
    command_type: str | None
    channels: set[str] = field(default_factory=set)


def _as_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


def _as_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def expected_path(body: bytes, max_bytes: int) -> str:
    """README ("Bad input"): a JSON object whose source, id and type are strings of 1-200
    characters (a type at most 100) without NUL gets an outcome; anything else a dead
    letter; over-size bodies either (named by their first attributes, or not)."""
    if len(body) > max_bytes:
        return "either"
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "dead_letter"
    if not isinstance(doc, dict):
        return "dead_letter"

    def named(key: str, longest: int) -> bool:
        value = doc.get(key)
        return isinstance(value, str) and 0 < len(value) <= longest and "\x00" not in value

    return (
        "outcome"
        if named("source", 200) and named("id", 200) and named("type", 100)
        else "dead_letter"
    )


# --- the report -------------------------------------------------------------------------------


@dataclass(slots=True)
class Violation:
    what: str
    count: int
    examples: list[str]


@dataclass(slots=True)
class Report:
    n: int
    seed: int
    published: int = 0
    outcomes: int = 0
    dead_letters: int = 0
    lost: int = 0
    duplicated: int = 0
    card_leaks: int = 0
    invalid_effects: int = 0
    restarts: int = 0
    worker_rss: tuple[float | None, float | None] = (None, None)
    relay_rss: tuple[float | None, float | None] = (None, None)
    #: Counted in the summary line when not zero, with `ok` false.
    extra: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    #: Informational: printed, never failing.
    notes: list[str] = field(default_factory=list)
    kinds: dict[str, Counter[str]] = field(default_factory=dict)
    #: (messages answered, worker MB, relay MB) at each tenth of the run.
    rss_trace: list[tuple[int, float, float]] = field(default_factory=list)
    elapsed: float = 0.0
    fatal: str | None = None

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.violations

    def summary(self) -> str:
        def mb(pair: tuple[float | None, float | None]) -> str:
            return "->".join("?" if v is None else f"{v:.0f}" for v in pair)

        extra = "".join(f", {count} {what}" for what, count in self.extra.items() if count)
        sent = f"{self.published} of {self.n}" if 0 < self.published < self.n else str(self.n)
        return (
            f"hostile: {sent} messages, {self.outcomes} outcomes, {self.dead_letters} dead "
            f"letters, {self.lost} lost, {self.duplicated} duplicated, {self.card_leaks} card "
            f"leaks, {self.invalid_effects} effects of invalid commands, worker rss "
            f"{mb(self.worker_rss)} MB, relay rss {mb(self.relay_rss)} MB, {self.restarts} "
            f"process restarts{extra}: {'OK' if self.ok else 'FAILED'}"
        )

    def render(self, examples: int = 3, verbose: bool = False) -> str:
        """The violations with their first examples, (verbose: notes and kinds), the summary."""
        lines = []
        if self.fatal:
            lines.append(f"FATAL: {self.fatal}")
        for v in self.violations:
            lines.append(f"{v.what}: {v.count}")
            lines.extend(f"  {e}" for e in v.examples[:examples])
        if verbose or not self.ok:
            lines.extend(f"note: {note}" for note in self.notes)
        if verbose:
            lines.append(f"seed {self.seed}, {self.published} published, {self.elapsed:.1f} s")
            trace = ", ".join(f"{n}: {w:.0f}/{r:.0f}" for n, w, r in self.rss_trace)
            lines.append(f"rss MB (answered: worker/relay): {trace}")
            lines.append(f"{'kind':<26} {'sent':>5} {'outc':>5} {'dead':>5} {'lost':>5} {'dup':>5}")
            for kind, c in sorted(self.kinds.items()):
                lines.append(
                    f"{kind:<26} {c['sent']:>5} {c['outcome']:>5} {c['dead_letter']:>5} "
                    f"{c['lost']:>5} {c['duplicated']:>5}"
                )
        lines.append(self.summary())
        return "\n".join(lines)


class _Fatal(Exception):
    pass


# --- the harness ------------------------------------------------------------------------------


class Harness:
    """One run: start the processes, seed, publish `options.n` messages, account, report."""

    def __init__(self, settings: Settings, processes: Processes, options: Options) -> None:
        self.settings = settings
        self.processes = processes
        self.options = options
        env = environment(settings)  # what the processes see (other ORDERCARE_ vars stripped)
        default = Settings.model_fields["max_message_bytes"].default
        self.max_bytes = int(env.get("ORDERCARE_MAX_MESSAGE_BYTES", default))
        self.generator = Generator(options.seed, self.max_bytes)
        self.exchanges: dict[Group, str] = {
            "commands": settings.commands_exchange,
            "warehouse": settings.warehouse_exchange,
            "payments": settings.payments_exchange,
        }
        self.scanner = CardScanner()
        self.sent: list[Sent] = []
        self.by_body_id: dict[str, int] = {}
        self.by_message_id: dict[str, int] = {}
        self.seed_ids: set[str] = set()
        self.outcomes: dict[str, dict[str, Seen]] = {}  # command id -> event id -> seen
        self.replies: dict[str, list[tuple[str, bytes | None]]] = {}
        self.dead: Counter[str] = Counter()
        self.stray_dead: list[str] = []
        self.stray_dead_count = 0
        self.copies = 0
        self.events_seen: Counter[str] = Counter()
        self.anomalies: list[str] = []
        self.settled: set[int] = set()
        self.last_arrival = time.monotonic()
        self.leaks: dict[tuple[str, str], str] = {}
        self.watched: dict[str, Process] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self._warmup_at = options.warmup or max(1, min(500, options.n // 10))
        self.stalled: str | None = None
        self.rss_trace: list[tuple[int, float, float]] = []
        #: (when published, n) in publishing order, answered ones dropped from the front.
        self.queue: deque[tuple[float, int]] = deque()

    # --- running ------------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        report = Report(self.options.n, self.options.seed)
        self._connect()
        try:
            self.watched["relay"] = self.processes.start("relay", "--metrics-port", "0")
            self.watched["worker"] = self.processes.start(
                "worker", "--processes", str(self.options.processes),
                "--threads", str(self.options.threads), "--metrics-port", "0",
            )  # fmt: skip
            try:
                self._seed()
            except _Fatal as exc:
                report.fatal = str(exc)
                return report
            self.snapshots["start"] = self._snapshot()
            self._stream()
            self._drain()
            self.snapshots["end"] = self._snapshot()
            self._account(report)
        finally:
            self._close()
            report.elapsed = time.monotonic() - started
        return report

    def _connect(self) -> None:
        params = pika.URLParameters(self.settings.amqp_url)
        self.collector = pika.BlockingConnection(params)
        channel = self.collector.channel()
        declare(channel, self.settings)
        channel.basic_qos(prefetch_count=2000)
        events = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(events, self.settings.events_exchange, routing_key="#")
        self.reply_queue: str = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_consume(events, self._on_event, auto_ack=True)
        channel.basic_consume(self.reply_queue, self._on_reply, auto_ack=True)
        channel.basic_consume(self.settings.dead_letter_queue, self._on_dead, auto_ack=True)
        self._open_publisher()

    def _open_publisher(self) -> None:
        self.publisher = pika.BlockingConnection(pika.URLParameters(self.settings.amqp_url))
        self.channel = self.publisher.channel()
        self.channel.confirm_delivery()

    def _close(self) -> None:
        for connection in (getattr(self, "publisher", None), getattr(self, "collector", None)):
            if connection is not None and connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.close()

    def _pump(self, seconds: float) -> None:
        self.collector.process_data_events(time_limit=seconds)
        if self.publisher.is_open:
            self.publisher.process_data_events(time_limit=0)  # heartbeats

    def _dead_processes(self) -> list[str]:
        return [name for name, p in self.watched.items() if p.popen.poll() is not None]

    def _seed(self) -> None:
        """The catalogue and account, then orders: each phase accepted before the next."""
        for phase in seeding(self.options.seed):
            for doc in phase:
                self.seed_ids.add(doc["id"])
                props = pika.BasicProperties(delivery_mode=2, message_id=doc["id"])
                self.channel.basic_publish(
                    self.settings.commands_exchange, doc["type"], orjson.dumps(doc), props
                )
            ids = {doc["id"] for doc in phase}
            deadline = time.monotonic() + 120
            while not ids <= self.outcomes.keys():
                self._pump(0.1)
                if dead := self._dead_processes():
                    raise _Fatal(f"{', '.join(dead)} exited while seeding: {self._tail()}")
                if time.monotonic() > deadline:
                    raise _Fatal(f"no outcome for the seeding messages in 120 s: {self._tail()}")
            refused = [i for i in ids if not self._accepted(i)]
            if refused:
                raise _Fatal(f"seeding was rejected: {refused}")

    def _tail(self) -> str:
        return self.processes.logs()[-2000:]

    def _stream(self) -> None:
        options, n = self.options, self.options.n
        warmup = self._warmup_at
        progress = time.monotonic()
        published = 0
        while published < n:
            self._pump(0)
            self._warm(warmup)
            progress = max(progress, self.last_arrival)
            in_flight = published - len(self.settled) - self.stray_dead_count
            if in_flight >= options.window:
                old = self._waiting_longer_than(options.give_up_seconds)
                if old >= options.window // 2:
                    self.stalled = (
                        f"stopped publishing after {published} of {n} messages: {old} waited "
                        f"over {options.give_up_seconds:.0f} s for an answer (see the relay's "
                        "and worker's error lines)"
                    )
                    return
                if time.monotonic() - progress < options.stall_seconds:
                    self._pump(0.05)
                    continue
            progress = time.monotonic()
            count = min(options.batch, n - published)
            for hostile in self.generator.messages(count, published):
                self._publish(hostile)
            published += count

    def _waiting_longer_than(self, seconds: float) -> int:
        """Published messages still unanswered after `seconds`."""
        while self.queue and self.queue[0][1] in self.settled:
            self.queue.popleft()
        cutoff, count = time.monotonic() - seconds, 0
        for at, n in self.queue:
            if at > cutoff:
                break
            count += n not in self.settled
        return count

    def _warm(self, warmup: int) -> None:
        if "warm" not in self.snapshots and len(self.settled) >= warmup:
            self.snapshots["warm"] = self._snapshot()
        step = max(1, self.options.n // 10)
        if len(self.settled) >= step * (len(self.rss_trace) + 1):
            snap = self._snapshot()
            self.rss_trace.append((len(self.settled), snap.rss["worker"], snap.rss["relay"]))

    def _drain(self) -> None:
        """Until every message is accounted and nothing is left to do, or nothing arrives
        any more while the work left (outbox rows, ready and delayed messages) stands still."""
        options = self.options
        limit = options.drain_seconds or 60 + 0.02 * options.n
        deadline = time.monotonic() + limit
        published = sum(1 for s in self.sent if s.error is None)
        moved = time.monotonic()
        last_pending: tuple[int, int] | None = None
        while True:
            self._pump(0.1)
            self._warm(self._warmup_at)
            idle = time.monotonic() - max(self.last_arrival, moved)
            all_in = len(self.settled) >= published
            if all_in and idle >= options.settle_seconds and self._pending() == (0, 0):
                return
            if idle >= options.quiet_seconds:
                pending = self._pending()
                if pending in ((0, 0), last_pending):
                    return
                last_pending, moved = pending, time.monotonic()
            if time.monotonic() > deadline:
                self.anomalies.append(f"the drain stopped after {limit:.0f} s still receiving")
                return

    def _pending(self) -> tuple[int, int]:
        """Outbox rows, and messages ready in the inbound queues and their delay queues."""
        queues = [*self.settings.inbound_queues, *(f"{q}.DQ" for q in self.settings.inbound_queues)]
        return self._outbox(), sum(self._depth(q) or 0 for q in queues)

    # --- publishing ---------------------------------------------------------------------------

    def _publish(self, h: Hostile) -> None:
        for card in h.cards:
            self.scanner.plant(card.digits, h.n)
        props = dict(h.properties)
        if h.reply:
            props["reply_to"] = self.reply_queue
        sent = Sent(
            h.n, h.kind, h.body_id, h.dead_letter_id, h.reply,
            _as_bytes(props.get("correlation_id")), expected_path(h.body, self.max_bytes),
        )  # fmt: skip
        try:
            self.channel.basic_publish(
                self.exchanges[h.group], h.routing_key, h.body,
                pika.BasicProperties(**props), mandatory=True,
            )  # fmt: skip
        except pika.exceptions.UnroutableError:
            sent.error = "unroutable"
        except pika.exceptions.NackError:
            sent.error = "nacked"
        except (pika.exceptions.AMQPError, ValueError, TypeError) as exc:
            sent.error = f"{type(exc).__name__}: {exc}"[:200]
            if self.publisher.is_open:
                self.publisher.close()
            self._open_publisher()
        self.sent.append(sent)
        if sent.error is not None:
            return
        if h.body_id is not None:
            if h.body_id in self.by_body_id:
                self.anomalies.append(
                    f"#{h.n} repeats the body id of #{self.by_body_id[h.body_id]}"
                )
            else:
                self.by_body_id[h.body_id] = h.n
                if h.body_id in self.outcomes:  # it came back before it was registered
                    self.settled.add(h.n)
        if h.dead_letter_id is not None:
            self.by_message_id[h.dead_letter_id] = h.n
        self.queue.append((time.monotonic(), h.n))

    # --- collecting ---------------------------------------------------------------------------

    def _arrived(self) -> None:
        self.last_arrival = time.monotonic()

    def _on_event(self, _ch: Any, _method: Any, _props: Any, body: bytes) -> None:
        self._arrived()
        doc = self._parse(body, "event")
        if doc is None:
            return
        event_type = doc.get("type")
        self.events_seen[str(event_type)] += 1
        self._scan(doc, f"event {event_type}")
        if event_type in OUTCOME_TYPES:
            self._outcome(doc, "events")

    def _on_reply(self, _ch: Any, _method: Any, props: Any, body: bytes) -> None:
        self._arrived()
        doc = self._parse(body, "reply")
        if doc is None:
            return
        self._scan(doc, "reply")
        command_id = self._outcome(doc, "reply")
        if command_id is not None:
            entry = (str(doc.get("id")), _as_bytes(props.correlation_id))
            self.replies.setdefault(command_id, []).append(entry)

    def _on_dead(self, _ch: Any, _method: Any, props: Any, body: bytes) -> None:
        self._arrived()
        headers = props.headers or {}
        self._scan(body, "dead-letter body")
        self._scan(headers, "dead-letter headers")
        self._scan([props.message_id, props.correlation_id, props.type], "dead-letter properties")
        original = _as_text(headers.get("x-original-message-id"))
        reason = headers.get("x-ordercare-reason")
        if original is not None and original in self.by_message_id and reason:
            self.dead[original] += 1
            self.settled.add(self.by_message_id[original])
            return
        self.stray_dead_count += 1
        if len(self.stray_dead) < 50:
            self.stray_dead.append(
                f"reason={reason!r} x-original-message-id={headers.get('x-original-message-id')!r}"
                f" routing_key={headers.get('x-original-routing-key')!r} body={body[:120]!r}"
            )

    def _parse(self, body: bytes, where: str) -> dict[str, Any] | None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            self._scan(body, where)
            self.anomalies.append(f"a {where} that is not a JSON object: {body[:120]!r}")
            return None
        return doc

    def _outcome(self, doc: dict[str, Any], channel: str) -> str | None:
        raw = doc.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        command_id, event_id = data.get("command_id"), doc.get("id")
        if not isinstance(command_id, str) or not isinstance(event_id, str):
            self.anomalies.append(
                f"an outcome without command_id or id: {orjson.dumps(doc)[:200]!r}"
            )
            return None
        seen = self.outcomes.setdefault(command_id, {}).setdefault(
            event_id, Seen(str(doc.get("type")), data.get("command_type"))
        )
        if channel in seen.channels:
            self.copies += 1
        seen.channels.add(channel)
        n = self.by_body_id.get(command_id)
        if n is not None:
            self.settled.add(n)
        return command_id

    def _accepted(self, command_id: str) -> bool:
        seen = self.outcomes.get(command_id, {}).values()
        return any(s.type == "command.accepted" for s in seen)

    def _scan(self, value: Any, place: str, where: str | None = None) -> None:
        for text in texts(value):
            for digits in self.scanner.find(text):
                self.leaks.setdefault((place, digits), where or place)

    # --- measuring ----------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        pids = {name: frozenset(group_pids(p.popen.pid)) for name, p in self.watched.items()}
        return Snapshot(pids, {name: rss_mb(set(group)) for name, group in pids.items()})

    def _channel_call(self, call: Callable[[Any], int]) -> int | None:
        channel = self.collector.channel()
        try:
            return call(channel)
        except pika.exceptions.ChannelClosedByBroker:
            return None
        finally:
            if channel.is_open:
                channel.close()

    def _depth(self, queue: str) -> int | None:
        """Ready messages in a queue (None: no such queue), by a passive declare."""
        return self._channel_call(
            lambda ch: int(ch.queue_declare(queue, passive=True).method.message_count)
        )

    def _database(self) -> psycopg.Connection[Any]:
        url = self.settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return psycopg.connect(url, autocommit=True)

    def _outbox(self) -> int:
        with self._database() as conn:
            row = conn.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0]) if row else 0

    # --- accounting ---------------------------------------------------------------------------

    def _account(self, report: Report) -> None:
        sent = [s for s in self.sent if s.error is None]
        report.published = len(sent)
        report.dead_letters = sum(self.dead.values()) + self.stray_dead_count
        lost: list[int] = []
        duplicated: list[int] = []
        replies: list[str] = []
        wrong_path: list[str] = []
        for s in sent:
            kind = report.kinds.setdefault(s.kind, Counter())
            kind["sent"] += 1
            events = self.outcomes.get(s.body_id, {}) if s.body_id is not None else {}
            dead = self.dead.get(s.dead_letter_id, 0) if s.dead_letter_id is not None else 0
            report.outcomes += len(events)
            kind["outcome"] += len(events)
            kind["dead_letter"] += dead
            if len(events) + dead == 0:
                lost.append(s.n)
                kind["lost"] += 1
            elif len(events) + dead > 1:
                duplicated.append(s.n)
                kind["duplicated"] += 1
            if s.reply and events and (problem := self._reply_problems(s, events)):
                replies.append(problem if len(replies) < EXAMPLES else f"#{s.n}")
            got = (
                "outcome" if events and not dead else "dead_letter" if dead and not events else None
            )
            if got is not None and s.expect not in ("either", got):
                wrong_path.append(f"#{s.n} {s.kind}: expected {s.expect}, got {got}")
        report.lost, report.duplicated = len(lost), len(duplicated)
        report.rss_trace = self.rss_trace
        if self.stalled:
            report.extra["stalled"] = 1
            report.violations.append(Violation("the pipeline stalled", 1, [self.stalled]))
        self._violation(report, "lost (neither an outcome nor a dead letter)", lost)
        self._violation(report, "duplicated (more than one outcome or dead letter)", duplicated)
        if replies:
            report.extra["reply mismatches"] = len(replies)
            report.violations.append(Violation("reply mismatches", len(replies), replies))
        self._strays(report)
        self._xq(report)
        self._processes(report)
        self._effects(report)
        self._scan_database()
        self._scan_logs(report)
        self._leaks(report)
        self._unpublished(report)
        if wrong_path:
            report.notes.append(
                f"{len(wrong_path)} message(s) took the other path than README's rule "
                f"predicts (informational), e.g. {'; '.join(wrong_path[:3])}"
            )
        if left := self._outbox():
            report.notes.append(f"{left} outbox row(s) were never published")
        if self.copies:
            report.notes.append(f"{self.copies} outcome event(s) delivered again (same event id)")
        report.notes.extend(self.anomalies[:10])
        report.notes.append(
            "events seen: " + ", ".join(f"{t} {c}" for t, c in self.events_seen.most_common(8))
        )

    def _describe(self, n: int) -> str:
        return self.generator.message(n).describe()

    def _violation(self, report: Report, what: str, ns: list[int]) -> None:
        if ns:
            examples = [self._describe(n) for n in ns[:EXAMPLES]]
            report.violations.append(Violation(what, len(ns), examples))

    def _reply_problems(self, s: Sent, events: dict[str, Seen]) -> str:
        """What is wrong with a message's reply: "" when it is right."""
        got = self.replies.get(s.body_id or "", [])
        if len(got) != 1:
            return f"{len(got)} replies for {self._describe(s.n)}"
        event_id, correlation = got[0]
        if event_id not in events or "reply" not in events[event_id].channels:
            return f"the reply is not the outcome for {self._describe(s.n)}"
        if s.correlation_id is not None and correlation != s.correlation_id:
            return (
                f"reply correlation_id {correlation!r} != {s.correlation_id!r} sent for "
                f"{self._describe(s.n)}"
            )
        return ""

    def _strays(self, report: Report) -> None:
        known = self.by_body_id.keys() | self.seed_ids
        stray = [c for c in self.outcomes if c not in known]
        if stray:
            report.extra["stray outcomes"] = len(stray)
            examples = [f"command_id {c!r}" for c in stray[:5]]
            report.violations.append(
                Violation("outcomes naming no published envelope id", len(stray), examples)
            )
        if self.stray_dead_count:
            report.extra["unmatched dead letters"] = self.stray_dead_count
            report.violations.append(
                Violation(
                    "dead letters without x-ordercare-reason and a published x-original-message-id",
                    self.stray_dead_count,
                    self.stray_dead,
                )
            )

    def _xq(self, report: Report) -> None:
        found = {f"{q}.XQ": self._depth(f"{q}.XQ") or 0 for q in self.settings.inbound_queues}
        total = sum(found.values())
        if total:
            report.extra["in .XQ"] = total
            report.violations.append(
                Violation("messages in Dramatiq's .XQ queues", total, [repr(found)])
            )

    def _processes(self, report: Report) -> None:
        start, end = self.snapshots["start"], self.snapshots["end"]
        warm = self.snapshots.get("warm")
        if warm is None:
            report.notes.append("warm-up was never reached: memory is compared from the start")
            warm = start
        report.worker_rss = (warm.rss["worker"], end.rss["worker"])
        report.relay_rss = (warm.rss["relay"], end.rss["relay"])
        problems = []
        for name in self.watched:
            gone = start.pids[name] - end.pids[name]
            new = end.pids[name] - start.pids[name]
            if gone or new:
                problems.append(f"{name}: pids gone {sorted(gone)}, new {sorted(new)}")
            report.restarts += max(len(gone), len(new))
        if dead := self._dead_processes():  # their pids are among those gone
            problems.append(f"exited: {dead}")
        if problems:
            report.violations.append(Violation("process restarts", report.restarts, problems))
        if self.options.n >= self.options.rss_check_from:
            for name, (before, after) in (
                ("worker", report.worker_rss),
                ("relay", report.relay_rss),
            ):
                grew = before is not None and after is not None and after - before
                if grew and grew > self.options.rss_growth_mb:
                    report.violations.append(
                        Violation(f"{name} memory grew", 1, [f"{before:.0f} -> {after:.0f} MB"])
                    )

    def _effects(self, report: Report) -> None:
        """Every row with a command_id belongs to an accepted command; one order per accepted
        order.create. A command whose outcome never arrived (counted as lost) is judged by the
        outcome its inbox row recorded."""
        observed = {c: self._accepted(c) for c in self.outcomes}
        problems: list[str] = []
        with self._database() as conn:
            recorded = {
                str(command_id): (str(outcome_type), str(command_type))
                for command_id, outcome_type, command_type in conn.execute(
                    "SELECT message_id, outcome_type, type FROM inbox"
                )
            }
            accepted = {c for c, ok in observed.items() if ok} | {
                c
                for c, (o, _t) in recorded.items()
                if o == "command.accepted" and c not in observed
            }
            creates = sum(1 for c in accepted if self._command_type(c, recorded) == "order.create")
            tables = [
                str(row[0])
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'command_id' ORDER BY 1"
                )
            ]
            for table in tables:
                query = sql.SQL("SELECT DISTINCT command_id FROM {}").format(sql.Identifier(table))
                for (command_id,) in conn.execute(query):
                    if command_id not in accepted:
                        n = self.by_body_id.get(command_id)
                        late = len(problems) >= EXAMPLES  # counted, not described
                        who = repr(command_id) if n is None or late else self._describe(n)
                        problems.append(f"{table}.command_id of a command not accepted: {who}")
            row = conn.execute("SELECT count(*) FROM orders").fetchone()
            orders = int(row[0]) if row else 0
        if orders != creates:
            problems.append(f"{orders} orders, {creates} accepted order.create commands")
        report.invalid_effects = len(problems)
        if problems:
            report.violations.append(
                Violation("effects of invalid commands", len(problems), problems)
            )

    def _command_type(self, command_id: str, recorded: dict[str, tuple[str, str]]) -> str | None:
        for seen in self.outcomes.get(command_id, {}).values():
            if seen.type == "command.accepted":
                return seen.command_type
        return recorded.get(command_id, ("", None))[1]

    def _scan_database(self) -> None:
        """Every column of every table (inbox raw and outcome, dead_letters, outbox, …)."""
        url = self.settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url) as conn:
            tables = [
                str(row[0])
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
                )
            ]
            for table in tables:
                with conn.cursor(name=f"scan_{table}") as cursor:
                    cursor.itersize = 200
                    cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                    columns = [c.name for c in cursor.description or []]
                    for row in cursor:
                        for column, value in zip(columns, row, strict=True):
                            self._scan(value, f"table {table}.{column}")

    def _scan_logs(self, report: Report) -> None:
        """Each log line as a whole and as JSON values; errors counted (informational)."""
        for name, process in self.watched.items():
            path = Path(process.log.name)
            if not path.exists():
                continue
            errors: Counter[str] = Counter()
            with path.open("rb") as log:
                for number, raw in enumerate(log, 1):
                    line = raw.decode("utf-8", "replace")
                    place = f"{name}.log"
                    self._scan(line, place, f"{place}:{number}")
                    try:
                        entry = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        entry = None
                    if isinstance(entry, dict):
                        self._scan(entry, place, f"{place}:{number}")
                        if entry.get("level") in ("error", "critical"):
                            errors[str(entry.get("msg"))[:120]] += 1
                    elif line.strip():
                        errors["(not a JSON line) " + line.strip()[:100]] += 1
            if errors:
                top = "; ".join(f"{c}× {m!r}" for m, c in errors.most_common(4))
                report.notes.append(f"{name} logged {sum(errors.values())} error line(s): {top}")

    def _leaks(self, report: Report) -> None:
        report.card_leaks = len(self.leaks)
        if self.leaks:
            examples = [
                f"{digits} in {where} (planted by {self._describe(self.scanner.planted[digits])})"
                for (_place, digits), where in sorted(self.leaks.items())[:EXAMPLES]
            ]
            report.violations.append(Violation("card leaks", len(self.leaks), examples))

    def _unpublished(self, report: Report) -> None:
        refused = [s for s in self.sent if s.error is not None]
        if refused:
            examples = ", ".join(f"#{s.n} {s.kind} ({s.error})" for s in refused[:5])
            report.notes.append(f"{len(refused)} message(s) refused by RabbitMQ: {examples}")
