from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import Input, Output, TimeZoneName, finite_json
from domain.relation_fields import (
    MAX_CUSTOM_BYTES,
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_NAME,
    check_custom,
    normal_email,
)


def _custom_bounded(value: dict[str, Any]) -> dict[str, Any]:
    # The bounds are shared with the relation data steps (domain/relation_fields.py).
    finite_json(value)
    return check_custom(value)


Email = Annotated[str, Field(max_length=320), AfterValidator(normal_email)]


ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="The relation's id in your own system (unique); events may name it",
    ),
]


class RelationBase(Input):
    email: Email | None = None
    external_id: ExternalId | None = None
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    timezone: TimeZoneName | None = Field(default=None, examples=["Europe/Amsterdam"])
    locale: str | None = Field(default=None, max_length=16, examples=["nl-NL"])
    opt_in_email: bool = True
    opt_in_sms: bool = False
    custom: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Custom fields, usable in conditions and templates: at most "
        f"{MAX_CUSTOM_FIELDS}, names up to {MAX_CUSTOM_NAME} characters, "
        f"{MAX_CUSTOM_BYTES // 1024} KiB as JSON in all",
    )

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _custom_bounded(value)


class RelationCreate(RelationBase):
    pass


class RelationUpdate(Input):
    """Only the fields given change; `null` clears an optional field."""

    email: Email | None = None
    external_id: ExternalId | None = None
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    timezone: TimeZoneName | None = None
    locale: str | None = Field(default=None, max_length=16)
    opt_in_email: bool | None = None
    opt_in_sms: bool | None = None
    custom: dict[str, Any] | None = None

    @field_validator("opt_in_email", "opt_in_sms", "custom")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the request sets: these have no "cleared" state.
        if value is None:
            raise PydanticCustomError("not_null", "may not be null")
        if isinstance(value, dict):
            return _custom_bounded(value)
        return value


class RelationPublic(Output):
    id: int
    email: str | None
    external_id: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    timezone: str | None
    locale: str | None
    opt_in_email: bool
    opt_in_sms: bool
    custom: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RelationsPublic(Output):
    data: list[RelationPublic]
    count: int
