"""The CSV files export steps wrote: listed, and downloaded, by operators (they hold
personal data, so only the operator scope may read them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from activities.file_places import within
from api.deps import IdPath, Limit, Offset, SessionDep
from api.schemas.common import MAX_ID
from api.schemas.exports import ExportFilePublic, ExportFilesPublic
from api.security import allow
from store import exports
from store.errors import NotFound
from store.keys import Scope

router = APIRouter(prefix="/exports", tags=["exports"])


@router.get(
    "",
    dependencies=[allow(Scope.operator)],
    response_model=ExportFilesPublic,
    description="Files written by export steps, newest first.",
)
def list_exports(
    session: SessionDep,
    journey_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ExportFilesPublic:
    rows, count = exports.list_page(session, journey_id=journey_id, limit=limit, offset=offset)
    return ExportFilesPublic(data=[ExportFilePublic.model_validate(r) for r in rows], count=count)


@router.get("/{file_id}", dependencies=[allow(Scope.operator)], response_model=ExportFilePublic)
def read_export(file_id: IdPath, session: SessionDep) -> ExportFilePublic:
    return ExportFilePublic.model_validate(exports.get(session, file_id))


@router.get(
    "/{file_id}/download",
    dependencies=[allow(Scope.operator)],
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The CSV file"}},
    description="The file itself (text/csv). 404 when it is unknown, or when it was "
    "removed from the export directory.",
)
def download_export(file_id: IdPath, session: SessionDep, request: Request) -> FileResponse:
    row = exports.get(session, file_id)
    directory: Path | None = request.app.state.export_dir
    if directory is None:
        raise NotFound("export file", file_id)
    target = within(directory, row.path)
    # The stored path was made under the directory; a file moved or linked elsewhere
    # since is not served.
    if target is None or not target.is_file():
        raise NotFound("export file", file_id)
    return FileResponse(target, media_type="text/csv", filename=target.name)
