"""Bodies of the tokens endpoints: a relation token to verify, and what it carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from api.schemas.common import Input, Output


class TokenVerify(Input):
    # No length or pattern rule here: every kind of invalid token gets one answer, the
    # one the endpoint gives, rather than a schema message that tells them apart.
    token: str = Field(
        description="A token made by an `encrypt` step or `{{ encrypt(...) }}` in a template",
        examples=["gAAAAABp..."],
    )


class TokenVerified(Output):
    fields: dict[str, Any] = Field(
        description="The fields the token carries, as they were when it was made (a "
        "snapshot: the relation may have changed, or been erased, since)"
    )
    issued_at: datetime
    expires_at: datetime
    relation_exists: bool | None = Field(
        description="Whether the relation named by the token's `id` field still exists "
        "(false once erased); null when the token carries no `id`"
    )
