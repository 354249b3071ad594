"""The notifier's configuration from the environment (ORDERCARE_ prefix, like OrderCare's)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import amqp_nodes
from notifier.kinds import KINDS


class NotifierSettings(BaseSettings):
    """Every notifier setting, e.g. ORDERCARE_SENDGRID_API_KEY or ORDERCARE_NOTIFIER_TEMPLATES."""

    model_config = SettingsConfigDict(env_prefix="ORDERCARE_", env_file=".env", extra="ignore")

    #: One broker URL or a cluster's nodes, comma separated (amqp_nodes).
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/ordercare"
    events_exchange: str = "ordercare.events"
    queue_type: Literal["classic", "quorum"] = "classic"

    #: The queue the notifier drains; ops/rabbitmq/definitions.json pre-declares it (bound to `#`).
    notifier_queue: str = "ordercare.events.notifier"
    #: Declare the queue and bind it to the mailed event types at startup. Off where the broker
    #: definitions declare it and the notifier's user may only read it.
    notifier_declare: bool = True
    notifier_prefetch: int = Field(default=32, ge=1, le=1000)

    sendgrid_api_key: SecretStr = SecretStr("")
    sendgrid_host: str = "https://api.sendgrid.com"
    sendgrid_timeout_seconds: float = Field(default=10.0, gt=0)
    #: SendGrid validates each request and delivers nothing (mail_settings.sandbox_mode).
    sendgrid_sandbox_mode: bool = False

    notifier_from_email: str = "orders@example.com"
    notifier_from_name: str = "OrderCare"
    #: SendGrid dynamic template ids: kind -> locale -> id, e.g.
    #: {"order_confirmed": {"en": "d-…", "de": "d-…"}}. Looked up by the exact locale, then
    #: its language, then "en"; a kind without one is recorded as skipped (`no_template`).
    notifier_templates: dict[str, dict[str, str]] = Field(default_factory=dict)

    #: Backoff after a server error or timeout: base doubling per attempt up to the cap,
    #: each delay drawn between its half and its whole (jitter).
    notifier_retry_base_seconds: float = Field(default=10.0, gt=0)
    notifier_retry_cap_seconds: float = Field(default=600.0, gt=0)
    #: Give up (status failed) when the next try would come later than this after the event,
    #: or after this many attempts: a SendGrid outage of hours loses nothing.
    notifier_max_age_seconds: float = Field(default=6 * 3600.0, gt=0)
    notifier_max_attempts: int = Field(default=100, ge=1)
    #: How long a claimed row belongs to its sender (renewed just before its request); a row
    #: still `sending` after this (its sender died) is sent again. Longer than any request.
    notifier_sending_lease_seconds: float = Field(default=60.0, gt=0)

    notifier_senders: int = Field(default=4, ge=1, le=64)
    notifier_batch: int = Field(default=20, ge=1, le=1000)
    #: How often an idle sender looks for due rows (new rows wake it at once).
    notifier_poll_seconds: float = Field(default=1.0, gt=0)

    notifier_metrics_port: int = 9466
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"

    @field_validator("amqp_url")
    @classmethod
    def _amqp_nodes(cls, setting: str) -> str:
        return amqp_nodes.check(setting)

    @field_validator("notifier_templates")
    @classmethod
    def _known_kinds(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        unknown = sorted(set(value) - set(KINDS.values()))
        if unknown:
            raise ValueError(
                f"unknown notification kinds {unknown}; known: {sorted(set(KINDS.values()))}"
            )
        if any(not tid for locales in value.values() for tid in locales.values()):
            raise ValueError("template ids must not be empty")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> Self:
        if self.notifier_sending_lease_seconds <= self.sendgrid_timeout_seconds:
            raise ValueError("notifier_sending_lease_seconds must exceed sendgrid_timeout_seconds")
        return self
