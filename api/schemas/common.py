from __future__ import annotations

import math
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

Key = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Stable identifier: letters, digits, '_', '.', '-'",
        examples=["welcome"],
    ),
]


# Ids are `integer` columns, 32-bit in PostgreSQL: a larger number must be a 422 naming
# the field, not a driver overflow (a 500). OFFSET takes 64 bits in both databases.
MAX_ID = 2**31 - 1
# Items per page: with custom fields bounded, a page of relations stays a few MB.
MAX_PAGE = 200
MAX_OFFSET = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _iana(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "unknown timezone '{zone}' (use an IANA name such as Europe/Amsterdam)",
            {"zone": value},
        ) from None
    return value


TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_iana)]


class Input(BaseModel):
    """Request bodies refuse unknown fields, so a typo is a 422 that names it."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        # PostgreSQL cannot store U+0000 in text or JSON; refuse it here, naming where,
        # instead of failing in the driver after validation passed.
        where = _nul_in(data, [])
        if where is not None:
            raise PydanticCustomError(
                "nul_character",
                "'{field}' contains a NUL character (U+0000), which cannot be stored",
                {"field": ".".join(where) or "body"},
            )
        return data


def _nul_in(value: Any, path: list[str]) -> list[str] | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                return [*path, key.replace("\x00", "\\0")]
            found = _nul_in(item, [*path, str(key)])
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, [*path, str(index)])
            if found is not None:
                return found
    return None


def _not_finite_in(value: Any, path: list[str]) -> list[str] | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _not_finite_in(item, [*path, str(key)])
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _not_finite_in(item, [*path, str(index)])
            if found is not None:
                return found
    return None


def finite_json(value: Any) -> Any:
    """Free-form JSON (custom fields, an event's payload) without NaN or Infinity: JSON
    has no such numbers, SQLite would store invalid JSON that breaks every segment query
    over it, and PostgreSQL refuses the write."""
    where = _not_finite_in(value, [])
    if where is not None:
        raise PydanticCustomError(
            "not_finite",
            "'{field}' is NaN or infinite, which JSON cannot hold",
            {"field": ".".join(where) or "value"},
        )
    return value


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(BaseModel):
    """The body of a 401, 403, 404, 409 or 413: what went wrong, in a sentence."""

    detail: str
