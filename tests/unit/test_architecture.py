"""The domain's import graph has no cycle, module by module (import-linter checks each
package's own modules; this checks across packages, where the unit-of-work port meets
every aggregate's handlers)."""

from __future__ import annotations

import grimp


def _cycles(package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), imports under
    TYPE_CHECKING included."""
    graph = grimp.build_graph(package)
    modules = sorted(m for m in graph.modules if m.startswith(package))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if not imported.startswith(package):
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_module_of_the_domain_imports_itself_round_a_cycle() -> None:
    assert _cycles("services") == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The check above must be able to fail: the standard library's email package has cycles.
    assert _cycles("email")
