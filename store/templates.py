"""Templates: an email's subject, HTML (or MJML) and text, personalised when a trip sends it.

Every edit of the content makes a new TemplateVersion; a journey version sends the
template versions pinned when it was activated (store.journeys.activate), so editing a
template never changes mail an active journey has already scheduled until an operator
publishes the new version to that journey.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.definition import parse_frozen
from domain.statuses import JourneyStatus
from store import journeys
from store.errors import Conflict, Invalid, NotFound, Problem
from store.models import JourneyTemplate, Template, TemplateVersion, utcnow
from store.template_links import links_in

# The parts a mail is made of: changing any of them is a new version (the name is not).
CONTENT = ("subject", "html", "text", "mjml")


def _links(template: Template | TemplateVersion) -> list[str]:
    # MJML, when set, is what is compiled and sent; the html is then ignored.
    return links_in(template.mjml if template.mjml else template.html)


def _version_row(template: Template) -> TemplateVersion:
    return TemplateVersion(
        template_key=template.key,
        version=template.version,
        subject=template.subject,
        html=template.html,
        text=template.text,
        mjml=template.mjml,
        links=_links(template),
    )


def _no_body(html: str | None, mjml: str | None) -> Invalid | None:
    if (html or "").strip() or (mjml or "").strip():
        return None
    return Invalid(
        [Problem(("body", "html"), "required unless the template has mjml", "missing_body")]
    )


def create(session: Session, fields: Mapping[str, Any]) -> Template:
    key = fields["key"]
    if session.exec(select(Template).where(col(Template.key) == key)).first() is not None:
        raise Conflict(f"template '{key}' already exists")
    problem = _no_body(fields.get("html"), fields.get("mjml"))
    if problem is not None:
        raise problem
    # A key used before (and deleted) goes on numbering: mails sent from its old versions
    # still resolve their tracked links through (key, version).
    previous = session.exec(
        select(func.max(TemplateVersion.version)).where(col(TemplateVersion.template_key) == key)
    ).one()
    template = Template(**{**fields, "version": (previous or 0) + 1})
    session.add(template)
    session.add(_version_row(template))
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
    problem = _no_body(changes.get("html", template.html), changes.get("mjml", template.mjml))
    if problem is not None:
        raise problem
    edited = any(
        name in CONTENT and getattr(template, name) != value for name, value in changes.items()
    )
    for name, value in changes.items():
        setattr(template, name, value)
    if edited:
        template.version += 1
        session.add(_version_row(template))
    session.add(template)
    try:
        session.commit()
    except IntegrityError:
        # Two edits at once both made version N+1: the second one loses.
        session.rollback()
        raise Conflict(
            f"template '{key}' was edited at the same time: read it again and retry"
        ) from None
    session.refresh(template)
    return template


def delete(session: Session, key: str) -> None:
    template = get(session, key)
    using = journeys.journeys_using_template(session, key)
    if using:
        raise Conflict(
            f"template '{key}' is used by journeys {using} (active, or with trips still running)"
        )
    # Versions stay (sent mails resolve their links through them); pins go, or a journey
    # activated again would send the deleted template's content under a re-created key.
    session.exec(sql_delete(JourneyTemplate).where(col(JourneyTemplate.template_key) == key))
    session.delete(template)
    session.commit()


# --- versions ------------------------------------------------------------------------------


def version_of(session: Session, key: str, version: int) -> TemplateVersion:
    """One version of a template. Versions the migration made from existing templates
    start without their links: they are found here, once, at first use."""
    found = session.exec(
        select(TemplateVersion).where(
            col(TemplateVersion.template_key) == key, col(TemplateVersion.version) == version
        )
    ).first()
    if found is None:
        found = _current_without_row(session, key, version)
    if not found.links:
        links = _links(found)
        if links:
            # In the caller's transaction (a send's claim must not commit half-way): kept
            # when it commits, found again when it does not.
            found.links = links
            session.add(found)
            session.flush()
    return found


def _current_without_row(session: Session, key: str, version: int) -> TemplateVersion:
    """A template written straight into the table (a fixture, an import) has no version
    row: its current content is that version."""
    template = get(session, key)
    if template.version != version:
        raise NotFound(f"version of template '{key}'", version)
    try:
        with session.begin_nested():  # a savepoint: the caller's transaction goes on
            session.add(_version_row(template))
    except IntegrityError:
        pass  # another reader made it first
    found = session.exec(
        select(TemplateVersion).where(
            col(TemplateVersion.template_key) == key, col(TemplateVersion.version) == version
        )
    ).one()
    return found


def latest(session: Session, key: str) -> TemplateVersion | None:
    """The template's current version; None for an unknown template."""
    template = session.exec(select(Template).where(col(Template.key) == key)).first()
    if template is None:
        return None
    return version_of(session, key, template.version)


def versions(session: Session, key: str) -> list[TemplateVersion]:
    """Every version of a template, oldest first."""
    latest_one = latest(session, key)
    if latest_one is None:
        raise NotFound("template", key)
    query = (
        select(TemplateVersion)
        .where(col(TemplateVersion.template_key) == key)
        .order_by(col(TemplateVersion.version))
    )
    return list(session.exec(query).all())


def pinned(
    session: Session, journey_id: int, journey_version: int, key: str
) -> TemplateVersion | None:
    """The version of template `key` that this journey version sends: its pin, or the
    latest version when it has none (versions activated before pins existed). None
    when the template does not exist (any more)."""
    pin = session.get(JourneyTemplate, (journey_id, journey_version, key))
    if pin is None:
        return latest(session, key)
    try:
        return version_of(session, key, pin.template_version)
    except NotFound:
        return None


def publish(session: Session, key: str, journey_id: int) -> JourneyTemplate:
    """Move the active version's pin of `key` to the template's latest version."""
    template = get(session, key)
    journey = journeys.get(session, journey_id)
    if journey.status != JourneyStatus.active or journey.active_version is None:
        raise Conflict(
            f"journey {journey_id} is not active: a template is published to the version "
            "an active journey runs"
        )
    frozen = journeys.version(session, journey_id, journey.active_version)
    if key not in parse_frozen(frozen.definition).references().templates:
        raise Conflict(
            f"version {journey.active_version} of journey {journey_id} does not send "
            f"template '{key}'"
        )
    version_of(session, key, template.version)  # a template stored without its row
    pin = session.get(JourneyTemplate, (journey_id, journey.active_version, key))
    if pin is None:
        pin = JourneyTemplate(
            journey_id=journey_id,
            journey_version=journey.active_version,
            template_key=key,
            template_version=template.version,
        )
    pin.template_version = template.version
    pin.published_at = utcnow()
    session.add(pin)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"template '{key}' was published to journey {journey_id} at the same time: retry"
        ) from None
    session.refresh(pin)
    return pin
