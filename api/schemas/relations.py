from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import Input, Output, TimeZoneName
from domain.conditions import STANDARD_FIELDS

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise PydanticCustomError("email", "not a valid email address")
    return value


def _no_shadowing(value: dict[str, Any]) -> dict[str, Any]:
    # Conditions read standard fields first: a custom field with the same name would
    # silently never be seen.
    clashes = sorted(set(value) & STANDARD_FIELDS)
    if clashes:
        raise PydanticCustomError(
            "custom_field",
            "custom fields may not use standard field names: {names}",
            {"names": ", ".join(clashes)},
        )
    return value


Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]


class RelationBase(Input):
    email: Email | None = None
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    timezone: TimeZoneName | None = Field(default=None, examples=["Europe/Amsterdam"])
    locale: str | None = Field(default=None, max_length=16, examples=["nl-NL"])
    opt_in_email: bool = True
    opt_in_sms: bool = False
    custom: dict[str, Any] = Field(
        default_factory=dict, description="Custom fields, usable in conditions and templates"
    )

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _no_shadowing(value)


class RelationCreate(RelationBase):
    pass


class RelationUpdate(Input):
    """Only the fields given change; `null` clears an optional field."""

    email: Email | None = None
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
            return _no_shadowing(value)
        return value


class RelationPublic(Output):
    id: int
    email: str | None
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
