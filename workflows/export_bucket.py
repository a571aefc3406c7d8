"""ExportBucket: one workflow per (journey, export step, bucket) collects the trips that
reach the step in that bucket and writes them once, as one CSV file, when it ends.

Trips join by signal-with-start (activities/exports.py), so the first trip starts the
collector and the others find it; the signal carries ids only. The collector sleeps on
a durable timer until the bucket's end (a run bucket: until its selection run ended and
no trip joined for a while), then one activity writes the file from the store. Trips
that join while it writes go into a second part before it ends; a trip that comes after
it ended starts a new collector, whose file is the next part. The history stays
bounded: when Temporal suggests it, the collector continues as new with its trips.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts.exports import (
        EXPORT_BUCKET_WORKFLOW,
        EXPORT_ENTRY_SIGNAL,
        EXPORT_RUN_ENDED_SIGNAL,
        RUN_QUIET,
        WRITE_EXPORT,
        CollectorInput,
        ExportBucketResult,
        ExportEntry,
        WriteExportInput,
        WriteExportResult,
    )
    from domain.calendar import describe_moment

# Writing retries until the database and the disk are back: a bucket must be written.
_WRITE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


@workflow.defn(name=EXPORT_BUCKET_WORKFLOW)
class ExportBucketWorkflow:
    def __init__(self) -> None:
        # Signals may arrive before `run` starts (signal-with-start): they wait here.
        self._entries: dict[str, int] = {}
        self._written: set[str] = set()
        self._run_ended_at: datetime | None = None
        self._last_entry_at: datetime | None = None
        # What the Web UI shows, kept so that a trip joining refreshes the count at once
        # (a period bucket sleeps through its signals).
        self._label: str | None = None
        self._words = ""

    @workflow.signal(name=EXPORT_ENTRY_SIGNAL)
    def entry(self, entry: ExportEntry) -> None:
        """A trip reached the step in this bucket (a retried signal changes nothing)."""
        if entry.trip_id not in self._entries:
            self._entries[entry.trip_id] = entry.relation_id
            self._last_entry_at = workflow.now()
            if self._label is not None:
                self._details()
        if entry.run_ended:
            self.run_ended()

    @workflow.signal(name=EXPORT_RUN_ENDED_SIGNAL)
    def run_ended(self) -> None:
        """The selection run whose trips this run bucket collects has ended."""
        if self._run_ended_at is None:
            self._run_ended_at = workflow.now()

    @workflow.run
    async def run(self, data: CollectorInput) -> ExportBucketResult:
        for trip_id, relation_id in data.entries.items():
            self._entries.setdefault(trip_id, relation_id)
        # Carried over by continue-as-new: the earlier moments are the true ones.
        self._run_ended_at = _earliest(data.run_ended_at, self._run_ended_at)
        self._last_entry_at = _latest(data.last_entry_at, self._last_entry_at)
        zone = ZoneInfo(data.zone)
        while (due := self._due(data)) > workflow.now():
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(self._carried(data))
            self._show(data, f"writes at {describe_moment(due, zone)}")
            await self._sleep_until(data, due, zone)
        return await self._write(data)

    def _due(self, data: CollectorInput) -> datetime:
        """When the bucket is to be written: the end of its period; a run bucket once
        its run ended and then no trip joined for RUN_QUIET (at once without trips),
        and at its latest moment in any case."""
        if data.run_id is None or self._run_ended_at is None:
            return data.ends_at
        if not self._entries:
            return workflow.now()
        quiet_from = _latest(self._last_entry_at, self._run_ended_at)
        assert quiet_from is not None
        return min(data.ends_at, quiet_from + RUN_QUIET)

    async def _sleep_until(self, data: CollectorInput, due: datetime, zone: ZoneInfo) -> None:
        ended, count = self._run_ended_at is not None, len(self._entries)

        def woken() -> bool:
            # A period bucket sleeps through its signals; a run bucket wakes when its
            # run ends and, after that, when a trip joins (the quiet time starts again).
            now_ended = self._run_ended_at is not None
            run_changed = data.run_id is not None and (
                now_ended != ended or (ended and len(self._entries) != count)
            )
            return run_changed or workflow.info().is_continue_as_new_suggested()

        with contextlib.suppress(TimeoutError):  # the timer ran out: the caller looks again
            await workflow.wait_condition(
                woken,
                timeout=due - workflow.now(),
                timeout_summary=f"collect until {describe_moment(due, zone)}",
            )

    def _carried(self, data: CollectorInput) -> CollectorInput:
        return data.model_copy(
            update={
                "entries": dict(self._entries),
                "run_ended_at": self._run_ended_at,
                "last_entry_at": self._last_entry_at,
            }
        )

    async def _write(self, data: CollectorInput) -> ExportBucketResult:
        """Write what was collected; trips that joined meanwhile make another part."""
        files: list[int] = []
        rows = erased = 0
        while pending := {t: r for t, r in self._entries.items() if t not in self._written}:
            self._show(data, f"writing {len(pending)} trips")
            written: WriteExportResult = await workflow.execute_activity(
                WRITE_EXPORT,
                WriteExportInput(
                    journey_id=data.journey_id,
                    step_id=data.step_id,
                    bucket=data.bucket,
                    fields=data.fields,
                    file=data.file,
                    entries=pending,
                ),
                result_type=WriteExportResult,
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=_WRITE_RETRY,
                summary=f"write bucket {data.bucket}: {len(pending)} trips",
            )
            self._written.update(pending)
            if written.file_id is not None:
                files.append(written.file_id)
            rows += written.rows
            erased += written.erased
        self._show(
            data,
            f"written: {rows} rows in {len(files)} file(s)"
            + (f"; {erased} erased relations left out" if erased else ""),
        )
        return ExportBucketResult(files=files, rows=rows, erased=erased)

    def _show(self, data: CollectorInput, words: str) -> None:
        self._label, self._words = data.label or data.bucket, words
        self._details()

    def _details(self) -> None:
        count = len(self._entries)
        workflow.set_current_details(
            f"**{self._label}**: {count} trip{'' if count == 1 else 's'} collected; {self._words}"
        )


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None
