"""The edit rules: which change may touch which line in which order state, as one table.

Every command that changes an order's lines or delivery asks the table before it acts
(`Order.require`, which names the unit at fault);
README.md shows the same table (`markdown()` renders it, and a test keeps README true).
The quantity rules that a state alone cannot express (a quantity never below the units
shipped, never more cancelled than open) live beside the table, in the aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal[
    "add_line",
    "remove_line",
    "replace_line",
    "increase_quantity",
    "reduce_quantity",
    "cancel_units",
    "short_pick",
    "backorder",
    "ship",
    "change_address",
    "change_method",
    "change_pickup",
    "return_units",
]

STATES = ("open", "partially_shipped", "shipped", "delivered", "cancelled")

_UNSHIPPED = frozenset({"open"})
_OPEN_UNITS = frozenset({"open", "partially_shipped"})
_NOT_DISPATCHED = frozenset({"open", "partially_shipped"})
_SHIPPED_UNITS = frozenset({"partially_shipped", "shipped", "delivered"})


@dataclass(frozen=True, slots=True)
class Rule:
    """Where an action is allowed. `line_states` is None for order-level actions."""

    line_states: frozenset[str] | None
    order_states: frozenset[str]
    why: str


#: action x line fulfilment state x order state. The only place these rules are written.
EDIT_RULES: dict[Action, Rule] = {
    "add_line": Rule(
        None, _NOT_DISPATCHED, "lines can be added until the whole order is dispatched"
    ),
    "remove_line": Rule(
        _UNSHIPPED, _NOT_DISPATCHED, "only a line none of whose units has shipped can be removed"
    ),
    "replace_line": Rule(
        _UNSHIPPED, _NOT_DISPATCHED, "only a line none of whose units has shipped can be replaced"
    ),
    "increase_quantity": Rule(
        _OPEN_UNITS, _NOT_DISPATCHED, "a fully shipped line cannot grow; add a new line instead"
    ),
    "reduce_quantity": Rule(
        _OPEN_UNITS,
        _NOT_DISPATCHED,
        "only unshipped units can be taken off; shipped units are returned",
    ),
    "cancel_units": Rule(
        _OPEN_UNITS,
        _NOT_DISPATCHED,
        "only unshipped units can be cancelled; shipped units are returned",
    ),
    "short_pick": Rule(_OPEN_UNITS, _NOT_DISPATCHED, "only units not yet shipped can be short"),
    "backorder": Rule(
        _OPEN_UNITS, _NOT_DISPATCHED, "only units not yet shipped can wait for stock"
    ),
    "ship": Rule(_OPEN_UNITS, _NOT_DISPATCHED, "only open units can ship"),
    "change_address": Rule(
        None, frozenset({"open"}), "the address can change until the first shipment"
    ),
    "change_method": Rule(
        None, _NOT_DISPATCHED, "the delivery method can change until the order is dispatched"
    ),
    "change_pickup": Rule(
        None, _NOT_DISPATCHED, "the pickup location can change until the order is dispatched"
    ),
    "return_units": Rule(
        _SHIPPED_UNITS,
        _SHIPPED_UNITS,
        "only shipped units can be returned or exchanged; unshipped ones are cancelled",
    ),
}


def allowed(action: Action, order_state: str, line_state: str | None = None) -> bool:
    """Whether the table allows the action (the line state is ignored for order-level ones)."""
    rule = EDIT_RULES[action]
    if order_state not in rule.order_states:
        return False
    return rule.line_states is None or line_state in rule.line_states


def markdown() -> str:
    """The table as README.md shows it: one row per action, one column per state."""
    head = "| action | line states | order states | rule |\n| --- | --- | --- | --- |\n"
    rows = []
    for action, rule in EDIT_RULES.items():
        lines = (
            "—"
            if rule.line_states is None
            else ", ".join(s for s in STATES if s in rule.line_states)
        )
        orders = ", ".join(s for s in STATES if s in rule.order_states)
        rows.append(f"| `{action}` | {lines} | {orders} | {rule.why} |")
    return head + "\n".join(rows) + "\n"
