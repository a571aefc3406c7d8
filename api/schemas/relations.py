from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import Input, Output, TimeZoneName, finite_json
from domain.conditions import STANDARD_FIELDS

# Bounds on custom fields (documented in the README): a relation is a CRM record, not
# a document store, and every list page and render context carries all of it.
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_NAME = 64
MAX_CUSTOM_BYTES = 16 * 1024  # all custom fields together, as JSON


def _email(value: str) -> str:
    """A syntactically valid address, normalised (domain lower-cased, IDNA checked).

    Non-ASCII local parts (`ünï@...`) need SMTPUTF8 on every server on the way, which
    reisplan does not use: refused here, with the reason, rather than retried at send.
    Internationalised domains are fine: they go out IDNA-encoded."""
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise PydanticCustomError(
            "email", "not a valid email address: {reason}", {"reason": str(error)}
        ) from None
    return checked.normalized


def _custom_bounded(value: dict[str, Any]) -> dict[str, Any]:
    finite_json(value)
    if len(value) > MAX_CUSTOM_FIELDS:
        raise PydanticCustomError(
            "custom_field", "at most {limit} custom fields", {"limit": MAX_CUSTOM_FIELDS}
        )
    long = sorted(name for name in value if len(name) > MAX_CUSTOM_NAME)
    if long:
        raise PydanticCustomError(
            "custom_field",
            "custom field names are at most {limit} characters: {name}...",
            {"limit": MAX_CUSTOM_NAME, "name": long[0][:MAX_CUSTOM_NAME]},
        )
    size = len(json.dumps(value, default=str).encode())
    if size > MAX_CUSTOM_BYTES:
        raise PydanticCustomError(
            "custom_field",
            "custom fields take {size} bytes as JSON; at most {limit} are allowed",
            {"size": f"{size:,}", "limit": f"{MAX_CUSTOM_BYTES:,}"},
        )
    return _no_shadowing(value)


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
