"""The worker's part for imports: the ImportFile workflow (uploads and import steps) and
its activities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.imports import ImportActivities
from worker.settings import Settings
from workflows.import_file import ImportFileWorkflow

WORKFLOWS: list[type] = [ImportFileWorkflow]


def activities(engine: Engine, client: Client, settings: Settings) -> list[Callable[..., Any]]:
    assert settings.import_dir is not None  # defaulted by Settings
    imports = ImportActivities(engine, client, settings.task_queue, settings.import_dir)
    return [
        imports.start_import,
        imports.import_batch,
        imports.stop_import,
        imports.open_step_import,
        imports.close_step_import,
    ]
