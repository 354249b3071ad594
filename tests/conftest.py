"""Fixtures shared by integration and end-to-end tests: a database and broker names per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from actors.settings import Settings
from tests import servers


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = servers.create_template()
    yield name
    servers.drop_database(name)


@pytest.fixture(scope="session")
def vhost() -> Iterator[str]:
    name = servers.create_vhost()
    yield name
    servers.rabbitmqctl("delete_vhost", name)


@pytest.fixture
def database_url(pg_template: str) -> Iterator[str]:
    with servers.database_from(pg_template) as url:
        yield url


@pytest.fixture
def settings(database_url: str, vhost: str) -> Settings:
    """Settings pointing at this test's own database and exchange/queue names."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return Settings(
        database_url=database_url,
        amqp_url=servers.amqp_url(vhost),
        relay_poll_seconds=0.05,
        worker_threads=4,
        **servers.names(prefix),
    )
