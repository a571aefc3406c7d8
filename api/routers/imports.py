"""CSV imports of relations: upload a file with its column mapping, then follow its
progress; the rows are imported in the background by the ImportFile workflow.

Scopes: uploads by `operator` (by hand, with `reisplan import`) or `app` (an
integration's nightly file: the same relation writes the app scope makes one at a time);
reading progress also by `support`. Row results name fields, never values.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from temporalio.service import RPCError

from activities.contracts.imports import (
    IMPORT_FILE_WORKFLOW,
    ImportFileInput,
    import_workflow_id,
)
from activities.import_files import FileProblem, check
from api.deps import EngineDep, IdPath, Limit, Offset, SessionDep, TaskQueueDep, TemporalDep
from api.limits import too_large_message
from api.schemas.imports import (
    ImportPublic,
    ImportRowPublic,
    ImportRowsPublic,
    ImportsPublic,
    RowOutcome,
    Status,
)
from api.security import allow
from domain.import_mapping import mapping_problems, parse_pairs
from store import imports
from store.db import session_scope
from store.errors import Invalid, Problem
from store.keys import Scope
from store.models import ImportJob, utcnow

router = APIRouter(prefix="/imports", tags=["imports"])


def public(job: ImportJob) -> ImportPublic:
    assert job.id is not None
    if job.total:
        percent = round(100 * job.cursor / job.total, 1)
    else:
        percent = 100.0 if job.status == imports.FINISHED else 0.0
    return ImportPublic(
        id=job.id,
        name=job.name,
        status=job.status,
        total=job.total,
        processed=job.cursor,
        new=job.new,
        updated=job.updated,
        invalid=job.invalid,
        percent=percent,
        map=dict(job.mapping),
        unique=list(job.unique),
        error=job.error,
        trip_id=job.trip_id,
        step_id=job.step_id,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


_CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "The CSV file itself (not a form): UTF-8, with or without BOM; "
        "the delimiter (`,` `;` or tab) is read from the header line",
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "",
    status_code=202,
    dependencies=[allow(Scope.operator, Scope.app)],
    response_model=ImportPublic,
    openapi_extra=_CSV_BODY,
    summary="Upload a CSV of relations to import",
    description="The file is stored, its header checked against `map` (422 naming an "
    "unknown column or field), and the import starts in the background: follow it at "
    "`GET /imports/{id}`. A row whose `unique` fields equal an existing relation's "
    "updates it (an empty cell leaves its field as it is); other rows create relations. "
    "413 above the configured size (REISPLAN_MAX_IMPORT_BYTES).",
    responses={413: {"description": "The file is larger than the limit"}},
)
async def upload(
    request: Request,
    response: Response,
    engine: EngineDep,
    temporal: TemporalDep,
    queue: TaskQueueDep,
    map_: Annotated[
        list[str],
        Query(
            alias="map",
            min_length=1,
            max_length=200,
            description="Column:field, once per column (`map=E-mail:email`); a field is "
            "a standard one (email, first_name, ...) or any other name for a custom field",
        ),
    ],
    unique: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=5,
            description="A mapped field that recognises an existing relation (repeat "
            "for several: all must be equal)",
        ),
    ],
    name: Annotated[
        str, Query(min_length=1, max_length=200, description="Shown in lists and the Web UI")
    ] = "upload.csv",
) -> ImportPublic:
    mapping = _mapping(map_, unique)
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise HTTPException(
            415,
            "send the CSV file itself as the body (curl --data-binary @file.csv "
            "-H 'Content-Type: text/csv'), not a form",
        )
    directory: Path | None = request.app.state.import_dir
    if directory is None:
        raise HTTPException(503, "imports are off: no import directory is configured")
    relative = f"{imports.UPLOADS}/{uuid.uuid4().hex}.csv"
    stored = directory / relative
    try:
        await _receive(request, stored, request.app.state.max_import_bytes)
        try:
            await run_in_threadpool(check, directory, relative, mapping, unique)
        except FileProblem as problem:
            raise Invalid([Problem(("body",), str(problem))]) from None
        job = await run_in_threadpool(_create, engine, name, relative, mapping, unique)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    assert job.id is not None
    try:
        await temporal.start_workflow(
            IMPORT_FILE_WORKFLOW,
            ImportFileInput(job_id=job.id, name=name),
            id=import_workflow_id(job.id),
            task_queue=queue,
            static_summary=f"import {name}",
        )
    except BaseException as error:
        # Nothing left half-done: a job without its workflow would stay queued forever.
        reason = error.message if isinstance(error, RPCError) else type(error).__name__
        await run_in_threadpool(_failed, engine, job.id, f"not started: {reason}")
        stored.unlink(missing_ok=True)
        raise
    response.headers["Location"] = f"/imports/{job.id}"
    return public(job)


def _mapping(items: list[str], unique: list[str]) -> dict[str, str]:
    try:
        mapping = parse_pairs(items, ":")
    except ValueError as error:
        raise Invalid([Problem(("query", "map"), str(error))]) from None
    problems = mapping_problems(mapping, unique)
    if problems:
        raise Invalid([Problem(("query", p.where), p.message) for p in problems])
    return mapping


async def _receive(request: Request, target: Path, limit: int) -> None:
    """The body, streamed to `target`: never held in memory whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with target.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, too_large_message(limit))
            out.write(chunk)
    if size == 0:
        raise Invalid([Problem(("body",), "the file is empty")])


def _create(
    engine: Engine, name: str, path: str, mapping: dict[str, str], unique: list[str]
) -> ImportJob:
    with session_scope(engine) as session:
        return imports.create_job(session, name=name, path=path, mapping=mapping, unique=unique)


def _failed(engine: Engine, job_id: int, error: str) -> None:
    with session_scope(engine) as session:
        job = imports.get(session, job_id)
        imports.fail(job, error, utcnow())
        session.add(job)


@router.get(
    "",
    dependencies=[allow(Scope.operator, Scope.app, Scope.support)],
    response_model=ImportsPublic,
    description="Imports, newest first.",
)
def list_imports(
    session: SessionDep,
    status: Status | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ImportsPublic:
    rows, count = imports.list_page(session, status=status, limit=limit, offset=offset)
    return ImportsPublic(data=[public(job) for job in rows], count=count)


@router.get(
    "/{job_id}",
    dependencies=[allow(Scope.operator, Scope.app, Scope.support)],
    response_model=ImportPublic,
    description="The import's progress: status, rows processed of total, new, updated, invalid.",
)
def read_import(job_id: IdPath, session: SessionDep) -> ImportPublic:
    return public(imports.get(session, job_id))


@router.get(
    "/{job_id}/rows",
    dependencies=[allow(Scope.operator, Scope.app, Scope.support)],
    response_model=ImportRowsPublic,
    description="What became of each row: the relation it made or updated, or why it was "
    "refused (`outcome=invalid`): the field, never the value.",
)
def import_rows(
    job_id: IdPath,
    session: SessionDep,
    outcome: RowOutcome | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ImportRowsPublic:
    rows, count = imports.rows_page(session, job_id, outcome=outcome, limit=limit, offset=offset)
    return ImportRowsPublic(data=[ImportRowPublic.model_validate(r) for r in rows], count=count)
