"""The group steps' activities (domain/steps/groups.py): add_to_group,
remove_from_group and the passage of a sync_group step. Inputs carry ids and keys only.
"""

from __future__ import annotations

from pydantic import Field

from activities.contracts import PassageKey, PassageWrite, _Contract

# Activity types. Names are part of every recorded history: never rename one.
ADD_TO_GROUP = "add_to_group"
REMOVE_FROM_GROUP = "remove_from_group"
SYNC_GROUP_PASSAGE = "sync_group_passage"


class AddToGroupInput(_Contract):
    """(trip, step) is the idempotency key: an attempt that finds it recorded changes
    nothing more."""

    passage: PassageKey
    relation_id: int
    group: str
    subgroup: str | None = None  # the name template, filled in by the activity
    zone: str = "UTC"  # the journey's timezone: `{{ today }}` is the passage's local day
    event_id: int | None = None  # the admitting event, for `{{ event.x }}`
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    ends_trip: bool = False


class RemoveFromGroupInput(_Contract):
    passage: PassageKey
    relation_id: int
    group: str
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    ends_trip: bool = False


class SyncGroupPassageInput(_Contract):
    """A trip passing a sync_group step: the sync itself is the run's (finish_run)."""

    passage: PassageKey
    group: str
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    ends_trip: bool = False


class GroupStepResult(_Contract):
    detail: str = ""  # what changed, in words: group keys, no personal data
    relation_exists: bool = True
    trip_running: bool = True  # False: cancelled (or gone) before this attempt; nothing done
    closed: bool = False  # the trip's end was recorded with the outcome
