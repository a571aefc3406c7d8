"""Groups: add the relation to a group (or to a subgroup named from variables, such as
the date), remove it, or make a group equal to a selection run's relations (Deployteq's
"Toevoegen aan groep", "Verwijderen uit groep", "Synchroniseren naar groep", seed 002).

A subgroup's name is a tiny template: `{{ today }}` (the day the trip reached the step,
in the journey's timezone) and `{{ event.<key> }}` (the admitting event's payload),
nothing else, so a name is always made the same way, also by a retry on another day.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from domain.schema import is_frozen
from domain.steps.base import Linear, References

GROUP_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
GroupKey = Annotated[str, Field(pattern=GROUP_KEY, description="A group's key")]
MAX_KEY = 100

_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_EVENT_KEY = re.compile(r"^event\.[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,4}$")
_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9_.-]+")


def variables(template: str) -> list[str]:
    return list(_VARIABLE.findall(template))


def _check_subgroup(template: str) -> str:
    names = variables(template)
    unknown = [n for n in names if n != "today" and not _EVENT_KEY.match(n)]
    if unknown:
        raise ValueError(
            f"unknown variable '{{{{ {unknown[0]} }}}}': use {{{{ today }}}} or "
            "{{ event.<payload key> }}"
        )
    rest = _VARIABLE.sub("", template)
    if "{{" in rest or "}}" in rest:
        raise ValueError("a '{{' or '}}' that is not part of a {{ variable }}")
    if not names and render_subgroup(template, date.min, {}) is None:
        raise ValueError("the name holds no letter or digit")
    return template


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def _lookup(payload: Mapping[str, Any], dotted: str) -> Any:
    value: Any = payload
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def render_subgroup(template: str, today: date, payload: Mapping[str, Any]) -> str | None:
    """The subgroup's key: the template with its variables filled in, characters that a
    key cannot hold replaced by '-', at most MAX_KEY long; None when nothing is left
    (an event without the value, say)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "today":
            return today.isoformat()
        return _text(_lookup(payload, name.removeprefix("event.")))

    text = _VARIABLE.sub(fill, template)
    key = _NOT_IN_KEY.sub("-", text).lstrip("_.-")[:MAX_KEY]
    return key or None


class AddToGroupStep(Linear):
    """Add the relation to `group`; with `subgroup`, to the subgroup of `group` with that
    name (made the first time a trip needs it), e.g. `webinar-{{ today }}`."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "attended",
        "type": "add_to_group",
        "group": "webinar",
        "subgroup": "webinar-{{ today }}",
    }

    type: Literal["add_to_group"]
    group: GroupKey
    subgroup: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Name of a subgroup of `group` to add to instead, made when first "
        "needed; variables {{ today }} (the day, in the journey's timezone) and "
        "{{ event.<key> }} (the admitting event's payload)",
    )

    @field_validator("subgroup")
    @classmethod
    def _known_variables(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or is_frozen(info):
            return value
        return _check_subgroup(value)

    def uses_event(self) -> bool:
        return any(n.startswith("event.") for n in variables(self.subgroup or ""))

    def describe(self) -> str:
        if self.subgroup:
            return f"add to subgroup `{self.subgroup}` of group `{self.group}`"
        return f"add to group `{self.group}`"

    def references(self) -> References:
        return References(groups=frozenset({self.group}))


class RemoveFromGroupStep(Linear):
    """Remove the relation from `group` (a relation that is not in it goes on unchanged)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "not_interested",
        "type": "remove_from_group",
        "group": "newsletter",
    }

    type: Literal["remove_from_group"]
    group: GroupKey

    def describe(self) -> str:
        return f"remove from group `{self.group}`"

    def references(self) -> References:
        return References(groups=frozenset({self.group}))


class SyncGroupStep(Linear):
    """Make `group` equal to the selection of the run that admitted the trip: relations
    not selected leave it, selected ones join. Done once per run, when the run has
    admitted everyone (not once per trip); the journey needs a `selection` trigger."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "mirror",
        "type": "sync_group",
        "group": "this_week",
    }
    # It acts on a run's selection, not on the trip's relation.
    NEEDS_RELATION: ClassVar[bool] = False

    type: Literal["sync_group"]
    group: GroupKey

    def describe(self) -> str:
        return f"make group `{self.group}` equal to the run's selection"

    def references(self) -> References:
        return References(groups=frozenset({self.group}))


STEPS = (AddToGroupStep, RemoveFromGroupStep, SyncGroupStep)
