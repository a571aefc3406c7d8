"""Exports: Deployteq's export object with a bucket (seed 002). Trips that reach the
step are collected for a period, or until the selection run that admitted them ends,
and written once as one CSV file instead of one file per relation; the trip goes on at
once."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from domain.buckets import Every, describe_every
from domain.schema import Model, is_frozen
from domain.steps.base import Linear

# Columns of a relation an export may write (id included: customer service looks the
# relation up by it); any other name is a custom field.
RELATION_FIELDS: tuple[str, ...] = (
    "id",
    "external_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "birth_date",
    "locale",
    "timezone",
    "opt_in_email",
    "opt_in_sms",
    "created_at",
)
# Facts of the trip rather than the relation: which trip, and when it reached the step.
TRIP_FIELDS: tuple[str, ...] = ("trip_id", "reached_at")
_CUSTOM_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

# What a file name may hold besides letters, digits, '.', '_' and '-': these, filled in
# when the file is written. A name never has a directory in it (no '/', no '..').
FILE_VARIABLES = ("journey", "journey_id", "step", "bucket")
DEFAULT_FILE = "{journey}-{step}-{bucket}.csv"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_VARIABLE = re.compile(r"\{([^{}]*)\}")


class Period(Model):
    """A bucket per period of the journey's local calendar: an hour, a day (from local
    midnight) or a week (from Monday 00:00)."""

    every: Every = Field(description="PT1H: per hour; P1D: per day; P7D: per week")


class ExportStep(Linear):
    """Collect the trips that reach this step in a bucket and write the bucket once, as
    one CSV file with the chosen fields, when it ends: after its period (in the
    journey's timezone), or when the selection run that admitted the trips ends. The
    trip goes on at once; the file is written later, by a Temporal workflow per bucket."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "bounced",
        "type": "export",
        "fields": ["id", "email", "first_name"],
        "bucket": {"every": "P1D"},
    }

    type: Literal["export"]
    fields: list[str] = Field(
        min_length=1,
        max_length=100,
        description="Columns, in order: relation fields ("
        + ", ".join(RELATION_FIELDS)
        + "), custom fields by name, or the trip's "
        + " and ".join(TRIP_FIELDS),
    )
    bucket: Period | Literal["run"] = Field(
        description='{"every": "P1D"} (or PT1H, P7D): one file per period; "run": one '
        "file per selection run, written when the run that admitted the trips ends"
    )
    file: str = Field(
        default=DEFAULT_FILE,
        max_length=120,
        description="File name; may use {journey}, {journey_id}, {step} and {bucket}, "
        "must use {bucket} and end in .csv. A later part of a bucket gets -part2, ...",
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if is_frozen(info):
            return value
        for name in value:
            if not _CUSTOM_FIELD.fullmatch(name):
                raise ValueError(
                    f"'{name}' is not a field name (letters, digits and '_', a letter first)"
                )
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"a column is named twice: {', '.join(twice)}")
        return value

    @field_validator("file")
    @classmethod
    def _safe_file_name(cls, value: str, info: ValidationInfo) -> str:
        if is_frozen(info):
            return value
        unknown = sorted(set(_VARIABLE.findall(value)) - set(FILE_VARIABLES))
        if unknown:
            raise ValueError(
                f"unknown variable {{{unknown[0]}}}; use "
                + ", ".join(f"{{{v}}}" for v in FILE_VARIABLES)
            )
        if "{bucket}" not in value:
            raise ValueError("the file name must contain {bucket}: each bucket has its file")
        bare = _VARIABLE.sub("x", value)
        if not _SAFE_NAME.fullmatch(bare) or ".." in bare:
            raise ValueError(
                "a file name holds letters, digits, '.', '_', '-' and variables only "
                "(no directory, no leading '.')"
            )
        if not value.lower().endswith(".csv"):
            raise ValueError("the file name must end in .csv")
        return value

    def describe(self) -> str:
        return f"export {', '.join(self.fields)} to CSV, {describe_every(self.every())}"

    def every(self) -> Every | Literal["run"]:
        return "run" if self.bucket == "run" else self.bucket.every


STEPS = (ExportStep,)
