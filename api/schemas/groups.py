from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import Input, Key, Output


class GroupBase(Input):
    name: str = Field(min_length=1, max_length=200)


class GroupCreate(GroupBase):
    key: Key


class GroupPublic(Output):
    key: str
    name: str
    members: int
    parent: str | None = Field(
        default=None, description="The group this is a subgroup of (made by add_to_group)"
    )
    created_at: datetime


class GroupDetail(GroupPublic):
    subgroups: list[str] = Field(
        default_factory=list, description="Keys of its subgroups, newest first (at most 1000)"
    )


class GroupsPublic(Output):
    data: list[GroupPublic]
    count: int
