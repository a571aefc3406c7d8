"""The export step's activities: hand a trip to its bucket's collector, and write a
bucket's CSV file.

`collect_export` works out the trip's bucket (its period on the journey's calendar, or
the selection run that admitted it), signals the bucket's ExportBucket workflow with
signal-with-start (ids only), then records the passage and the effect (store.effects,
keyed by trip and step) in one transaction: a retry that finds the effect signals no
more, and one that signals again before the record is made is harmless (the collector
keeps each trip once).

`write_export` writes a bucket's file in one transaction with its rows: the lines are
inserted first (a trip already exported by this step is left out, so retries and late
signals never duplicate a row), then the file is written beside its place, fsynced
and renamed into it, then the transaction commits. A crash before the commit leaves a
file that the retry writes again under the same name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts.exports import (
    COLLECT_EXPORT,
    EXPORT_BUCKET_WORKFLOW,
    EXPORT_ENTRY_SIGNAL,
    EXPORT_RUN_ENDED_SIGNAL,
    RUN_LONGEST,
    WRITE_EXPORT,
    CollectExportInput,
    CollectExportResult,
    CollectorInput,
    ExportEntry,
    WriteExportInput,
    WriteExportResult,
    collector_id,
    run_bucket,
)
from activities.export_files import (
    file_name,
    inside,
    relative_path,
    render,
    row_of,
    write_atomically,
)
from activities.passages import write_passage, write_passages
from domain.buckets import bucket_of
from domain.definition import parse_frozen
from domain.statuses import Outcome, TripStatus
from domain.steps.exports import ExportStep
from store import effects, exports, journeys, paths
from store.db import session_scope
from store.locks import lock
from store.models import AdmissionRun, Journey

KIND = "export"
_LAST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Bucket:
    """Where a trip goes: its bucket, until when it collects, and its run if any."""

    key: str
    ends_at: datetime
    detail: str
    write_after: datetime | None = None
    run_id: int | None = None
    run_ended: bool = False


def _clock(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


class ExportActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str, export_dir: Path) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue
        self._export_dir = export_dir

    # --- a trip reaches the step ----------------------------------------------------------

    @activity.defn(name=COLLECT_EXPORT)
    async def collect_export(self, data: CollectExportInput) -> CollectExportResult:
        planned = await asyncio.to_thread(self._plan, data)
        if isinstance(planned, CollectExportResult):
            return planned
        await self._join(data, planned)
        # The run may have ended (and told its collectors) between the read above and
        # this trip's signal, before this collector existed: tell it again.
        if (
            planned.run_id is not None
            and not planned.run_ended
            and await asyncio.to_thread(self._run_ended, planned.run_id)
        ):
            await _tell_run_ended(
                self._client, collector_id(data.journey_id, data.passage.step_id, planned.key)
            )
        ended_at = activity.info().started_time
        return await asyncio.to_thread(self._record, data, planned, ended_at)

    def _plan(self, data: CollectExportInput) -> CollectExportResult | _Bucket:
        with session_scope(self._engine) as session:
            if not write_passages(session, data.writes):
                return CollectExportResult(trip_running=False)
            earlier = effects.recorded(session, self._key(data))
            if earlier is not None:
                return _result(earlier, data)
            if not paths.is_running(session, data.passage.trip_id):
                return CollectExportResult(trip_running=False)
            zone = ZoneInfo(data.zone)
            # The moment the trip reached the step, on Temporal's clock: a replayed or
            # retried attempt lands in the same bucket.
            at = data.passage.entered_at
            if data.every == "run":
                run = exports.admitting_run(session, data.passage.trip_id)
                if run is not None:
                    assert run.id is not None
                    return _Bucket(
                        key=run_bucket(run.id),
                        ends_at=at + RUN_LONGEST,
                        detail=f"in bucket {run_bucket(run.id)} (file written when "
                        f"selection run {run.id} has ended)",
                        run_id=run.id,
                        run_ended=exports.run_ended(session, run.id),
                    )
            every = "P1D" if data.every == "run" else data.every
            bucket = bucket_of(at, every, zone)
            detail = f"in bucket {bucket.key} (file written after {_clock(bucket.end, zone)})"
            if data.every == "run":
                detail = f"not admitted by a selection run: {detail}"
            return _Bucket(
                key=bucket.key, ends_at=bucket.end, detail=detail, write_after=bucket.end
            )

    async def _join(self, data: CollectExportInput, bucket: _Bucket) -> None:
        """Signal the bucket's collector, starting it if it is not running."""
        step_id = data.passage.step_id
        label = f"export `{step_id}` · bucket {bucket.key}"
        await self._client.start_workflow(
            EXPORT_BUCKET_WORKFLOW,
            CollectorInput(
                journey_id=data.journey_id,
                step_id=step_id,
                bucket=bucket.key,
                fields=data.fields,
                file=data.file,
                ends_at=bucket.ends_at,
                run_id=bucket.run_id,
                zone=data.zone,
                label=label,
            ),
            id=collector_id(data.journey_id, step_id, bucket.key),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=EXPORT_ENTRY_SIGNAL,
            start_signal_args=[
                ExportEntry(
                    trip_id=data.passage.trip_id,
                    relation_id=data.relation_id,
                    run_ended=bucket.run_ended,
                )
            ],
            static_summary=label,
        )

    def _run_ended(self, run_id: int) -> bool:
        with session_scope(self._engine) as session:
            return exports.run_ended(session, run_id)

    def _record(
        self, data: CollectExportInput, bucket: _Bucket, ended_at: datetime
    ) -> CollectExportResult:
        with session_scope(self._engine) as session:
            key = self._key(data)
            earlier = effects.recorded(session, key)
            if earlier is not None:  # a concurrent attempt got here first
                return _result(earlier, data)
            recorded = {
                "bucket": bucket.key,
                "write_after": bucket.write_after.isoformat() if bucket.write_after else None,
                "detail": bucket.detail,
                "relation_id": data.relation_id,
            }
            write_passage(session, data.passage, Outcome.collected, bucket.detail)
            effects.record(
                session,
                key,
                step_id=data.passage.step_id,
                kind=KIND,
                result=recorded,
                trip_id=data.passage.trip_id,
            )
            if data.ends_trip:
                paths.close_if_running(
                    session,
                    trip_id=data.passage.trip_id,
                    status=TripStatus.completed,
                    ended_at=ended_at,
                )
            return _result(recorded, data)

    @staticmethod
    def _key(data: CollectExportInput) -> str:
        return effects.trip_key(data.passage.trip_id, data.passage.step_id)

    # --- a bucket ends ----------------------------------------------------------------------

    @activity.defn(name=WRITE_EXPORT)
    def write_export(self, data: WriteExportInput) -> WriteExportResult:
        with session_scope(self._engine) as session:
            # One writer per bucket: a retry racing a slow attempt waits for it, then
            # finds its trips exported.
            lock(session, collector_id(data.journey_id, data.step_id, data.bucket))
            journey = session.get(Journey, data.journey_id)
            if journey is None:  # deleted, with its files: nothing to write for it
                return WriteExportResult()
            done = exports.exported(session, data.journey_id, data.step_id, data.entries)
            new = {t: r for t, r in data.entries.items() if t not in done}
            found = exports.relations(session, new.values())
            kept = [t for t in new if new[t] in found]
            erased = len(new) - len(kept)
            if not kept:  # all written before (a retry, a late signal) or erased
                return WriteExportResult(erased=erased, repeated=len(done))
            reached = exports.reached_at(session, data.step_id, kept)
            kept.sort(key=lambda t: (reached.get(t) or _LAST, t))
            part = exports.next_part(session, data.journey_id, data.step_id, data.bucket)
            name = file_name(
                data.file,
                journey=journey.name,
                journey_id=data.journey_id,
                step=data.step_id,
                bucket=data.bucket,
                part=part,
            )
            relative = relative_path(data.journey_id, data.step_id, name)
            target = inside(self._export_dir, relative)
            content = render(
                data.fields,
                (row_of(data.fields, found[new[t]], t, reached.get(t)) for t in kept),
            )
            file = exports.add_file(
                session,
                journey_id=data.journey_id,
                step_id=data.step_id,
                bucket=data.bucket,
                part=part,
                path=relative,
                trip_ids=kept,
            )
            write_atomically(target, content)
            activity.logger.info(
                "export %s: %d rows in %s (%d erased left out)",
                file.id,
                len(kept),
                relative,
                erased,
            )
            return WriteExportResult(
                file_id=file.id, part=part, rows=len(kept), erased=erased, repeated=len(done)
            )


