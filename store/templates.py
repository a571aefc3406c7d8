"""Templates: an email's subject, HTML and text, personalised when a trip sends it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store import journeys
from store.errors import Conflict, NotFound
from store.models import Template


def create(session: Session, fields: Mapping[str, Any]) -> Template:
    key = fields["key"]
    if session.exec(select(Template).where(col(Template.key) == key)).first() is not None:
        raise Conflict(f"template '{key}' already exists")
    template = Template(**fields)
    session.add(template)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"template '{key}' already exists") from None
    session.refresh(template)
    return template


def get(session: Session, key: str) -> Template:
    template = session.exec(select(Template).where(col(Template.key) == key)).first()
    if template is None:
        raise NotFound("template", key)
    return template


def list_page(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[Template], int]:
    query = select(Template).order_by(col(Template.key)).offset(offset).limit(limit)
    return list(session.exec(query).all()), session.exec(
        select(func.count()).select_from(Template)
    ).one()


def update(session: Session, key: str, changes: Mapping[str, Any]) -> Template:
    template = get(session, key)
    for name, value in changes.items():
        setattr(template, name, value)
    session.add(template)
    session.commit()
    session.refresh(template)
    return template


def delete(session: Session, key: str) -> None:
    template = get(session, key)
    using = journeys.journeys_using_template(session, key)
    if using:
        raise Conflict(
            f"template '{key}' is used by journeys {using} (active, or with trips still running)"
        )
    session.delete(template)
    session.commit()
