"""Configuration from the environment (ORDERCARE_ prefix), with defaults that work on a dev box."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import amqp_nodes
from actors.cli_errors import check_database_url
from contracts.common import Role
from contracts.registry import ORIGINS, Origin
from services.policy import (
    DEFAULT_APPEASEMENT_LIMIT_FACTORS,
    DEFAULT_APPEASEMENT_LIMITS,
    AppeasementLimits,
    Policy,
)

#: A limit in major units (or a percent); absent or null: no limit.
_Limit = Annotated[Decimal | None, Field(default=None, ge=0)]


class RoleLimits(BaseModel):
    """One role's appeasement limits as configured (ORDERCARE_APPEASEMENT_LIMITS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_appeasement: _Limit
    percent_of_order: Annotated[Decimal | None, Field(default=None, ge=0, le=100)]
    per_order: _Limit
    per_agent_per_day: _Limit

    def limits(self) -> AppeasementLimits:
        return AppeasementLimits(
            self.per_appeasement, self.percent_of_order, self.per_order, self.per_agent_per_day
        )


def _default_limits() -> dict[Role, RoleLimits]:
    return {
        role: RoleLimits(
            per_appeasement=limits.per_appeasement,
            percent_of_order=limits.percent_of_order,
            per_order=limits.per_order,
            per_agent_per_day=limits.per_agent_per_day,
        )
        for role, limits in DEFAULT_APPEASEMENT_LIMITS.items()
    }


