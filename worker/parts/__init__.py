"""The CRM step families' workflows and activities, one module each, gathered for the
worker (worker/worker.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from worker.parts import exports, groups, imports, relations, tokens
from worker.settings import Settings

PARTS = (relations, groups, exports, imports, tokens)


def workflows() -> list[type]:
    return [w for part in PARTS for w in part.WORKFLOWS]


def activities(engine: Engine, client: Client, settings: Settings) -> list[Callable[..., Any]]:
    return [a for part in PARTS for a in part.activities(engine, client, settings)]
