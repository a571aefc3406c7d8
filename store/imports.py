"""CSV import jobs, their rows, and the batch writer that makes or updates relations.

A batch is written in one transaction with the job's cursor and counts (the activity
commits them together): a crash in the middle of one leaves nothing of it, and its
retry does it whole. Relations are recognised by the job's unique fields; before
looking them up the batch takes the named lock of every row's unique values, the same
lock an upsert_relation step takes (`upsert_lock_name`), so an import and an upsert
of the same new person at the same time make one relation.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from domain.definition import parse_frozen
from domain.import_mapping import Row, custom_problem, is_custom, normalised
from store import journeys
from store.errors import NotFound
from store.membership import reevaluate
from store.models import ImportJob, ImportRow, NamedLock, Relation, Segment

UPLOADS = "uploads"  # where API uploads are kept, under the import directory
QUEUED = "queued"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
OUTCOMES = ("new", "updated", "invalid")

Key = tuple[tuple[str, Any], ...]


# --- the lock an import and an upsert share ----------------------------------------------


def upsert_lock_name(pairs: Iterable[tuple[str, Any]]) -> str:
    """The named lock (store.locks) of the person with these unique values, taken by
    every writer that creates a relation unless one with them exists (an import batch,
    an upsert_relation step) before it looks: `upsert:` + the JSON of the [field,
    normalised value] pairs sorted by field, normalised as
    `domain.import_mapping.normalised` (addresses lower-cased, custom text with ASCII
    letters lowered, dates ISO). The spelling is upsert_relation's
    (store.relation_writes.lock_upsert), so an import and an upsert of one new person
    take the same lock.

        upsert_lock_name([("email", "anna@example.org")])
        == 'upsert:[["email", "anna@example.org"]]'
    """
    ordered = sorted(([name, value] for name, value in pairs), key=lambda p: p[0])
    return "upsert:" + json.dumps(ordered, default=str)


def lock_all(session: Session, names: Iterable[str]) -> None:
    """`store.locks.lock` for many names in two statements instead of two per name (an
    import batch takes hundreds): the same hashed rows, locked in their sorted order, so
    two batches that share names wait for each other instead of deadlocking."""
    digests = sorted({hashlib.sha256(name.encode()).hexdigest() for name in names})
    if not digests:
        return
    dialect = session.get_bind().dialect.name
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    for start in range(0, len(digests), 1000):
        chunk = digests[start : start + 1000]
        session.exec(
            insert_(NamedLock).values([{"name": d} for d in chunk]).on_conflict_do_nothing()
        )
        if dialect == "postgresql":
            session.exec(
                select(NamedLock.name)
                .where(col(NamedLock.name).in_(chunk))
                .order_by(col(NamedLock.name))
                .with_for_update()
            )


# --- jobs --------------------------------------------------------------------------------


def create_job(
    session: Session,
    *,
    name: str,
    path: str,
    mapping: dict[str, str],
    unique: Sequence[str],
    trip_id: str | None = None,
    step_id: str | None = None,
) -> ImportJob:
    """A queued job, flushed into the caller's transaction."""
    job = ImportJob(
        name=name[:200],
        path=path,
        mapping=dict(mapping),
        unique=list(unique),
        trip_id=trip_id,
        step_id=step_id,
    )
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("import", job_id)
    return job


def list_page(
    session: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[ImportJob], int]:
    query = select(ImportJob)
    counting = select(func.count()).select_from(ImportJob)
    if status is not None:
        query = query.where(col(ImportJob.status) == status)
        counting = counting.where(col(ImportJob.status) == status)
    rows = session.exec(query.order_by(col(ImportJob.id).desc()).offset(offset).limit(limit))
    return list(rows.all()), session.exec(counting).one()


def rows_page(
    session: Session, job_id: int, *, outcome: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[ImportRow], int]:
    get(session, job_id)
    where = [col(ImportRow.job_id) == job_id]
    if outcome is not None:
        where.append(col(ImportRow.outcome) == outcome)
    rows = session.exec(
        select(ImportRow).where(*where).order_by(col(ImportRow.row)).offset(offset).limit(limit)
    ).all()
    count = session.exec(select(func.count()).select_from(ImportRow).where(*where)).one()
    return list(rows), count


def fail(job: ImportJob, error: str, now: datetime) -> None:
    job.status = FAILED
    job.error = error[:1000]
    job.finished_at = now


# --- a batch -----------------------------------------------------------------------------


@dataclass
class Applied:
    new: int = 0
    updated: int = 0
    invalid: int = 0
    changes: list[int] = field(default_factory=list)  # segment changes to dispatch


