"""The worker's part for the tokens steps: the encrypt step's activity, with the keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.relation_tokens import RelationTokens
from activities.token_steps import TokenActivities
from worker.settings import Settings

WORKFLOWS: list[type] = []


def activities(engine: Engine, client: Client, settings: Settings) -> list[Callable[..., Any]]:
    # The keys stay in this process: activity inputs name fields, the token goes from
    # the activity into the store.
    tokens = RelationTokens(settings.relation_token_keys())
    return [TokenActivities(engine, client, settings.task_queue, tokens).encrypt]
