"""The shipped broker settings agree with OrderCare's own limits."""

from __future__ import annotations

from pathlib import Path

from actors.screening import KEPT_PREFIX_BYTES
from actors.settings import Settings

CONF = Path(__file__).resolve().parents[2] / "ops" / "rabbitmq" / "rabbitmq.conf"


def broker_setting(name: str) -> str:
    for line in CONF.read_text().splitlines():
        key, _, value = line.partition("=")
        if not line.lstrip().startswith("#") and key.strip() == name:
            return value.strip()
    raise AssertionError(f"{name} is not set in {CONF}")


def test_the_broker_refuses_what_is_far_over_ordercares_limit_and_passes_what_it_answers() -> None:
    broker_limit = int(broker_setting("max_message_size"))
    ours = Settings().max_message_bytes

    # Above ours, so a message a little too large is still answered `too_large`; within a
    # few times ours, so a worker never holds a huge body.
    assert ours < broker_limit <= 8 * ours
    assert ours > KEPT_PREFIX_BYTES


DEFINITIONS = CONF.parent / "definitions.json"


def test_the_queues_kept_for_inspection_are_bounded_by_a_shipped_policy() -> None:
    """The dead letters and the events nobody was bound to would otherwise grow without
    limit (issue 12): each has a policy giving it a TTL and a length, dropping the oldest."""
    import json
    import re

    settings = Settings()
    policies = json.loads(DEFINITIONS.read_text())["policies"]
    for queue in (settings.dead_letter_queue, settings.unrouted_queue):
        [policy] = [
            p
            for p in policies
            if p["apply-to"] in ("queues", "all") and re.search(p["pattern"], queue)
        ]
        definition = policy["definition"]
        assert definition["overflow"] == "drop-head", queue
        assert 0 < definition["max-length"] <= 1_000_000, queue
        days = definition["message-ttl"] / 86_400_000
        assert 1 <= days <= 31, queue
        assert not re.search(policy["pattern"], settings.commands_queue)


def test_a_password_is_masked_whatever_characters_it_holds() -> None:
    from actors.cli_errors import masked_url

    for password in ("s3cr/et", "p#w", "p?w", "plain"):
        url = f"postgresql+psycopg://app:{password}@127.0.0.1:5439/ordercare"
        assert password not in masked_url(url)
        assert masked_url(url) == "postgresql+psycopg://app:***@127.0.0.1:5439/ordercare"
    assert masked_url("postgresql+psycopg:///ordercare") == "postgresql+psycopg:///ordercare"
