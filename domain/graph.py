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
    if issues:
        return issues
    return _relation_issues(definition, positions)


def _relation_issues(
    definition: JourneyDefinition, positions: dict[str, int]
) -> list[DefinitionIssue]:
    """A trip admitted without a relation (an event trigger with `without_relation`)
    must not reach a step that acts on the relation before a step gives it one. The
    graph is acyclic and edges may go backwards in the list, so steps are visited in a
    topological order; a step has a relation if every way into it brings one."""
    starters = [i for i, t in enumerate(definition.triggers) if t.may_start_without_relation()]
    if not starters:
        return []
    incoming: dict[str, list[bool]] = {s.id: [] for s in definition.steps}
    first = definition.steps[0].id
    incoming[first].append(False)
    issues: list[DefinitionIssue] = []
    for step_id in _topological(definition, positions):
        index = positions[step_id]
        step = definition.steps[index]
        has = all(incoming[step_id]) if incoming[step_id] else True
        if step.NEEDS_RELATION and not has:
            trigger = starters[0] + 1
            issues.append(
                DefinitionIssue(
                    ("steps", index, "type"),
                    f"step '{step.id}' ({step.type}) acts on the relation, but a trip that "
                    f"trigger {trigger} admits without one can reach it before a "
                    "lookup_relation, add_relation or upsert_relation step gives it one",
                )
            )
        gives = step.gives_relation()
        for way, target in successors(definition, index):
            if target is not None:
                incoming[target].append(has or way in gives)
    return issues


def _topological(definition: JourneyDefinition, positions: dict[str, int]) -> list[str]:
    indegree = dict.fromkeys(positions, 0)
    for index in range(len(definition.steps)):
        for _, target in successors(definition, index):
            if target is not None:
                indegree[target] += 1
    ready = [s.id for s in definition.steps if indegree[s.id] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=positions.__getitem__)
        step_id = ready.pop(0)
        order.append(step_id)
        for _, target in successors(definition, positions[step_id]):
            if target is not None:
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
    return order


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
