"""Errors the store raises for the API (and activities) to map in one place.

They carry what a caller needs to explain the problem, never a stack of SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class StoreError(Exception):
    """Base of the errors a user can cause (as opposed to bugs and outages)."""


class NotFound(StoreError):
    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class Conflict(StoreError):
    """The request is valid but the current state forbids it (e.g. editing an active journey)."""


@dataclass(frozen=True)
class Problem:
    """One invalid field, located like pydantic's errors (loc) so the API can name it."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "invalid"


class Invalid(StoreError):
    """Input that is well-formed but refers to things that do not exist, or similar."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.msg for p in self.problems))
