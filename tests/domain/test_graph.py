"""Where steps lead, and the graph rules that make a journey runnable."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.definition import JourneyDefinition, parse_definition
from domain.graph import find_issues
from domain.steps import JumpStep, Step

ALWAYS = {"in_group": "members"}


def send(step_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "send_email", "template": step_id, **extra}


def branch(step_id: str, then: str, else_: str) -> dict[str, Any]:
    return {"id": step_id, "type": "if", "condition": ALWAYS, "then": then, "else": else_}


def jump(step_id: str, target: str) -> dict[str, Any]:
    return {"id": step_id, "type": "jump", "target": target}


def journey(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Graph test", "steps": list(steps)}


def graph_issues(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues a rejected definition reports, as the API will show them."""
    with pytest.raises(ValidationError) as caught:
        parse_definition(data)
    [error] = caught.value.errors()
    assert error["type"] == "journey_graph"
    assert "ctx" in error
    issues: list[dict[str, Any]] = error["ctx"]["issues"]
    # The error's message lists every issue too.
    for issue in issues:
        assert issue["msg"] in error["msg"]
    return issues


# --- unknown targets, duplicates, unreachable steps -----------------------------------


@pytest.mark.parametrize(
    ("steps", "loc", "field"),
    [
        ([send("a", next="ghost"), send("b")], ["steps", 0, "next"], "next"),
        ([branch("a", "ghost", "b"), send("b")], ["steps", 0, "then"], "then"),
        ([branch("a", "b", "ghost"), send("b")], ["steps", 0, "else"], "else"),
        ([send("b"), jump("a", "ghost")], ["steps", 1, "target"], "target"),
        (
            [send("b"), {"id": "a", "type": "wait", "duration": "P1D", "next": "ghost"}],
            ["steps", 1, "next"],
            "next",
        ),
    ],
    ids=["next", "then", "else", "target", "wait-next"],
)
def test_unknown_target_names_step_and_field(
    steps: list[dict[str, Any]], loc: list[str | int], field: str
) -> None:
    assert graph_issues(journey(*steps)) == [
        {"loc": loc, "msg": f"step 'a': {field} refers to unknown step 'ghost'"}
    ]


def test_every_unknown_target_is_reported_at_once() -> None:
    issues = graph_issues(journey(branch("a", "nowhere", "elsewhere"), jump("b", "gone")))

    assert [issue["loc"] for issue in issues] == [
        ["steps", 0, "then"],
        ["steps", 0, "else"],
        ["steps", 1, "target"],
    ]


def test_step_pointing_at_itself() -> None:
    assert graph_issues(journey(send("start"), jump("again", "again"))) == [
        {"loc": ["steps", 1, "target"], "msg": "step 'again': target refers to itself"}
    ]


def test_duplicate_ids() -> None:
    issues = graph_issues(journey(send("hello"), send("bye"), send("hello")))

    assert issues == [{"loc": ["steps", 2, "id"], "msg": "step 'hello': id is used twice"}]


def test_unreachable_after_exit() -> None:
    issues = graph_issues(
        journey(send("hello"), {"id": "stop", "type": "exit"}, send("orphan"), send("also"))
    )

    assert issues == [
        {"loc": ["steps", 2, "id"], "msg": "step 'orphan': unreachable, no step leads to it"},
        {"loc": ["steps", 3, "id"], "msg": "step 'also': unreachable, no step leads to it"},
    ]


def test_unreachable_when_jumped_over() -> None:
    issues = graph_issues(journey(jump("skip", "last"), send("skipped"), send("last")))

    assert issues == [
        {"loc": ["steps", 1, "id"], "msg": "step 'skipped': unreachable, no step leads to it"}
    ]


def test_a_step_after_exit_reached_by_a_branch_is_fine() -> None:
    definition = parse_definition(
        journey(
            branch("check", "yes", "no"), send("no"), {"id": "stop", "type": "exit"}, send("yes")
        )
    )

    assert find_issues(definition) == []


# --- loops --------------------------------------------------------------------------


