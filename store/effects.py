"""What a CRM step did, keyed by (trip, step) or (run, step): the idempotency record of
every write a step makes. The activity writes it in the transaction of the change, so a
retry (or a second attempt after a worker crash) finds it and repeats nothing: the
change and its record commit together or not at all."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from store.models import StepEffect


def trip_key(trip_id: str, step_id: str) -> str:
    return f"{trip_id}/{step_id}"


def run_key(run_id: int, step_id: str) -> str:
    return f"run:{run_id}/{step_id}"


def recorded(session: Session, key: str) -> dict[str, Any] | None:
    """The result an earlier attempt recorded under `key`, or None."""
    found = session.get(StepEffect, key)
    return None if found is None else dict(found.result)


def record(
    session: Session,
    key: str,
    *,
    step_id: str,
    kind: str,
    result: dict[str, Any],
    trip_id: str | None = None,
) -> None:
    """Add the record to the caller's transaction (flushed, so a concurrent attempt
    that got here too fails on the key, and its transaction rolls back)."""
    session.add(StepEffect(key=key, trip_id=trip_id, step_id=step_id, kind=kind, result=result))
    session.flush()
