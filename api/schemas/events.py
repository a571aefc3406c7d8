from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from api.schemas.common import Id, Input, Output, finite_json
from api.schemas.relations import Email, ExternalId, RelationBase
from domain.triggers import EVENT_TYPE

# A payload is what happened (an amount, a fund, a cart), not a document store; it is
# read by every condition and template of the trips it admits.
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_BATCH = 500


class RelationFields(RelationBase):
    """Fields for a relation that the event creates (email comes from `email`)."""

    @model_validator(mode="before")
    @classmethod
    def _no_email(cls, data: Any) -> Any:
        if isinstance(data, dict) and ({"email", "external_id"} & set(data)):
            raise PydanticCustomError(
                "relation_fields", "give email and external_id in `relation`, not in `fields`"
            )
        return data


class RelationRef(Input):
    """Which relation the event is about: `id`, or `external_id` (unique per relation,
    your system's id), or `email`. With `create: true` an unknown one is created (by
    external id and/or email), so one person never becomes two; without it, an
    unknown relation is a 422."""

    id: Id | None = None
    external_id: ExternalId | None = None
    email: Email | None = None
    create: bool = False
    fields: RelationFields | None = Field(default=None, description="for a new relation")

    @model_validator(mode="after")
    def _one_way(self) -> RelationRef:
        if self.id is None and self.external_id is None and self.email is None:
            raise PydanticCustomError("relation", "name the relation by id, external_id or email")
        if self.id is not None and self.create:
            raise PydanticCustomError("relation", "a relation named by id cannot be created")
        return self


class EventCreate(Input):
    type: str = Field(
        pattern=EVENT_TYPE,
        description="donation, registration, purchase, download, newsletter_signup, or any "
        "name of your own",
        examples=["donation"],
    )
    relation: RelationRef | None = Field(
        default=None,
        description="Leave out for an event that names no relation (a form post with an "
        "email and a name): it admits only to journeys whose `event` trigger says "
        "`without_relation: true`, whose steps find or add the relation",
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description=f"What happened, at most {MAX_PAYLOAD_BYTES // 1024} KiB as JSON: a "
        "donation's `amount`, `fund`, `campaign`; a registration's `form`; ...",
        examples=[{"amount": 25, "fund": "general"}],
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened (with an offset); default: now"
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The same key again has one effect and answers with the first result",
    )

    @field_validator("payload")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        finite_json(value)
        size = len(json.dumps(value, default=str).encode())
        if size > MAX_PAYLOAD_BYTES:
            raise PydanticCustomError(
                "payload_too_large",
                "the payload takes {size} bytes as JSON; at most {limit} are allowed",
                {"size": f"{size:,}", "limit": f"{MAX_PAYLOAD_BYTES:,}"},
            )
        return value


class EventBatch(Input):
    events: list[EventCreate] = Field(min_length=1, max_length=MAX_BATCH)


class EventPublic(Output):
    id: int
    type: str
    relation_id: int | None = Field(description="null: the event named no relation")
    payload: dict[str, Any]
    occurred_at: datetime
    received_at: datetime
    idempotency_key: str | None


class EventAccepted(Output):
    """Stored and handed to Temporal: what it triggers happens even if the API stops now."""

    event: EventPublic
    relation_created: bool
    repeated: bool = Field(description="True when the idempotency key was seen before")
    segments_entered: list[str]
    segments_left: list[str]


class BatchItem(Output):
    index: int
    status: int = Field(description="201 stored, 200 repeated, 422 refused")
    accepted: EventAccepted | None = None
    error: list[dict[str, Any]] | None = None


class BatchResult(Output):
    results: list[BatchItem]


class EventsPublic(Output):
    data: list[EventPublic]
    count: int
