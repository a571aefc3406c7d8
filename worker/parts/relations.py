"""The worker's part for the relation data steps: their activities (no workflows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.relation_steps import RelationStepActivities
from worker.settings import Settings

WORKFLOWS: list[type] = []


def activities(engine: Engine, client: Client, settings: Settings) -> list[Callable[..., Any]]:
    steps = RelationStepActivities(engine, client, settings.task_queue)
    return [
        steps.update_relation,
        steps.lookup_relation,
        steps.add_relation,
        steps.upsert_relation,
        steps.delete_relation,
    ]
