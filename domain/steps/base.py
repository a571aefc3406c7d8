"""What every step type declares: its named ways out, its words for operators and what
it refers to. The trip workflow, graph validation, activation checks and the Web UI all
read these, so a step type's knowledge lives in its own class and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from domain.schema import Model, StepId


@dataclass(frozen=True)
class References:
    """Things outside the journey that a step needs to exist at activation.

    `fields` names the step's field that holds each kind ("template", "group",
    "segment"), so activation blames the right one; by default the field is the kind.
    """

    templates: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    segments: frozenset[str] = field(default_factory=frozenset)
    fields: Mapping[str, str] = field(default_factory=dict)

    def field_of(self, kind: str) -> str:
        return self.fields.get(kind, kind)

    def __or__(self, other: References) -> References:
        return References(
            self.templates | other.templates,
            self.groups | other.groups,
            self.segments | other.segments,
            {**self.fields, **other.fields},
        )


NOTHING = References()


class StepBase(Model):
    """A node of a journey. Subclasses add a `type` literal and their settings."""

    # The names of the ways out, in the order they are drawn; () ends the trip.
    WAYS: ClassVar[tuple[str, ...]]
    # A minimal valid step of this type, for the docs and the registry completeness test.
    EXAMPLE: ClassVar[dict[str, Any]]
    # Whether the step acts on the trip's relation. A trip admitted by an event that names
    # no known relation has none until a step gives it one (`gives_relation`); graph
    # validation refuses a journey in which such a trip could reach this step before.
    NEEDS_RELATION: ClassVar[bool] = True

    type: str
    id: StepId
    name: str | None = Field(default=None, description="Label shown to operators")

    def label(self) -> str:
        return self.name or self.id

    def ways_out(self) -> dict[str, str | None]:
        """Way name -> the step it leads to; None means the step after it in the list
        (or the end of the trip after the last step)."""
        raise NotImplementedError(f"step type '{self.type}' does not say its ways out")

    def describe(self) -> str:
        """What the step does, in an operator's words: 'wait 7 days', 'send `welcome`'."""
        raise NotImplementedError(f"step type '{self.type}' has no description")

    def references(self) -> References:
        return NOTHING

    def gives_relation(self) -> frozenset[str]:
        """Ways out after which the trip surely has a relation (a lookup found one, an
        add or upsert made one)."""
        return frozenset()

    def listens_for(self) -> frozenset[str]:
        """Event types a trip at this step waits for (signalled to it as they arrive)."""
        return frozenset()


class Linear(StepBase):
    """A step with one way out, `next`."""

    WAYS: ClassVar[tuple[str, ...]] = ("next",)

    next: StepId | None = Field(
        default=None, description="Step to go to afterwards; default: the next in the list"
    )

    def ways_out(self) -> dict[str, str | None]:
        return {"next": self.next}
