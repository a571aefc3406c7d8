"""Dependencies: what a route needs, resolved from the app's state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi import Path as PathParameter
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from activities.mail.render import Rendering
from api.schemas.common import MAX_ID, MAX_OFFSET, MAX_PAGE


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    # Store functions commit their own writes; closing here rolls back anything else.
    with Session(engine, expire_on_commit=False) as session:
        yield session


def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def get_task_queue(request: Request) -> str:
    queue: str = request.app.state.task_queue
    return queue


def get_renderer(request: Request) -> Rendering:
    renderer: Rendering = request.app.state.renderer
    return renderer


def get_mail_sink_dir(request: Request) -> Path | None:
    directory: Path | None = request.app.state.mail_sink_dir
    return directory


EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
TaskQueueDep = Annotated[str, Depends(get_task_queue)]
RendererDep = Annotated[Rendering, Depends(get_renderer)]
MailSinkDirDep = Annotated[Path | None, Depends(get_mail_sink_dir)]
Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"At most this many items (up to {MAX_PAGE})")
]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many items")]
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