class _Draft:
    """A relation this batch makes: its column values until the batch inserts them all
    at once (building ORM objects cost more than the rest of the batch)."""

    def __init__(self, row: Row, now: datetime) -> None:
        self.values: dict[str, Any] = {**_NEW, **_standard_of(row), "custom": _custom_of(row)}
        self.values.update(created_at=now, updated_at=now)
        self.id: int | None = None

    @property
    def custom(self) -> dict[str, Any]:
        return dict(self.values["custom"])

    def update(self, row: Row) -> None:
        self.values.update(_standard_of(row))
        self.values["custom"] = {**self.values["custom"], **_custom_of(row)}


# Every column a new relation gets, so the rows of one insert have the same keys.
_NEW: dict[str, Any] = {
    name: None for name in ("email", "external_id", "phone", "first_name", "last_name")
} | {
    "birth_date": None,
    "timezone": None,
    "locale": None,
    "opt_in_email": True,
    "opt_in_sms": False,
}

Target = Relation | _Draft


def apply_rows(
    session: Session, job: ImportJob, rows: Sequence[Row], *, cause: str, now: datetime
) -> Applied:
    """Make or update the relation of each valid row, in file order, and record every
    row's outcome. A row whose unique values equal an earlier row's (in this batch or
    an earlier one) updates the relation that row made. The caller commits."""
    assert job.id is not None
    unique: list[str] = list(job.unique)
    valid = [row for row in rows if row.error is None]
    lock_all(session, (upsert_lock_name(row.key(unique)) for row in valid))
    known = _existing(session, unique, valid)
    relations = _load(session, set(known.values()))
    by_key: dict[Key, Target] = {k: relations[i] for k, i in known.items() if i in relations}
    owners = _external_owners(session, valid)

    applied = Applied()
    made: list[tuple[Row, Target | None, str, str | None]] = []
    drafts: list[_Draft] = []
    for row in rows:
        if row.error is not None:
            made.append((row, None, "invalid", row.error))
            continue
        key = row.key(unique)
        target = by_key.get(key)
        problem = _problem(row, target, owners)
        if problem is not None:
            made.append((row, None, "invalid", problem))
            continue
        if target is None:
            target = _Draft(row, now)
            drafts.append(target)
            by_key[key] = target
            made.append((row, target, "new", None))
        else:
            if isinstance(target, _Draft):
                target.update(row)
            else:
                _update(target, row)
            made.append((row, target, "updated", None))
        if "external_id" in row.fields:
            owners[row.fields["external_id"]] = target
    session.flush()
    if drafts:
        ids = session.exec(
            insert(Relation).returning(col(Relation.id), sort_by_parameter_order=True),
            params=[d.values for d in drafts],
        ).all()
        for draft, (relation_id,) in zip(drafts, ids, strict=True):
            draft.id = relation_id

    records = []
    touched: set[int] = set()
    for row, target, outcome, error in made:
        relation_id = target.id if target is not None else None
        if relation_id is not None:
            touched.add(relation_id)
        setattr(applied, outcome, getattr(applied, outcome) + 1)
        records.append(
            {
                "job_id": job.id,
                "row": row.number,
                "relation_id": relation_id,
                "outcome": outcome,
                "error": error[:500] if error else None,
            }
        )
    if records:
        session.exec(insert(ImportRow), params=records)
    # Without segments there is nothing to re-evaluate: spare each row its queries.
    if session.exec(select(Segment.id).limit(1)).first() is not None:
        admits = _change_admitter(session)
        for relation_id in sorted(touched):
            change = reevaluate(session, relation_id, cause=cause, now=now)
            if change is None or change.id is None:
                continue
            if admits(frozenset(change.entered), frozenset(change.left)):
                applied.changes.append(change.id)
            else:
                # No active journey's trigger takes it, and a change's Dispatch only
                # admits: recorded as done here, it spares a workflow per row (an
                # import into a segment ran at ~30 rows/s with one each).
                change.dispatched_at = now
                session.add(change)
    return applied


def _change_admitter(session: Session) -> Callable[[frozenset[str], frozenset[str]], bool]:
    """Whether any active journey has a trigger that a segment change admits to, as the
    Dispatch would match it when it runs (activities/dispatch.py)."""
    triggers = [
        trigger
        for frozen in journeys.active_versions(session)
        for trigger in parse_frozen(frozen.definition).triggers
    ]
    return lambda entered, left: any(t.admits_change(entered, left) for t in triggers)


def _expression(name: str, dialect: str) -> Any:
    """How a unique field is read for comparison (see domain.import_mapping.normalised)."""
    if name == "email":
        return func.lower(col(Relation.email))
    if is_custom(name):
        text = col(Relation.custom)[name].as_string()
        # ASCII letters lowered, as domain.conditions.fold_case: SQLite's lower() does
        # just that; PostgreSQL's would lower every letter its locale knows.
        if dialect == "postgresql":
            return func.translate(text, string.ascii_uppercase, string.ascii_lowercase)
        return func.lower(text)
    return col(getattr(Relation, name))


