"""The message types the contracts declare and the maps the services dispatch with must not
drift apart: a command type with no handler is refused as unknown at run time, and one with no
roles entry is refused to everyone (`authorize`); a handler or roles entry for a type the
contracts no longer declare is dead code that still looks reachable."""

from __future__ import annotations

import typing

from actors import sweep
from contracts.common import Role
from contracts.registry import COMMANDS, QUERIES
from services.registry import ALLOWED_ROLES, COMMAND_HANDLERS, QUERY_HANDLERS

ROLES = frozenset(typing.get_args(Role))


def test_every_command_type_has_exactly_one_handler_and_every_handler_a_command_type() -> None:
    assert set(COMMANDS) - set(COMMAND_HANDLERS) == set(), "command types with no handler"
    assert set(COMMAND_HANDLERS) - set(COMMANDS) == set(), "handlers of no declared command"
    assert set(COMMAND_HANDLERS).isdisjoint(QUERY_HANDLERS), "a type handled twice"
    assert all(callable(h) for h in COMMAND_HANDLERS.values())


def test_every_query_type_has_exactly_one_handler_and_every_handler_a_query_type() -> None:
    assert set(QUERIES) - set(QUERY_HANDLERS) == set(), "query types with no handler"
    assert set(QUERY_HANDLERS) - set(QUERIES) == set(), "handlers of no declared query"
    assert set(COMMANDS).isdisjoint(QUERIES), "a type both a command and a query"
    assert all(callable(h) for h in QUERY_HANDLERS.values())


def test_every_command_and_query_type_has_a_roles_entry_and_every_entry_a_type() -> None:
    declared = set(COMMANDS) | set(QUERIES)
    assert declared - set(ALLOWED_ROLES) == set(), "types no role may send"
    assert set(ALLOWED_ROLES) - declared == set(), "roles for no declared type"
    for message_type, roles in ALLOWED_ROLES.items():
        assert roles, f"{message_type}: an empty roles entry refuses everyone"
        assert roles <= ROLES, f"{message_type}: unknown roles {sorted(roles - ROLES)}"


def test_the_sweeper_sends_only_commands_it_may_send() -> None:
    for command_type, _data in sweep.COMMANDS.values():
        assert command_type in COMMAND_HANDLERS
        assert sweep.SWEEPER["role"] in ALLOWED_ROLES[command_type]
