"""The worker's part for the tokens steps: their workflows and activities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from worker.settings import Settings

WORKFLOWS: list[type] = []


def activities(engine: Engine, client: Client, settings: Settings) -> list[Callable[..., Any]]:
    return []
