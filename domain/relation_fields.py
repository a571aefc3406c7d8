"""A relation's writable fields and the values steps write to them.

One set of rules for the API's relation bodies and the relation data steps
(update_relation, add_relation, upsert_relation, lookup_relation): which names are
standard fields, what each holds, how an address is normalised, and how far custom
fields may go. A step's value is fixed (`{field, value}`, checked when the journey is
validated) or taken from the payload of the event that admitted the trip (`{field,
from: "event.<key>"}`: Deployteq's "omgevingsvelden"), checked when the trip gets there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import date
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.conditions import STANDARD_FIELDS
from domain.schema import Model, is_frozen

# Bounds on custom fields (documented in the README): a relation is a CRM record, not
# a document store, and every list page and render context carries all of it.
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_NAME = 64
MAX_CUSTOM_BYTES = 16 * 1024  # all custom fields together, as JSON

# Columns a step may write; any other name (not a read-only one) is a custom field.
TEXT_LENGTHS = {"phone": 40, "first_name": 200, "last_name": 200, "locale": 16}
WRITABLE = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "last_name",
        "birth_date",
        "timezone",
        "locale",
        "opt_in_email",
        "opt_in_sms",
        "external_id",
    }
)
NOT_NULL = frozenset({"opt_in_email", "opt_in_sms"})
_READ_ONLY = frozenset({"id", "created_at", "updated_at", "custom", "email_claim"})
EVENT_PREFIX = "event."


def normal_email(value: str) -> str:
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


def check_custom(value: dict[str, Any]) -> dict[str, Any]:
    """Custom fields within their bounds, none named like a standard field (the caller
    refuses NaN and infinities first: JSON cannot hold them)."""
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


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown timezone") from None
    return value


class Unfit(ValueError):
    """A value the field cannot hold; `kind` says what it takes ("a date")."""

    def __init__(self, field: str, kind: str) -> None:
        super().__init__(f"{field} takes {kind}")
        self.field = field
        self.kind = kind


@cache
def _text(length: int) -> TypeAdapter[str]:
    return TypeAdapter(Annotated[str, Field(min_length=1, max_length=length)])


_EMAIL: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(max_length=320)])
_DATE: TypeAdapter[date] = TypeAdapter(date)
_BOOL: TypeAdapter[bool] = TypeAdapter(bool)


def _standard(field: str) -> tuple[str, Callable[[Any], Any]]:
    """What the standard field takes, in words, and its check (raising on a misfit)."""
    if field == "email":
        return "an email address", lambda v: normal_email(_EMAIL.validate_python(v))
    if field == "birth_date":
        return "a date (YYYY-MM-DD)", _DATE.validate_python
    if field in ("opt_in_email", "opt_in_sms"):
        return "yes or no (true or false)", _BOOL.validate_python
    if field == "timezone":
        return "an IANA timezone", lambda v: _zone(_text(64).validate_python(v))
    if field == "external_id":
        return "text of 1 to 200 characters", _text(200).validate_python
    length = TEXT_LENGTHS[field]
    return f"text of 1 to {length} characters", _text(length).validate_python


def _custom(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not finite")
    if not isinstance(value, str | int | float | bool):
        raise ValueError("not a scalar")
    if isinstance(value, str) and len(value.encode()) > MAX_CUSTOM_BYTES:
        raise ValueError("too long")
    return value


def kind_of(field: str) -> str:
    return _standard(field)[0] if field in WRITABLE else "a single value (text, number, yes/no)"


def fit(field: str, value: Any) -> Any:
    """The value as the field stores it (an address normalised, a date parsed), or
    Unfit. None means "clear the field" and fits every field but the opt-ins."""
    if value is None:
        if field in NOT_NULL:
            raise Unfit(field, kind_of(field))
        return None
    if field in WRITABLE:
        words, check = _standard(field)
        if field not in ("opt_in_email", "opt_in_sms", "birth_date") and isinstance(value, int):
            # A number from a form (a phone number, an id) is text to a text field.
            value = value if isinstance(value, bool) else str(value)
        try:
            return check(value)
        except (ValueError, ValidationError, PydanticCustomError):
            raise Unfit(field, words) from None
    try:
        return _custom(value)
    except ValueError:
        raise Unfit(field, kind_of(field)) from None


def check_name(field: str) -> str:
    """A name a step may write: a writable standard field, or a custom field."""
    if field in _READ_ONLY or (field in STANDARD_FIELDS and field not in WRITABLE):
        raise PydanticCustomError(
            "field_name", "'{field}' cannot be written", {"field": field[:MAX_CUSTOM_NAME]}
        )
    return field


FieldName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CUSTOM_NAME,
        description="A standard field (email, phone, first_name, last_name, birth_date, "
        "timezone, locale, opt_in_email, opt_in_sms, external_id) or a custom field",
    ),
]
EventKey = Annotated[
    str,
    Field(
        pattern=r"^event\..{1,100}$",
        description="`event.<key>`: the value of this key in the payload of the event "
        "that admitted the trip",
        examples=["event.email"],
    ),
]
Scalar = str | int | float | bool | None


class FieldValue(Model):
    """A value for one field: fixed (`value`) or from the admitting event's payload
    (`from: event.<key>`)."""

    field: FieldName
    from_: EventKey | None = Field(
        default=None,
        alias="from",
        description="Take the value from the payload of the event that admitted the trip",
    )
    value: Scalar = Field(default=None, description="A fixed value (null clears the field)")

    @field_validator("field")
    @classmethod
    def _writable(cls, field: str, info: ValidationInfo) -> str:
        return field if is_frozen(info) else check_name(field)

    @field_validator("value", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if isinstance(value, list | dict):
            raise PydanticCustomError(
                "field_value", "a field holds a single value (text, number, yes/no, null)"
            )
        return value

    @field_validator("value")
    @classmethod
    def _fits(cls, value: Scalar, info: ValidationInfo) -> Scalar:
        field = info.data.get("field")
        if is_frozen(info) or field is None:
            return value
        if info.data.get("from_") is not None:
            if value is not None:
                raise PydanticCustomError(
                    "field_value", "give either a fixed `value` or `from`, not both"
                )
            return value
        try:
            fit(field, value)
        except Unfit as unfit:
            raise PydanticCustomError(
                "field_value", "{field} takes {kind}", {"field": field, "kind": unfit.kind}
            ) from None
        # Kept as written (the address as typed): normalised when it is written.
        return value

    @model_validator(mode="after")
    def _has_a_source(self, info: ValidationInfo) -> FieldValue:
        if not is_frozen(info) and self.from_ is None and "value" not in self.model_fields_set:
            raise PydanticCustomError("field_value", "give a fixed `value` or `from: event.<key>`")
        return self

    @property
    def event_key(self) -> str | None:
        return self.from_[len(EVENT_PREFIX) :] if self.from_ is not None else None

    def source(self) -> str:
        """Where the value comes from, in words without the value itself."""
        return f"from {self.from_}" if self.from_ is not None else "fixed"


class UniqueFieldValue(FieldValue):
    unique: bool = Field(
        default=False,
        description="De-duplicate on this field: an existing relation with "
        "the same value (all unique fields together) is updated instead of created",
    )


def no_repeats(values: list[FieldValue], info: ValidationInfo) -> list[FieldValue]:
    """One value per field: two for one field would leave which wins to chance."""
    if is_frozen(info):
        return values
    seen: set[str] = set()
    for index, item in enumerate(values):
        if item.field in seen:
            raise PydanticCustomError(
                "field_twice",
                "[{index}]: field '{field}' is given twice",
                {"index": index, "field": item.field},
            )
        seen.add(item.field)
    return values


def names(values: Sequence[FieldValue]) -> str:
    return ", ".join(v.field for v in values)
