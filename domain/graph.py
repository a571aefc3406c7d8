"""Where each step leads, and the rules that make a definition runnable.

Each step names its ways out (`next`, `then`/`else`, `target`, ...); a way that names no
step leads to the next step in the list, and after the last one the trip ends. The graph
must be acyclic (a trip always ends), every target must exist, and every step must be
reachable from the first.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from pydantic_core import PydanticCustomError

from domain.errors import DefinitionIssue

if TYPE_CHECKING:
    from domain.definition import JourneyDefinition


def successors(definition: JourneyDefinition, index: int) -> list[tuple[str, str | None]]:
    """(way out, target) pairs of step `index`; target None means the trip ends there."""
    step = definition.steps[index]
    return [(way, definition.follow(step, way)) for way in step.ways_out()]


def find_issues(definition: JourneyDefinition) -> list[DefinitionIssue]:
    issues: list[DefinitionIssue] = []
    positions: dict[str, int] = {}
    for index, step in enumerate(definition.steps):
        if step.id in positions:
            issues.append(
                DefinitionIssue(("steps", index, "id"), f"step '{step.id}': id is used twice")
            )
        else:
            positions[step.id] = index
    if issues:
        return issues

    edges: dict[str, list[str]] = {}
    for index, step in enumerate(definition.steps):
        targets: list[str] = []
        for field, target in successors(definition, index):
            if target is None:
                continue
            if target not in positions:
                issues.append(
                    DefinitionIssue(
                        ("steps", index, field),
                        f"step '{step.id}': {field} refers to unknown step '{target}'",
                    )
                )
            elif target == step.id:
                issues.append(
                    DefinitionIssue(
                        ("steps", index, field), f"step '{step.id}': {field} refers to itself"
                    )
                )
            else:
                targets.append(target)
        edges[step.id] = targets
    if issues:
        return issues

    cycle = _find_cycle(edges, [s.id for s in definition.steps])
    if cycle:
        # Blame the step that points back up the list: that is the jump or branch the
        # marketer has to change, whichever step the search happened to close the loop at.
        source, target = next((a, b) for a, b in pairwise(cycle) if positions[b] <= positions[a])
        field = _field_to(definition, source, target)
        issues.append(
            DefinitionIssue(
                ("steps", positions[source], field),
                f"step '{source}': {field} goes back to '{target}' and makes a loop "
                + " -> ".join(cycle),
            )
        )
        return issues

    reachable = _reachable(edges, definition.steps[0].id)
    for index, step in enumerate(definition.steps):
        if step.id not in reachable:
            issues.append(
                DefinitionIssue(
                    ("steps", index, "id"),
                    f"step '{step.id}': unreachable, no step leads to it",
                )
            )
    return issues


def validate_graph(definition: JourneyDefinition) -> None:
    issues = find_issues(definition)
    if issues:
        # Raised inside a pydantic validator so that it surfaces as a validation error;
        # the context keeps each issue's location for the API to report field by field.
        raise PydanticCustomError(
            "journey_graph",
            "{message}",
            {
                "message": "; ".join(str(i) for i in issues),
                "issues": [{"loc": list(i.loc), "msg": i.msg} for i in issues],
            },
        )


def _field_to(definition: JourneyDefinition, source: str, target: str) -> str:
    index = next(i for i, s in enumerate(definition.steps) if s.id == source)
    for field, candidate in successors(definition, index):
        if candidate == target:
            return field
    return "next"


def _find_cycle(edges: dict[str, list[str]], order: list[str]) -> list[str] | None:
    """Depth-first search with an explicit stack: a long chain of steps must not hit
    Python's recursion limit. Visits in the same order a recursive search would."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(order, white)
    for root in order:
        if colour[root] != white:
            continue
        colour[root] = grey
        path = [root]
        pending = [iter(edges[root])]
        while pending:
            for target in pending[-1]:
                if colour[target] == grey:
                    return [*path[path.index(target) :], target]
                if colour[target] == white:
                    colour[target] = grey
                    path.append(target)
                    pending.append(iter(edges[target]))
                    break
            else:
                colour[path.pop()] = black
                pending.pop()
    return None


def _reachable(edges: dict[str, list[str]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for target in edges[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen
