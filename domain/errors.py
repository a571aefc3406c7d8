from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DefinitionIssue:
    """One thing wrong with a journey definition, located like pydantic's errors."""

    loc: tuple[str | int, ...]
    msg: str

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.loc)
        return f"{where}: {self.msg}"


class DefinitionError(ValueError):
    """A journey definition that parses but cannot run (bad graph, unknown targets).

    Carries every issue found, not just the first, so a marketer fixes them in one go.
    """

    def __init__(self, issues: list[DefinitionIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))
