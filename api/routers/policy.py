"""Workspace settings: the contact-pressure policy every marketing mail is judged by."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.schemas.policy import ContactPressureBody, ContactPressurePublic
from api.security import allow
from store import policy
from store.keys import Scope

router = APIRouter(prefix="/settings", tags=["settings"])

_PATH = "/contact-pressure"


@router.get(
    _PATH,
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=ContactPressurePublic,
    description="The policy in force; until one is saved: no caps and no quiet hours.",
)
def read_contact_pressure(session: SessionDep) -> ContactPressurePublic:
    return ContactPressurePublic.model_validate(policy.load(session).model_dump())


@router.put(
    _PATH,
    dependencies=[allow(Scope.operator)],
    response_model=ContactPressurePublic,
    description="Replace the policy. Caps count marketing mails per relation across all "
    "journeys in any 24 hours and any 7 days; quiet hours (which may wrap midnight, "
    "21:00-09:00) are read on the relation's own clock, else the journey's. "
    "Transactional sends bypass both, never the suppression list. A mail already held "
    "back waits until the moment it was given, then is judged by the policy in force.",
)
def replace_contact_pressure(
    body: ContactPressureBody, session: SessionDep
) -> ContactPressurePublic:
    saved = policy.save(session, body)
    return ContactPressurePublic.model_validate(saved.model_dump())
