"""What re-evaluating segments costs each relation change, with none and with 100.

In-process, on a migrated SQLite store in a temporary directory (no Temporal: this is
the store's own work, done in the transaction of every change). Two seeded series of
changes of the same mix run on the same relations: first with no segments defined, then
with 100 (`segment_data.conditions`) whose memberships have been brought up to date first,
as a segment's creation does. Two kinds of change:

- a field change: what `store.relations.update` does (PATCH /relations/{id}), with a
  clock around its `reevaluate` call as well as around the whole transaction;
- an event: `store.events.ingest`, what POST /events does before it starts the
  dispatch; only the whole transaction is timed (its re-evaluation is inside).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from benchmarks import segment_data
from benchmarks.cli import log
from benchmarks.report import quantile
from store import events
from store.db import make_engine
from store.membership import reevaluate
from store.migrate import upgrade
from store.models import Relation, utcnow

# Untimed changes before each series: the first ones parse the conditions (cached per
# segment afterwards) and warm SQLite's page cache.
WARMUP = 50


@dataclass
class Series:
    """One series of timed changes, in ms."""

    segments: int
    kind: str  # "field change" | "event"
    changes: int
    mean: float  # the whole transaction
    p50: float
    p99: float
    reevaluate_mean: float | None = None  # the reevaluate() call alone (field changes)
    reevaluate_p99: float | None = None
    entered: int = 0  # memberships entered over the series
    left: int = 0

    @classmethod
    def of(
        cls,
        segments: int,
        kind: str,
        whole: list[float],
        reevaluating: Sequence[float] = (),
        entered: int = 0,
        left: int = 0,
    ) -> Series:
        ordered = sorted(whole)
        timed = sorted(reevaluating)
        return cls(
            segments=segments,
            kind=kind,
            changes=len(whole),
            mean=round(statistics.fmean(whole), 3),
            p50=round(quantile(ordered, 0.50), 3),
            p99=round(quantile(ordered, 0.99), 3),
            reevaluate_mean=round(statistics.fmean(timed), 3) if timed else None,
            reevaluate_p99=round(quantile(timed, 0.99), 3) if timed else None,
            entered=entered,
            left=left,
        )

    def one_line(self) -> str:
        alone = (
            f", reevaluate() mean {self.reevaluate_mean:.2f} p99 {self.reevaluate_p99:.2f} ms"
            if self.reevaluate_mean is not None
            else ""
        )
        return (
            f"{self.segments:3d} segments, {self.kind}: {self.changes} changes, whole "
            f"transaction mean {self.mean:.2f} p50 {self.p50:.2f} p99 {self.p99:.2f} ms{alone}; "
            f"{self.entered} entries, {self.left} exits"
        )


@dataclass
class SegmentCost:
    relations: int
    events_each: int
    segments: int
    series: list[Series] = field(default_factory=list)

    def pick(self, segments: int, kind: str) -> Series | None:
        return next((s for s in self.series if s.segments == segments and s.kind == kind), None)

    def ratio(self, kind: str) -> float | None:
        """Mean transaction with the segments over the mean without."""
        none, some = self.pick(0, kind), self.pick(self.segments, kind)
        if none is None or some is None or not none.mean:
            return None
        return round(some.mean / none.mean, 2)


def _field_change(r: random.Random, relation: Relation) -> None:
    """One edit as a CRM sync or a form makes it: a custom field or two, or the locale."""
    custom = dict(relation.custom)
    fresh = segment_data.custom_fields(r)
    for name in r.sample(sorted(fresh), r.choice((1, 2))):
        custom[name] = fresh[name]
    relation.custom = custom
    if r.random() < 0.2:
        relation.locale = r.choice(("nl", "en"))


def field_changes(engine: Engine, ids: list[int], n: int, segments: int, seed: int) -> Series:
    r = random.Random(seed)
    whole: list[float] = []
    alone: list[float] = []
    entered = left = 0
    for i in range(WARMUP + n):
        relation_id = r.choice(ids)
        began = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            # As store.relations.update: change, flush, re-evaluate, commit.
            relation = session.get(Relation, relation_id)
            assert relation is not None
            _field_change(r, relation)
            session.add(relation)
            session.flush()
            before = time.perf_counter()
            change = reevaluate(session, relation_id, cause="fields", now=utcnow())
            after = time.perf_counter()
            session.commit()
        ended = time.perf_counter()
        if i >= WARMUP:
            whole.append((ended - began) * 1000)
            alone.append((after - before) * 1000)
            if change is not None:
                entered += len(change.entered)
                left += len(change.left)
    return Series.of(segments, "field change", whole, alone, entered, left)


def event_changes(engine: Engine, ids: list[int], n: int, segments: int, seed: int) -> Series:
    r = random.Random(seed)
    whole: list[float] = []
    entered = left = 0
    for i in range(WARMUP + n):
        now = utcnow()
        kind = r.choice(segment_data.EVENT_TYPES)
        new = events.NewEvent(
            type=kind,
            relation=events.RelationRef(id=r.choice(ids)),
            payload={"amount": r.choice((5, 25, 50, 100)), "fund": r.choice(segment_data.FUNDS)},
            occurred_at=now,
        )
        began = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            ingested = events.ingest(session, new, now=now, loc=("body",))
        ended = time.perf_counter()
        if i >= WARMUP:
            whole.append((ended - began) * 1000)
            if ingested.change is not None:
                entered += len(ingested.change.entered)
                left += len(ingested.change.left)
    return Series.of(segments, "event", whole, (), entered, left)


def _bring_up_to_date(engine: Engine, ids: list[int]) -> None:
    """Every relation's memberships as they would be once the segments exist (untimed)."""
    with Session(engine) as session:
        for relation_id in ids:
            reevaluate(session, relation_id, cause="created", now=utcnow())
        session.commit()


def measure(
    workdir: Path, *, relations: int, events_each: int, segments: int, changes: int, seed: int
) -> SegmentCost:
    url = f"sqlite:///{workdir / 'segments.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        ids = segment_data.populate(engine, relations, events_each)
        result = SegmentCost(relations, events_each, segments)
        for count in (0, segments):
            if count:
                segment_data.define_segments(engine, count)
                _bring_up_to_date(engine, ids)
            for run in (field_changes, event_changes):
                # Another series of the same kinds of change: the same one again would
                # repeat events that the first series already made everyone a member by.
                series = run(engine, ids, changes, count, seed + count)
                result.series.append(series)
                log(f"[segments] {series.one_line()}")
        return result
    finally:
        engine.dispose()
