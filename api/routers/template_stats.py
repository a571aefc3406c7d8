"""A template's mail statistics over every journey that sent it (Selligent's click
statistics per template), or over one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParameter
from sqlmodel import Session, col, select

from api.deps import SessionDep
from api.schemas.common import MAX_ID
from api.schemas.mail_stats import (
    ConversionOverride,
    MailStats,
    TemplateJourneyStats,
    TemplateStats,
)
from api.security import allow
from store import journeys, mail_stats
from store.errors import NotFound
from store.keys import Scope
from store.models import Journey, Template

router = APIRouter(tags=["templates"])


@router.get(
    "/templates/{key}/stats",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=TemplateStats,
    description="What became of the template's mails, in all journeys together and per "
    "journey (only in `journey_id` when given). Conversions are counted as each send "
    "step's `conversion` says (in the journey's active, else latest, version), or for "
    "every mail as `conversion` and `within` say. 404 for a template that neither exists "
    "nor was ever sent.",
)
def template_stats(
    key: Annotated[str, PathParameter(max_length=100)],
    session: SessionDep,
    override: ConversionOverride,
    journey_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only the mails of this journey")
    ] = None,
) -> TemplateStats:
    sending = mail_stats.journeys_sending(session, key)
    if not sending and _missing(session, key):
        raise NotFound("template", key)
    if journey_id is not None:
        journeys.get(session, journey_id)  # 404 names an unknown journey
        sending = [j for j in sending if j == journey_id]
    names, rules = _journeys(session, key, sending)
    found = mail_stats.for_template(session, key, rules, override, journey_id)
    summed = mail_stats.total(found.values())
    if override is not None:  # asked for: reported, also before the first mail
        summed.rules.add(override)
    return TemplateStats(
        template=key,
        journey_id=journey_id,
        mail=MailStats.of(summed),
        journeys=[
            TemplateJourneyStats(
                journey_id=journey, name=names.get(journey, ""), mail=MailStats.of(figures)
            )
            for journey, figures in sorted(found.items())
        ],
    )


def _missing(session: Session, key: str) -> bool:
    return session.exec(select(Template.id).where(col(Template.key) == key)).first() is None


def _journeys(
    session: Session, key: str, ids: list[int]
) -> tuple[dict[int, str], dict[mail_stats.Group, mail_stats.ConversionRule]]:
    """The journeys' names, and the conversion rules of their steps sending `key`: one
    definition per journey, whatever the number of mails."""
    names: dict[int, str] = {}
    rules: dict[mail_stats.Group, mail_stats.ConversionRule] = {}
    if not ids:
        return names, rules
    for journey in session.exec(select(Journey).where(col(Journey.id).in_(ids))).all():
        assert journey.id is not None
        names[journey.id] = journey.name
        _, definition = journeys.shown_definition(session, journey)
        for step, rule in mail_stats.rules_of(definition, key).items():
            rules[(journey.id, step)] = rule
    return names, rules
