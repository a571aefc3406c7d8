from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import Limit, Offset, SessionDep
from api.schemas.templates import TemplateCreate, TemplatePublic, TemplatesPublic, TemplateUpdate
from api.security import allow
from store import templates
from store.keys import Scope

router = APIRouter(prefix="/templates", tags=["templates"])


@router.post(
    "",
    dependencies=[allow(Scope.operator)],
    status_code=201,
    response_model=TemplatePublic,
    description="Subject, HTML and text are Jinja templates over the relation's fields; "
    "a syntax error is a 422 naming the field and line.",
)
def create_template(body: TemplateCreate, session: SessionDep) -> TemplatePublic:
    return TemplatePublic.model_validate(templates.create(session, body.model_dump()))


@router.get("", dependencies=[allow(Scope.operator)], response_model=TemplatesPublic)
def list_templates(session: SessionDep, limit: Limit = 100, offset: Offset = 0) -> TemplatesPublic:
    rows, count = templates.list_page(session, limit=limit, offset=offset)
    return TemplatesPublic(data=[TemplatePublic.model_validate(t) for t in rows], count=count)


@router.get("/{key}", dependencies=[allow(Scope.operator)], response_model=TemplatePublic)
def read_template(key: str, session: SessionDep) -> TemplatePublic:
    return TemplatePublic.model_validate(templates.get(session, key))


@router.patch("/{key}", dependencies=[allow(Scope.operator)], response_model=TemplatePublic)
def update_template(key: str, body: TemplateUpdate, session: SessionDep) -> TemplatePublic:
    changes = body.model_dump(exclude_unset=True)
    return TemplatePublic.model_validate(templates.update(session, key, changes))


@router.delete(
    "/{key}",
    dependencies=[allow(Scope.operator)],
    status_code=204,
    response_class=Response,
    description="409 while a journey may still send it: it is active, or trips of "
    "an earlier version (e.g. a drained journey) are still running.",
)
def delete_template(key: str, session: SessionDep) -> None:
    templates.delete(session, key)
