"""The worker's part for the groups steps and selection runs: their workflows and
activities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.group_steps import GroupStepActivities
from activities.selections import SelectionActivities
from worker.settings import Settings
from workflows.selection import SelectionWorkflow

WORKFLOWS: list[type] = [SelectionWorkflow]


def activities(engine: Engine, client: Client, settings: Settings) -> list[Callable[..., Any]]:
    steps = GroupStepActivities(engine, client, settings.task_queue)
    selections = SelectionActivities(engine, client, settings.task_queue)
    return [
        steps.add_to_group,
        steps.remove_from_group,
        steps.sync_group_passage,
        selections.run_selection,
        selections.finish_run,
    ]
