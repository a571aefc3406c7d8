"""Trip histories replay without nondeterminism against the current workflow code.

Two guards. The committed histories (`histories/*.json`, written by
`record_histories.py` with the workflow code of their time) stand for trips that are
running in production right now: a change to the workflow that would make them fail on
the next worker restart, cache eviction or deploy fails here instead. And a trip
recorded with today's code replays with today's code.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.record_histories import HISTORIES, every_step_type
from worker import parts
from worker.settings import Settings
from worker.worker import WORKFLOW_RUNNER
from workflows.admit_members import AdmitMembersWorkflow
from workflows.bounces import ReadBouncesWorkflow
from workflows.dispatch import DispatchWorkflow
from workflows.recurring import RecurringDateWorkflow
from workflows.resend import ResendEmailWorkflow
from workflows.trip import TripWorkflow

COMMITTED = sorted(HISTORIES.glob("*.json"))


def _replayer() -> Replayer:
    # The worker's own runner: replay as production runs the code.
    return Replayer(
        workflows=[
            TripWorkflow,
            ResendEmailWorkflow,
            DispatchWorkflow,
            AdmitMembersWorkflow,
            RecurringDateWorkflow,
            ReadBouncesWorkflow,
            *parts.workflows(),
        ],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )


def test_histories_are_committed() -> None:
    # Every scenario of the recorder, for the first generation at least.
    names = {path.name.split("-", 1)[1].rsplit("-", 1)[0] for path in COMMITTED}
    assert {
        "every-step-type",
        "send-window-wait",
        "cancelled-while-waiting",
        "failed-send",
        "resent-send",
        "waited-for-events",
        "goal-reached",
        "admission-run",
        "recurring-date",
        "unsubscribed",
        "held-back",
        "read-bounces",
        "crm-steps",
        "selection-run",
        "import-step",
        "forward-friend",
    } <= names


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
async def test_committed_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_todays_trips_replay(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    async with running_worker(time_env.client, engine, settings):
        handles = await every_step_type(time_env, engine, settings, smtp_sink)
        histories = [await handle.fetch_history() for handle in handles]

    for history in histories:
        result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
    assert len(smtp_sink.to("member@example.org")) == 1
    assert len(smtp_sink.to("other@example.org")) == 2
