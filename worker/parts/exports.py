"""The worker's part for the exports steps: their workflows and activities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.exports import ExportActivities
from worker.settings import Settings
from workflows.export_bucket import ExportBucketWorkflow

WORKFLOWS: list[type] = [ExportBucketWorkflow]


def activities(engine: Engine, client: Client, settings: Settings) -> list[Callable[..., Any]]:
    assert settings.export_dir is not None  # defaulted by Settings
    exports = ExportActivities(engine, client, settings.task_queue, settings.export_dir)
    return [exports.collect_export, exports.write_export]
