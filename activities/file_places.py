"""Where a stored relative path leads: export and import files live under a configured
directory, and a name that leads outside it (`..`, an absolute path, a link) must not be
read, written or served."""

from __future__ import annotations

from pathlib import Path


def within(root: Path, relative: str) -> Path | None:
    """The place of `relative` under `root`, links followed, or None when that is not
    strictly inside `root`."""
    base = root.resolve()
    place = (base / relative).resolve()
    return place if place.is_relative_to(base) and place != base else None
