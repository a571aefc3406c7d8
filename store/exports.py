"""Export files: what the export steps' buckets wrote (ExportFile), which trip went into
which file (ExportLine: a trip is exported once per step, whatever retries or late
signals happen), and the reads a bucket's file is made from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.errors import NotFound
from store.models import (
    AdmissionRun,
    ExportFile,
    ExportLine,
    Passage,
    Relation,
    RunMember,
    Trip,
)

T = TypeVar("T")
# Ids per IN (...) list: well inside SQLite's and PostgreSQL's limits on parameters.
_CHUNK = 500


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def exported(session: Session, journey_id: int, step_id: str, trip_ids: Iterable[str]) -> set[str]:
    """Of these trips, those already written to a file of this step."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(trip_ids))):
        found.update(
            session.exec(
                select(ExportLine.trip_id).where(
                    col(ExportLine.journey_id) == journey_id,
                    col(ExportLine.step_id) == step_id,
                    col(ExportLine.trip_id).in_(chunk),
                )
            ).all()
        )
    return found


def next_part(session: Session, journey_id: int, step_id: str, bucket: str) -> int:
    highest = session.exec(
        select(func.max(ExportFile.part)).where(
            col(ExportFile.journey_id) == journey_id,
            col(ExportFile.step_id) == step_id,
            col(ExportFile.bucket) == bucket,
        )
    ).one()
    return int(highest or 0) + 1


def relations(session: Session, relation_ids: Iterable[int]) -> dict[int, Relation]:
    """The relations that still exist, by id (an erased one is simply absent)."""
    found: dict[int, Relation] = {}
    for chunk in _chunks(sorted(set(relation_ids))):
        for relation in session.exec(select(Relation).where(col(Relation.id).in_(chunk))).all():
            assert relation.id is not None
            found[relation.id] = relation
    return found


def reached_at(session: Session, step_id: str, trip_ids: Iterable[str]) -> dict[str, datetime]:
    """When each trip reached the step (its first passage there)."""
    found: dict[str, datetime] = {}
    for chunk in _chunks(sorted(set(trip_ids))):
        rows = session.exec(
            select(Passage.trip_id, func.min(Passage.entered_at))
            .where(col(Passage.step_id) == step_id, col(Passage.trip_id).in_(chunk))
            .group_by(col(Passage.trip_id))
        ).all()
        found.update({trip_id: at for trip_id, at in rows if at is not None})
    return found


def add_file(
    session: Session,
    *,
    journey_id: int,
    step_id: str,
    bucket: str,
    part: int,
    path: str,
    trip_ids: Sequence[str],
) -> ExportFile:
    """The file and one line per trip, in the caller's transaction (flushed: a second
    writer of the same part or trip fails on the unique keys and rolls back)."""
    file = ExportFile(
        journey_id=journey_id,
        step_id=step_id,
        bucket=bucket,
        part=part,
        path=path,
        rows=len(trip_ids),
    )
    session.add(file)
    session.flush()
    assert file.id is not None
    session.add_all(
        ExportLine(journey_id=journey_id, step_id=step_id, trip_id=t, file_id=file.id)
        for t in trip_ids
    )
    session.flush()
    return file


def list_page(
    session: Session, *, journey_id: int | None, limit: int, offset: int
) -> tuple[list[ExportFile], int]:
    where = [] if journey_id is None else [col(ExportFile.journey_id) == journey_id]
    count = session.exec(select(func.count()).select_from(ExportFile).where(*where)).one()
    rows = session.exec(
        select(ExportFile)
        .where(*where)
        .order_by(col(ExportFile.created_at).desc(), col(ExportFile.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), count


def get(session: Session, file_id: int) -> ExportFile:
    found = session.get(ExportFile, file_id)
    if found is None:
        raise NotFound("export file", file_id)
    return found


def admitting_run(session: Session, trip_id: str) -> AdmissionRun | None:
    """The selection run that admitted the trip, if a run did: the run of its journey
    with its admission key, preferring one that selected its relation."""
    trip = session.get(Trip, trip_id)
    if trip is None or trip.admission_key is None:
        return None
    runs = session.exec(
        select(AdmissionRun)
        .where(
            col(AdmissionRun.journey_id) == trip.journey_id,
            col(AdmissionRun.admission_key) == trip.admission_key,
        )
        .order_by(col(AdmissionRun.id).desc())
    ).all()
    if len(runs) > 1 and trip.admitted_relation_id is not None:
        for run in runs:
            if session.get(RunMember, (run.id, trip.admitted_relation_id)) is not None:
                return run
    return runs[0] if runs else None


def run_ended(session: Session, run_id: int) -> bool:
    run = session.get(AdmissionRun, run_id)
    return run is None or run.finished_at is not None or run.status != "running"