def _existing(session: Session, unique: list[str], rows: Sequence[Row]) -> dict[Key, int]:
    """The relation (the lowest id, should there be several) with each row's values."""
    if not rows:
        return {}
    wanted = {row.key(unique) for row in rows}
    values = {
        name: sorted({normalised(name, row.fields[name]) for row in rows}, key=str)
        for name in unique
    }
    dialect = session.get_bind().dialect.name
    conditions = []
    for name in unique:
        choices: list[Any] = values[name]
        if name == "birth_date":
            choices = sorted({row.fields[name] for row in rows})
        conditions.append(_expression(name, dialect).in_(choices))
    found = session.exec(
        select(col(Relation.id), *(_expression(n, dialect) for n in unique))
        .where(and_(*conditions))
        .order_by(col(Relation.id))
    ).all()
    known: dict[Key, int] = {}
    for relation_id, *read in found:
        key = tuple(sorted((n, normalised(n, v)) for n, v in zip(unique, read, strict=True)))
        if key in wanted:
            known.setdefault(key, relation_id)
    return known


def _load(session: Session, ids: set[int]) -> dict[int, Relation]:
    if not ids:
        return {}
    # Locked (PostgreSQL; SQLite has one writer anyway), in id order as lock_relation
    # does: a step or PATCH writing `custom` meanwhile would otherwise lose its change
    # to this batch's write of the merged fields it read before.
    found = session.exec(
        select(Relation)
        .where(col(Relation.id).in_(sorted(ids)))
        .order_by(col(Relation.id))
        .with_for_update()
    ).all()
    return {r.id: r for r in found if r.id is not None}


def _external_owners(session: Session, rows: Sequence[Row]) -> dict[str, int | Target]:
    wanted = {row.fields["external_id"] for row in rows if "external_id" in row.fields}
    if not wanted:
        return {}
    found = session.exec(
        select(Relation.external_id, Relation.id).where(col(Relation.external_id).in_(wanted))
    ).all()
    return {ext: rid for ext, rid in found if ext is not None and rid is not None}


def _problem(row: Row, target: Target | None, owners: dict[str, int | Target]) -> str | None:
    """What the store refuses of a valid row: an external id that belongs to another
    relation, custom fields beyond the bounds."""
    external = row.fields.get("external_id")
    if external is not None and external in owners:
        owner = owners[external]
        if isinstance(owner, int):
            mine = isinstance(target, Relation) and target.id == owner
        else:
            mine = owner is target
        if not mine:
            return "external_id: belongs to another relation"
    custom = _custom_of(row)
    if custom:
        merged = {**(target.custom if target is not None else {}), **custom}
        return custom_problem(merged)
    return None


def _custom_of(row: Row) -> dict[str, Any]:
    return {n: v for n, v in row.fields.items() if is_custom(n)}


def _standard_of(row: Row) -> dict[str, Any]:
    return {n: v for n, v in row.fields.items() if not is_custom(n)}


def _update(relation: Relation, row: Row) -> None:
    """The row's non-empty cells over the relation's fields."""
    standard = _standard_of(row)
    if "email" in standard and standard["email"] != relation.email:
        # The claim answered for the address the relation was created with by an event;
        # it must not keep answering for one the person no longer has.
        relation.email_claim = None
    for name, value in standard.items():
        setattr(relation, name, value)
    custom = _custom_of(row)
    if custom:
        # A new dict: the JSON column notices assignment, not mutation.
        relation.custom = {**(relation.custom or {}), **custom}


# --- what an import step's way out admits ----------------------------------------------


def run_clause(source: dict[str, Any]) -> ColumnElement[bool]:
    """The relations of an admission run with source {"import_job": id, "outcomes":
    ["new"] | ["updated"] | ["new", "updated"]}: those the job's rows made (new) or
    updated. A relation a row made is new even when a later row of the file updated
    it, so "updated" alone means relations that existed before the import."""
    job_id = int(source["import_job"])
    outcomes = [str(o) for o in source["outcomes"]]
    rows = select(ImportRow.relation_id).where(
        col(ImportRow.job_id) == job_id,
        col(ImportRow.outcome).in_(outcomes),
        col(ImportRow.relation_id).is_not(None),
    )
    clause: ColumnElement[bool] = col(Relation.id).in_(rows)
    if "new" not in outcomes:
        made = select(ImportRow.relation_id).where(
            col(ImportRow.job_id) == job_id,
            col(ImportRow.outcome) == "new",
            col(ImportRow.relation_id).is_not(None),
        )
        clause = and_(clause, col(Relation.id).not_in(made))
    return clause
