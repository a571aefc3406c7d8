"""Imports: a CSV file of relations imported while the journey waits (Deployteq's import
object, seed 002). The relations it brings in travel on, each on a trip of its own."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from domain.import_mapping import map_problems, unique_problems
from domain.schema import StepId, is_frozen
from domain.steps.base import StepBase

# `{{ today }}`: the passage's date in the journey's timezone (a daily file drop).
_TODAY = re.compile(r"\{\{\s*today\s*\}\}")
_PART = r"[A-Za-z0-9_][A-Za-z0-9 _.@+-]*"
_FILE = re.compile(rf"^{_PART}(/{_PART})*$")


def file_name(template: str, today: date) -> str:
    """The file an import step reads on `today`."""
    return _TODAY.sub(today.isoformat(), template)


class ImportStep(StepBase):
    """Import a CSV file from the import directory and wait until it is done. The new
    and updated relations each start a trip of their own at the step that `new`,
    `updated` (or `continue` for both) leads to; the trip that imported goes to
    `on_error` when the import failed or refused rows, and otherwise ends here."""

    WAYS: ClassVar[tuple[str, ...]] = ("continue", "new", "updated", "on_error")
    # Often the first step of a journey that a schedule or an event starts.
    NEEDS_RELATION: ClassVar[bool] = False
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "members",
        "type": "import",
        "file": "members-{{ today }}.csv",
        "map": {"E-mail": "email", "Voornaam": "first_name"},
        "unique": ["email"],
        "new": "welcome",
        "updated": "thanks",
        "on_error": "tell_support",
    }

    type: Literal["import"]
    file: str = Field(
        min_length=1,
        max_length=200,
        description="A file in the import directory; `{{ today }}` is the day of the "
        "passage in the journey's timezone (members-{{ today }}.csv)",
    )
    map: dict[str, str] = Field(
        description="CSV column -> relation field: a standard one (email, first_name, "
        "...) or a custom field's name"
    )
    unique: list[str] = Field(
        max_length=5, description="Mapped fields that recognise an existing relation"
    )
    continue_: StepId | None = Field(
        default=None,
        alias="continue",
        description="Where new and updated relations start their trips (default: the next step)",
    )
    new: StepId | None = Field(
        default=None, description="Where new relations start instead of `continue`"
    )
    updated: StepId | None = Field(
        default=None, description="Where updated relations start instead of `continue`"
    )
    on_error: StepId | None = Field(
        default=None,
        description="Where the importing trip goes when the import failed or refused rows; "
        "unset: it ends here",
    )

    @field_validator("file")
    @classmethod
    def _a_file_in_the_directory(cls, value: str, info: ValidationInfo) -> str:
        if is_frozen(info):
            return value
        name = file_name(value, date(2000, 1, 1))
        if "{{" in name or "}}" in name:
            raise ValueError("the only variable a file name may hold is {{ today }}")
        if not _FILE.fullmatch(name) or ".." in name.split("/"):
            raise ValueError(
                "a file name in the import directory: letters, digits, space and _.@+- "
                "with / between folders (no absolute path, no ..)"
            )
        return value

    @field_validator("map")
    @classmethod
    def _known_fields(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if is_frozen(info):
            return value
        problems = map_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("unique")
    @classmethod
    def _mapped(cls, value: list[str], info: ValidationInfo) -> list[str]:
        mapping = info.data.get("map")
        if is_frozen(info) or mapping is None:
            return value  # a bad `map` is reported on its own
        problems = unique_problems(mapping, value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def ways_out(self) -> dict[str, str | None]:
        ways: dict[str, str | None] = {"continue": self.continue_}
        for way, target in (
            ("new", self.new),
            ("updated", self.updated),
            ("on_error", self.on_error),
        ):
            if target is not None:
                ways[way] = target
        return ways

    def gives_relation(self) -> frozenset[str]:
        # Only the imported relations' own trips go these ways, each with its relation.
        return frozenset({"continue", "new", "updated"})

    def way_for(self, outcome: Literal["new", "updated"]) -> str:
        """The way the relations with this outcome take."""
        return outcome if outcome in self.ways_out() else "continue"

    def describe(self) -> str:
        return f"import `{self.file}` (by {', '.join(self.unique)})"


STEPS = (ImportStep,)