def test_jump_back_is_a_loop() -> None:
    issues = graph_issues(journey(send("welcome"), send("reminder"), jump("again", "welcome")))

    assert issues == [
        {
            "loc": ["steps", 2, "target"],
            "msg": "step 'again': target goes back to 'welcome' and makes a loop "
            "welcome -> reminder -> again -> welcome",
        }
    ]


def test_if_branch_back_is_a_loop() -> None:
    issues = graph_issues(
        journey(
            send("ask"),
            {"id": "wait", "type": "wait", "duration": "P3D"},
            branch("done", "end", "ask"),
            send("end"),
        )
    )

    assert [issue["loc"] for issue in issues] == [["steps", 2, "else"]]
    assert issues[0]["msg"].startswith("step 'done': else goes back to 'ask' and makes a loop")


def test_next_back_is_a_loop() -> None:
    issues = graph_issues(journey(send("a"), send("b", next="a")))

    assert [issue["loc"] for issue in issues] == [["steps", 1, "next"]]


def test_the_loop_blames_the_step_that_goes_back() -> None:
    # The search meets the loop at 'remind' (its `next` runs forwards); the step to fix is
    # 'retry', whose jump goes back up the list.
    issues = graph_issues(
        journey(
            branch("start", "mail", "remind"),
            send("remind", next="mail"),
            send("mail"),
            jump("retry", "remind"),
        )
    )

    assert [issue["loc"] for issue in issues] == [["steps", 3, "target"]]
    assert "step 'retry'" in issues[0]["msg"]


def test_a_very_long_journey_is_searched_for_loops_without_recursion() -> None:
    # Built without validation: the step cap keeps the API from ever sending this many,
    # yet the search itself must not depend on Python's recursion limit.
    steps: list[Step] = [JumpStep(id=f"s{n}", type="jump", target=f"s{n + 1}") for n in range(5000)]
    steps.append(JumpStep(id="s5000", type="jump", target="s0"))
    definition = JourneyDefinition.model_construct(name="Long", steps=steps)

    [issue] = find_issues(definition)

    assert issue.loc == ("steps", 5000, "target")
    assert "makes a loop" in issue.msg


def test_a_journey_has_at_most_500_steps() -> None:
    chain = [jump(f"s{n}", f"s{n + 1}") for n in range(500)] + [{"id": "s500", "type": "exit"}]
    with pytest.raises(ValidationError) as caught:
        parse_definition(journey(*chain))
    [error] = caught.value.errors()
    assert (error["type"], error["loc"]) == ("too_long", ("steps",))
    assert len(parse_definition(journey(*chain[-500:])).steps) == 500


# --- following the ways out -------------------------------------------------------------


def test_follow_takes_the_list_next_branches_and_ends() -> None:
    definition = parse_definition(
        journey(
            send("welcome"),
            {"id": "wait_week", "type": "wait", "duration": "P7D"},
            branch("is_member", "thanks", "nudge"),
            send("nudge", next="bye"),
            send("thanks"),
            jump("skip", "last"),
            {"id": "bye", "type": "exit"},
            send("last"),
        )
    )

    def after(step_id: str, branch: bool | None = None) -> str | None:
        step = definition.step(step_id)
        ways = list(step.ways_out())
        if not ways:
            return None
        way = ways[0] if branch is None else ("then" if branch else "else")
        return definition.follow(step, way)

    assert after("welcome") == "wait_week"
    assert after("wait_week") == "is_member"
    assert after("is_member", True) == "thanks"
    assert after("is_member", False) == "nudge"
    assert after("nudge") == "bye"
    assert after("thanks") == "skip"
    assert after("skip") == "last"
    assert after("bye") is None
    assert after("last") is None


# --- properties over random journeys --------------------------------------------------


def _successors(steps: list[dict[str, Any]], index: int) -> list[str]:
    """Where step `index` may lead, written out independently of domain.graph."""
    step = steps[index]
    if step["type"] == "exit":
        return []
    if step["type"] == "if":
        return [step["then"], step["else"]]
    if step["type"] == "jump":
        return [step["target"]]
    if "next" in step:
        return [step["next"]]
    return [steps[index + 1]["id"]] if index + 1 < len(steps) else []


