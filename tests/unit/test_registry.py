"""The message types the contracts declare and the tables the services dispatch with (each
type's handler and roles) must not drift apart: a command type with no route is refused as
unknown at run time, and one with no roles is refused to everyone (`authorize`); a route for
a type the contracts no longer declare is dead code that still looks reachable."""

from __future__ import annotations

import typing

from actors import sweep
from contracts.common import Role
from contracts.registry import COMMANDS, QUERIES
from services.registry import COMMAND_HANDLERS, QUERY_HANDLERS, roles

ROLES = frozenset(typing.get_args(Role))


def test_every_command_type_has_exactly_one_handler_and_every_handler_a_command_type() -> None:
    assert set(COMMANDS) - set(COMMAND_HANDLERS) == set(), "command types with no handler"
    assert set(COMMAND_HANDLERS) - set(COMMANDS) == set(), "handlers of no declared command"
    assert set(COMMAND_HANDLERS).isdisjoint(QUERY_HANDLERS), "a type handled twice"
    assert all(callable(route.handler) for route in COMMAND_HANDLERS.values())


def test_every_query_type_has_exactly_one_handler_and_every_handler_a_query_type() -> None:
    assert set(QUERIES) - set(QUERY_HANDLERS) == set(), "query types with no handler"
    assert set(QUERY_HANDLERS) - set(QUERIES) == set(), "handlers of no declared query"
    assert set(COMMANDS).isdisjoint(QUERIES), "a type both a command and a query"
    assert all(callable(route.handler) for route in QUERY_HANDLERS.values())


def test_every_command_and_query_type_has_roles_and_only_known_ones() -> None:
    for message_type in [*COMMANDS, *QUERIES]:
        allowed = roles(message_type)
        assert allowed, f"{message_type}: no role may send it"
        assert allowed <= ROLES, f"{message_type}: unknown roles {sorted(allowed - ROLES)}"
    assert roles("order.refund_everything") == frozenset(), "an undeclared type has roles"


def test_the_sweeper_sends_only_commands_it_may_send() -> None:
    for command_type, _data in sweep.COMMANDS.values():
        assert command_type in COMMAND_HANDLERS
        assert sweep.SWEEPER["role"] in roles(command_type)
