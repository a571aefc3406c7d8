"""Every step type is complete: schema, ways out, words for operators, a handler.

A new step type that misses any of these fails here, not in a running trip (where a
step without a handler would stall and one without ways out would end trips early)."""

from __future__ import annotations

import inspect
import typing

import pytest
from pydantic import TypeAdapter

from domain.steps import STEP_TYPES, Step, StepBase
from workflows.steps import HANDLERS

IDS = [str(t.EXAMPLE["type"]) for t in STEP_TYPES]


def test_the_step_union_is_the_registry() -> None:
    # What pydantic parses is exactly the registered types, each tag once.
    union = typing.get_args(typing.get_args(Step)[0])
    assert set(union) == set(STEP_TYPES)
    assert len(set(IDS)) == len(IDS), f"a type tag is used twice: {IDS}"


def test_every_step_type_has_a_handler_and_no_handler_is_orphaned() -> None:
    missing = [t.__name__ for t in STEP_TYPES if t not in HANDLERS]
    assert missing == [], f"step types without a handler in workflows/steps/: {missing}"
    assert set(HANDLERS) == set(STEP_TYPES)
    for step_type, handler in HANDLERS.items():
        assert inspect.iscoroutinefunction(handler), f"{step_type.__name__}: handler not async"


@pytest.mark.parametrize("step_type", STEP_TYPES, ids=IDS)
def test_every_step_type_declares_its_ways_out_words_and_example(
    step_type: type[StepBase],
) -> None:
    for name in ("WAYS", "EXAMPLE"):
        assert name in vars(step_type) or any(
            name in vars(base) for base in step_type.__mro__[1:-1] if base is not StepBase
        ), f"{step_type.__name__} does not declare {name}"
    for method in ("ways_out", "describe"):
        assert getattr(step_type, method) is not getattr(StepBase, method), (
            f"{step_type.__name__} does not define {method}()"
        )
    step = TypeAdapter(Step).validate_python(step_type.EXAMPLE)
    assert type(step) is step_type, "the example parses as another type"
    assert tuple(step.ways_out()) == step_type.WAYS
    assert step.describe().strip(), "an empty description says nothing in the Web UI"
    # What it refers to is named by a field it really has (activation blames that field).
    needed = step.references()
    for kind, keys in (("template", needed.templates), ("group", needed.groups)):
        if keys:
            assert needed.field_of(kind) in step_type.EXAMPLE, (kind, needed.field_of(kind))