def _reachable_from(steps: list[dict[str, Any]], start: str) -> set[str]:
    positions = {step["id"]: i for i, step in enumerate(steps)}
    seen, todo = {start}, [start]
    while todo:
        for target in _successors(steps, positions[todo.pop()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@st.composite
def forward_journeys(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Steps whose targets all lie further down the list, every one reachable."""
    count = draw(st.integers(1, 12))
    ids = [f"s{i}" for i in range(count)]
    steps: list[dict[str, Any]] = []
    for i, step_id in enumerate(ids):
        later = st.sampled_from(ids[i + 1 :]) if i + 1 < count else None
        kinds = ["send", "wait", "exit"] + (
            ["send_next", "jump", "if"] if later is not None else []
        )
        kind = draw(st.sampled_from(kinds))
        if kind == "send":
            steps.append(send(step_id))
        elif kind == "wait":
            steps.append({"id": step_id, "type": "wait", "duration": "PT1H"})
        elif kind == "exit":
            steps.append({"id": step_id, "type": "exit"})
        elif kind == "send_next":
            assert later is not None
            steps.append(send(step_id, next=draw(later)))
        elif kind == "jump":
            assert later is not None
            steps.append(jump(step_id, draw(later)))
        else:
            assert later is not None
            steps.append(branch(step_id, draw(later), draw(later)))
    # Leave out steps nothing leads to. What remains keeps its edges: a reachable step
    # that falls through to the next one in the list makes that one reachable too.
    reachable = _reachable_from(steps, steps[0]["id"])
    return [step for step in steps if step["id"] in reachable]


@settings(max_examples=300, deadline=None)
@given(steps=forward_journeys(), choices=st.lists(st.booleans(), min_size=12, max_size=12))
def test_forward_only_journeys_are_valid_and_every_trip_ends(
    steps: list[dict[str, Any]], choices: list[bool]
) -> None:
    definition = parse_definition(journey(*steps))

    assert find_issues(definition) == []
    # Walk one trip, branching at random: it passes each step at most once and ends.
    passed: list[str] = []
    current: str | None = steps[0]["id"]
    while current is not None:
        assert current not in passed
        passed.append(current)
        step = definition.step(current)
        ways = list(step.ways_out())
        if not ways:
            break
        way = ("then" if choices[len(passed) - 1] else "else") if step.type == "if" else ways[0]
        current = definition.follow(step, way)


@st.composite
def journeys_with_one_step_going_back(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], int, set[str]]:
    steps = draw(forward_journeys().filter(lambda steps: len(steps) >= 2))
    ids = [step["id"] for step in steps]
    culprit = draw(st.integers(1, len(steps) - 1))
    # Go back to a step before the culprit from which the culprit can be reached.
    earlier = [i for i in range(culprit) if ids[culprit] in _reachable_from(steps, ids[i])]
    back = ids[draw(st.sampled_from(earlier))]
    kind = draw(st.sampled_from(["jump", "send_next", "if_then", "if_else"]))
    others = st.sampled_from([step_id for i, step_id in enumerate(ids) if i != culprit])
    name = ids[culprit]
    if kind == "jump":
        steps[culprit], fields = jump(name, back), {"target"}
    elif kind == "send_next":
        steps[culprit], fields = send(name, next=back), {"next"}
    elif kind == "if_then":
        other = draw(others)
        steps[culprit] = branch(name, back, other)
        fields = {"then"} | ({"else"} if ids.index(other) < culprit else set())
    else:
        other = draw(others)
        steps[culprit] = branch(name, other, back)
        fields = {"else"} | ({"then"} if ids.index(other) < culprit else set())
    return steps, culprit, fields


@settings(max_examples=300, deadline=None)
@given(case=journeys_with_one_step_going_back())
def test_one_step_going_back_is_always_a_loop_at_that_step(
    case: tuple[list[dict[str, Any]], int, set[str]],
) -> None:
    steps, culprit, fields = case

    issues = graph_issues(journey(*steps))

    [loop] = issues
    assert loop["loc"][:2] == ["steps", culprit]
    assert loop["loc"][2] in fields
    assert loop["msg"].startswith(f"step '{steps[culprit]['id']}': ")
    assert "makes a loop" in loop["msg"]
