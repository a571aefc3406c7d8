"""The `encrypt` step's activity (domain/steps/tokens.py, activities/token_steps.py).

Its input names fields, never their values, and carries no key: the worker holds the
token keys, and the token itself goes from the activity straight into the store.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from activities.contracts import PassageKey, PassageWrite

# Activity types. Names are part of every recorded history: never rename one.
ENCRYPT = "encrypt_relation"


class EncryptInput(BaseModel):
    """The step's (trip, step) is the idempotency key: an attempt that finds it recorded
    changes nothing more, so a retry never replaces the token an earlier attempt stored."""

    model_config = ConfigDict(frozen=True)

    passage: PassageKey
    relation_id: int
    fields: list[str]
    into: str
    # The passage's entered_at plus the step's expires_in, reckoned by the workflow on
    # its own clock: every attempt makes an equivalent token.
    expires_at: datetime
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    # The trip ends after this step: close it in the same transaction as the outcome.
    ends_trip: bool = False


class EncryptResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    detail: str = ""  # what was done, in words: field names, never values
    relation_exists: bool = True
    trip_running: bool = True  # False: cancelled (or gone) before this attempt; nothing done
    closed: bool = False  # the trip's end was recorded with the outcome
