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
