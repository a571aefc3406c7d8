from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session

from activities.mail.render import RenderError, TemplateSource, recent_types
from activities.mail.sources import source_of
from api.deps import EngineDep, Limit, Offset, RendererDep, SessionDep
from api.schemas.templates import (
    PreviewRequest,
    PublishRequest,
    TemplateCreate,
    TemplatePin,
    TemplatePreview,
    TemplatePublic,
    TemplatesPublic,
    TemplateUpdate,
    TemplateVersionPublic,
    TemplateVersionsPublic,
)
from api.security import allow
from store import templates
from store.errors import Invalid, NotFound, Problem
from store.facts import load_relation, recent_events, render_context
from store.keys import Scope

router = APIRouter(prefix="/templates", tags=["templates"])


@router.post(
    "",
    dependencies=[allow(Scope.operator)],
    status_code=201,
    response_model=TemplatePublic,
    description="Subject, HTML (or MJML) and text are Jinja templates over the relation's "
    "fields, the admitting event (`event`) and the relation's recent events "
    "(`recent.purchase`: the last 10, newest first), with locale-aware filters `date`, "
    "`datetime`, `number`, `currency('EUR')` and `percent`; a syntax error is a 422 naming "
    "the field and line. This is version 1; every edit of the content makes a new version.",
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


@router.patch(
    "/{key}",
    dependencies=[allow(Scope.operator)],
    response_model=TemplatePublic,
    description="A change of subject, HTML, text or MJML makes a new version. Active "
    "journeys go on sending the version they were activated with until it is published "
    "to them (`POST /templates/{key}/publish`).",
)
def update_template(key: str, body: TemplateUpdate, session: SessionDep) -> TemplatePublic:
    changes = body.model_dump(exclude_unset=True)
    return TemplatePublic.model_validate(templates.update(session, key, changes))


@router.get(
    "/{key}/versions",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=TemplateVersionsPublic,
    description="Every version of the template, oldest first, with the links a tracked "
    "click may redirect to.",
)
def list_template_versions(key: str, session: SessionDep) -> TemplateVersionsPublic:
    rows = templates.versions(session, key)
    data = [TemplateVersionPublic.model_validate(v) for v in rows]
    return TemplateVersionsPublic(data=data, count=len(data))


@router.post(
    "/{key}/publish",
    dependencies=[allow(Scope.operator)],
    response_model=TemplatePin,
    description="Send the template's latest version from the journey's active version on "
    "(mail not yet sent included). 409 when the journey is not active or does not send "
    "this template.",
)
def publish_template(key: str, body: PublishRequest, session: SessionDep) -> TemplatePin:
    return TemplatePin.model_validate(templates.publish(session, key, body.journey_id))


@router.post(
    "/{key}/preview",
    # It shows a relation's data, which only support (and admin) keys may read.
    dependencies=[allow(Scope.operator), allow(Scope.support)],
    response_model=TemplatePreview,
    description="Render the template for one relation, as a send would (in a render "
    "process with the same limits). 422 names the part and line of what fails, e.g. a "
    "field this relation lacks: write `{{ relation.city | default('') }}` for optional "
    "fields.",
)
async def preview_template(
    key: str, body: PreviewRequest, engine: EngineDep, renderer: RendererDep
) -> TemplatePreview:
    source, context = await run_in_threadpool(_preview_inputs, engine, key, body.relation_id)
    try:
        mail = await run_in_threadpool(renderer.render, source, context)
    except RenderError as error:
        raise Invalid([Problem(("body", "relation_id"), str(error), "template_render")]) from None
    return TemplatePreview(subject=mail.subject, html=mail.html, text=mail.text)


def _preview_inputs(
    engine: Engine, key: str, relation_id: int
) -> tuple[TemplateSource, dict[str, Any]]:
    with Session(engine) as session:
        template = templates.get(session, key)
        relation = load_relation(session, relation_id)
        if relation is None:
            raise NotFound("relation", relation_id)
        source = source_of(template)
        recent = recent_events(session, relation_id, recent_types(source))
        return source, render_context(relation, recent=recent)


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
