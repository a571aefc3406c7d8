from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.deps import EngineDep, TemporalDep

router = APIRouter(tags=["health"])

Status = Literal["ok", "unavailable"]


class Health(BaseModel):
    status: Status
    database: Status
    temporal: Status


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(engine: EngineDep, temporal: TemporalDep, response: Response) -> Health:
    database: Status = "ok" if await run_in_threadpool(_database_ok, engine) else "unavailable"
    try:
        healthy = await temporal.service_client.check_health(timeout=timedelta(seconds=2))
    except Exception:
        healthy = False
    server: Status = "ok" if healthy else "unavailable"
    overall: Status = "ok" if database == server == "ok" else "unavailable"
    if overall != "ok":
        response.status_code = 503
    return Health(status=overall, database=database, temporal=server)


def _database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