def _result(recorded: Mapping[str, object], data: CollectExportInput) -> CollectExportResult:
    after = recorded.get("write_after")
    return CollectExportResult(
        bucket=str(recorded.get("bucket", "")),
        write_after=datetime.fromisoformat(after) if isinstance(after, str) else None,
        detail=str(recorded.get("detail", "")),
        closed=data.ends_trip,
    )


# --- the end of a selection run ---------------------------------------------------------------


async def close_run_buckets(client: Client, engine: Engine, run_id: int) -> None:
    """Tell the run buckets of this selection run that it has ended: each writes its
    file once no trip joined for a while (RUN_QUIET). Called when the run finished;
    a bucket with no collector running (no trip reached its step yet) needs nothing:
    a trip that reaches it later finds the run ended and is written soon after."""
    steps = await asyncio.to_thread(_run_export_steps, engine, run_id)
    for journey_id, step_id in steps:
        await _tell_run_ended(client, collector_id(journey_id, step_id, run_bucket(run_id)))


def _run_export_steps(engine: Engine, run_id: int) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        run = session.get(AdmissionRun, run_id)
        if run is None:
            return []
        frozen = journeys.version(session, run.journey_id, run.journey_version)
        definition = parse_frozen(frozen.definition)
        return [
            (run.journey_id, step.id)
            for step in definition.steps
            if isinstance(step, ExportStep) and step.bucket == "run"
        ]


async def _tell_run_ended(client: Client, workflow_id: str) -> None:
    try:
        await client.get_workflow_handle(workflow_id).signal(EXPORT_RUN_ENDED_SIGNAL)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
