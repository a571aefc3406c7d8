from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

Key = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Stable identifier: letters, digits, '_', '.', '-'",
        examples=["welcome"],
    ),
]


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


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)