class Settings(BaseSettings):
    """Every setting, e.g. ORDERCARE_AMQP_URL or ORDERCARE_DATABASE_URL."""

    model_config = SettingsConfigDict(env_prefix="ORDERCARE_", env_file=".env", extra="ignore")

    #: One broker URL, or a cluster's nodes comma separated (amqp_nodes: later ones may leave
    #: out the credentials and vhost); clients use the first node that answers.
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/ordercare"

    #: A streaming replica of the primary for queries (order.get, billing_account.get and
    #: .search, audit.get); unset: the primary answers them. A query stating a min_version the
    #: replica has not reached yet, or one the replica fails, is answered by the primary.
    read_database_url: str | None = None

    @field_validator("amqp_url")
    @classmethod
    def _amqp_nodes(cls, setting: str) -> str:
        """A malformed list would fail later, at the first connect: say so now."""
        return amqp_nodes.check(setting)

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _psycopg_url(cls, url: str | None) -> str | None:
        """postgres:// or postgresql:// would fail later, deep in SQLAlchemy: say so now."""
        return None if url is None or url == "" else check_database_url(url)

    #: Exchange names (CONTRACT.md); queues are named after the exchange they drain.
    commands_exchange: str = "ordercare.commands"
    warehouse_exchange: str = "ordercare.warehouse"
    payments_exchange: str = "ordercare.payments"
    events_exchange: str = "ordercare.events"
    dead_letter_queue: str = "ordercare.dead-letters"
    queue_type: Literal["classic", "quorum"] = "classic"

    #: Per-order ordering (README, "Ordering mode"): 0 = off; N = `ordercare route` moves
    #: each inbound message to one of N single-active-consumer partitions of a
    #: consistent-hash exchange by its order (or account), applied one at a time each.
    ordered_partitions: int = Field(default=0, ge=0, le=64)
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    #: Queues an outcome may be sent to (reply_to): server-named queues and direct reply-to.
    #: OrderCare publishes as a user that can reach every queue, so this keeps a sender from
    #: pointing replies at OrderCare's own or another team's queues.
    reply_to_pattern: str = r"^(amq\.gen-|amq\.rabbitmq\.reply-to)"
    #: Source name on the events OrderCare publishes.
    event_source: str = "ordercare"

    worker_processes: int = Field(default=2, ge=1)
    worker_threads: int = Field(default=8, ge=1)
    #: Retries of an unexpected error before the message is dead-lettered; infrastructure
    #: errors (database or broker down) retry without this bound.
    max_retries: int = Field(default=3, ge=0)
    retry_max_backoff_ms: int = Field(default=60_000, ge=100)

    relay_batch: int = Field(default=500, ge=1, le=10_000)
    #: How long an idle relay waits before looking again (the longest an event waits).
    relay_poll_seconds: float = Field(default=0.05, gt=0)
    #: After a part batch, how long to let rows gather: fewer, fuller batches under load.
    relay_linger_seconds: float = Field(default=0.02, ge=0)
    relay_confirm_timeout_seconds: float = Field(default=30.0, gt=0)

    #: Workers publish a command's events and outcome themselves right after its commit
    #: (README, "Direct publishing"); false: the relay alone publishes, as before.
    direct_publish: bool = True
    #: How long the relay leaves a worker's outbox rows alone: the worker's own publish has
    #: this long to be confirmed and its rows deleted before the relay publishes them.
    direct_publish_grace_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: How often a worker process deletes the rows of its confirmed publishes (one statement).
    direct_publish_flush_seconds: float = Field(default=0.05, gt=0, le=10)
    #: Fault injection for the end-to-end tests, read when a worker process starts: it
    #: SIGSTOPs itself right after its first commit of an accepted or rejected command,
    #: before publishing. Never set it in production.
    fault_stop_after_commit: bool = False

    worker_metrics_port: int = 9464
    relay_metrics_port: int = 9465
    router_metrics_port: int = 9468
    sweep_metrics_port: int = 9467
    metrics_host: str = "127.0.0.1"

    log_level: str = "INFO"
    #: RabbitMQ's management API, for `ordercare doctor` (bindings, permissions): empty for
    #: http://<the AMQP host>:15672, `off` to not ask.
    management_url: str = ""

    #: Roles that may override a catalogue unit price on an amendment (JSON list).
    price_override_roles: frozenset[Role] = frozenset({"supervisor", "manager"})
    return_window_days: int = Field(default=30, ge=0, le=3650)
    return_transit_days: int = Field(default=7, ge=0, le=365)
    return_arrival_days: int = Field(default=30, ge=1, le=3650)
    restocking_fee_percent: Decimal = Field(default=Decimal(20), ge=0, le=100)
    #: What each role grants on its own, as JSON: role -> {per_appeasement, percent_of_order,
    #: per_order, per_agent_per_day}; a limit left out is no limit, a role left out grants
    #: nothing alone (README, "Appeasements").
    appeasement_limits: dict[Role, RoleLimits] = Field(default_factory=_default_limits)
    #: Currency -> units of it one unit of the amount limits is worth (JSON; replaces the
    #: whole default map; a currency not named counts 1).
    appeasement_limit_factors: dict[str, Annotated[Decimal, Field(gt=0)]] = Field(
        default_factory=lambda: dict(DEFAULT_APPEASEMENT_LIMIT_FACTORS)
    )
    #: Hours a pending appeasement waits for a decision before it expires.
    appeasement_pending_hours: int = Field(default=72, ge=1, le=24 * 90)

    #: Retention (README, "Retention and erasure"): days each kind of record is kept.
    #: Inbox rows are the idempotency record: a command re-sent after this window is new.
    retention_inbox_days: int = Field(default=30, ge=1, le=3650)
    #: A rejected command's kept body (inbox.raw) is set to NULL after this many days.
    retention_raw_body_days: int = Field(default=7, ge=0, le=3650)
    retention_dead_letter_days: int = Field(default=30, ge=1, le=3650)
    retention_notification_days: int = Field(default=90, ge=1, le=3650)
    #: None (the default): the audit log is kept forever.
    retention_audit_days: int | None = Field(default=None, ge=1, le=36500)
    #: Rows one prune statement deletes or updates (one short transaction each).
    prune_batch: int = Field(default=1000, ge=1, le=100_000)
    #: Seconds to rest between two batches, so commands never queue behind a prune.
    prune_pause_seconds: float = Field(default=0.05, ge=0)
    #: Seconds between two prunes inside `ordercare sweep` (0: the sweeper never prunes).
    prune_interval_seconds: float = Field(default=3600.0, ge=0)

    def policy(self) -> Policy:
        """The business rules' configurable part, as the domain sees it."""
        return Policy(
            price_override_roles=self.price_override_roles,
            return_window_days=self.return_window_days,
            return_transit_days=self.return_transit_days,
            return_arrival_days=self.return_arrival_days,
            restocking_fee_percent=self.restocking_fee_percent,
            appeasement_limits={r: v.limits() for r, v in self.appeasement_limits.items()},
            appeasement_limit_factors=dict(self.appeasement_limit_factors),
            appeasement_pending_hours=self.appeasement_pending_hours,
        )

    @property
    def commands_queue(self) -> str:
        return self.commands_exchange

    def exchange_of(self, message_type: str) -> str:
        """The exchange a message type is published to (commands for unknown types)."""
        return self.origin_exchange(ORIGINS.get(message_type, "commands"))

    def origin_exchange(self, origin: Origin) -> str:
        """The exchange of a publisher group."""
        return {
            "commands": self.commands_exchange,
            "warehouse": self.warehouse_exchange,
            "payments": self.payments_exchange,
        }[origin]

    @property
    def inbound_queues(self) -> dict[str, str]:
        """Queue -> the exchange it drains (every routing key): one per publisher group."""
        return {
            exchange: exchange
            for exchange in (
                self.commands_exchange,
                self.warehouse_exchange,
                self.payments_exchange,
            )
        }

    def ordered_exchange(self, exchange: str) -> str:
        """The consistent-hash exchange `ordercare route` moves an inbound exchange's
        messages to in ordering mode."""
        return f"{exchange}.ordered"

    @property
    def partition_queues(self) -> dict[str, str]:
        """Ordering mode: partition queue -> the inbound exchange its messages came from."""
        return {
            f"{self.ordered_exchange(exchange)}.{n}": exchange
            for exchange in self.inbound_queues.values()
            for n in range(self.ordered_partitions)
        }

    def arrived_through(self, exchange: str) -> str | None:
        """The inbound exchange whose ordered exchange this is, if it is one."""
        if not self.ordered_partitions:
            return None
        for inbound in self.inbound_queues.values():
            if exchange == self.ordered_exchange(inbound):
                return inbound
        return None

    @property
    def unrouted_queue(self) -> str:
        return f"{self.events_exchange}.unrouted"
