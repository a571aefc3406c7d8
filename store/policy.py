"""The workspace's contact-pressure policy, kept as one workspace setting."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain.pressure import ContactPressure
from store.models import WorkspaceSetting, utcnow

KEY = "contact_pressure"


def load(session: Session) -> ContactPressure:
    """The policy in force: the default (no caps, no quiet hours) until one is saved."""
    row = session.get(WorkspaceSetting, KEY)
    if row is None:
        return ContactPressure()
    return ContactPressure.model_validate(row.value)


def save(session: Session, policy: ContactPressure) -> ContactPressure:
    """Replace the policy (and commit): it applies to every mail judged from now on."""
    value = policy.model_dump(mode="json")
    row = session.get(WorkspaceSetting, KEY)
    if row is None:
        try:
            with session.begin_nested():
                session.add(WorkspaceSetting(key=KEY, value=value))
        except IntegrityError:  # the first policy saved at the same moment elsewhere
            row = session.get(WorkspaceSetting, KEY, populate_existing=True)
    if row is not None:
        row.value = value
        row.updated_at = utcnow()
        session.add(row)
    session.commit()
    return policy
