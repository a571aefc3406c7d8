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
    created_at: datetime


class GroupsPublic(Output):
    data: list[GroupPublic]
    count: int
