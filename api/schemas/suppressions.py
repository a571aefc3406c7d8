"""The suppression list over HTTP. Addresses go in; only their hashes come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from api.schemas.common import Input, Output
from api.schemas.relations import Email
from domain.statuses import SuppressionReason


def _normalised(value: str) -> str:
    """The form a relation's address is stored in (and hashed from at send time) when it
    is a valid address; as typed otherwise: a bounce report may have put an address on
    the list that no form would accept, and it must still be found."""
    value = value.strip()
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return value
    return checked.normalized


AnyAddress = Annotated[str, Field(min_length=1, max_length=320), AfterValidator(_normalised)]


class SuppressionCreate(Input):
    email: Email = Field(description="Never mailed again, whatever the journey")
    detail: str = Field(default="", max_length=500, description="Why, for other operators")


class SuppressionLift(Input):
    email: AnyAddress


class SuppressionPublic(Output):
    id: int
    address_hash: str = Field(
        description="SHA-256 of the lower-cased address: the list outlives the relation's "
        "erasure without keeping the address"
    )
    reason: SuppressionReason
    detail: str
    send_id: int | None = Field(description="The send whose bounce or complaint caused it")
    created_at: datetime


class SuppressionsPublic(Output):
    data: list[SuppressionPublic]
    count: int


class SuppressionCheck(Output):
    suppressed: bool
    suppression: SuppressionPublic | None = None
