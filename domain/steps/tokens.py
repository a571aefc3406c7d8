"""Tokens: chosen fields of a relation, encrypted for a URL (Deployteq's "encrypt relation
data" object, seed 002): tracking, pre-filled forms, soft login.

The rules for what a token may carry and how long it may live are here, in one place,
for the `encrypt` step and the `encrypt(...)` helper in templates alike.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from domain.conditions import STANDARD_FIELDS
from domain.durations import Duration
from domain.schema import is_frozen
from domain.steps.base import Linear

# Fields of the relation itself a token may carry; any other name is a custom field.
RELATION_FIELDS = frozenset({"id", "external_id", *STANDARD_FIELDS})
# A custom field's name as a token carries it: what templates reach as
# `{{ relation.member_no }}` (or `relation['member-no']`), and fits a URL's JSON plainly.
_CUSTOM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
# The token's own expiry sits beside the fields: no field may take its name.
EXPIRY_KEY = "exp"
MAX_FIELDS = 10
DEFAULT_LIFETIME = "P30D"
# A link in a mail that still logs in after more than a year is a liability, not a feature.
MAX_LIFETIME = timedelta(days=400)

_KNOWN = "id, external_id, " + ", ".join(sorted(STANDARD_FIELDS))
_NAMING = "letters, digits, '_' and '-', at most 64, starting with a letter or '_'"


def field_problem(name: object) -> str | None:
    """Why `name` cannot be carried by a token, or None when it can."""
    if not isinstance(name, str) or not _CUSTOM_NAME.fullmatch(name):
        return (
            f"unknown field {str(name)[:70]!r}: a token carries {_KNOWN} or a custom "
            f"field ({_NAMING})"
        )
    if name == EXPIRY_KEY:
        return f"'{EXPIRY_KEY}' is the token's own expiry: store the field under another name"
    return None


def lifetime(text: str) -> timedelta:
    """How long a token lives: an ISO-8601 duration of at most MAX_LIFETIME."""
    parsed = Duration.parse(text)
    if parsed.seconds > MAX_LIFETIME.total_seconds():
        raise ValueError(
            f"'{text[:40]}' is longer than {MAX_LIFETIME.days} days, the longest a token lives"
        )
    return timedelta(seconds=parsed.seconds)


def describe_fields(fields: list[str]) -> str:
    return ", ".join(fields)


class EncryptStep(Linear):
    """Make an encrypted token of chosen fields of the relation and store it in one of
    its custom fields, for links in later mails (`{{ relation.token }}`) and exports."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "login_link",
        "type": "encrypt",
        "fields": ["id", "email"],
    }

    type: Literal["encrypt"]
    fields: list[str] = Field(
        min_length=1,
        max_length=MAX_FIELDS,
        description=f"What the token carries (1-{MAX_FIELDS}): {_KNOWN}, or custom fields",
    )
    expires_in: str = Field(
        default=DEFAULT_LIFETIME,
        max_length=60,
        description="How long the token is valid, from the moment the trip reaches the "
        f"step: ISO-8601, at most P{MAX_LIFETIME.days}D",
    )
    into: str = Field(
        default="token",
        validate_default=True,  # `fields` may name the default too
        description="The custom field the token is stored in (`{{ relation.token }}`)",
    )

    @field_validator("fields")
    @classmethod
    def _carried(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if is_frozen(info):
            return value
        for name in value:
            problem = field_problem(name)
            if problem is not None:
                raise ValueError(problem)
        doubles = sorted({name for name in value if value.count(name) > 1})
        if doubles:
            raise ValueError(f"each field once: {', '.join(doubles)} is named twice")
        return value

    @field_validator("expires_in")
    @classmethod
    def _bounded(cls, value: str, info: ValidationInfo) -> str:
        if is_frozen(info):
            Duration.parse(value)  # what the trip needs to compute the expiry
        else:
            lifetime(value)
        return value

    @field_validator("into")
    @classmethod
    def _custom(cls, value: str, info: ValidationInfo) -> str:
        if is_frozen(info):
            return value
        if value in RELATION_FIELDS:
            raise ValueError(
                f"'{value}' is a standard field; the token goes into a custom field (e.g. 'token')"
            )
        if not _CUSTOM_NAME.fullmatch(value):
            raise ValueError(f"{value[:70]!r} is not a custom field name: {_NAMING}")
        # `fields` is declared first, so it is in info.data once it passed.
        if value in info.data.get("fields", ()):
            raise ValueError(
                f"'{value}' is also among the fields: a token cannot carry the field it "
                "is stored in"
            )
        return value

    def valid_for(self) -> timedelta:
        # Frozen versions skip the bound (rules that only refuse are not applied again).
        return timedelta(seconds=Duration.parse(self.expires_in).seconds)

    def describe(self) -> str:
        return (
            f"encrypt {describe_fields(self.fields)} into `{self.into}`, valid "
            f"{Duration.parse(self.expires_in).describe()}"
        )


STEPS = (EncryptStep,)
