"""Journeys: an editable draft plus immutable versions frozen at activation.

A trip runs the version that was active when it started; editing needs the journey to
be inactive, and the next activation freezes a new version (or reuses the latest when
the draft did not change), so running trips never see their journey change under them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError
from sqlalchemy import exists, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.definition import JourneyDefinition, parse_definition, parse_frozen
from domain.statuses import JourneyStatus, TripStatus
from domain.steps.exports import ExportStep
from domain.steps.groups import SyncGroupStep
from domain.steps.relations import delete_many_issues
from domain.triggers import SelectionTrigger
from store.errors import Conflict, Invalid, NotFound, Problem
from store.models import (
    Group,
    Journey,
    JourneyTemplate,
    JourneyVersion,
    Segment,
    Template,
    Trip,
    utcnow,
)


def _stored(definition: JourneyDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True)


def create(session: Session, definition: JourneyDefinition) -> Journey:
    journey = Journey(
        name=definition.name, status=JourneyStatus.draft, definition=_stored(definition)
    )
    session.add(journey)
    session.commit()
    session.refresh(journey)
    return journey


def get(session: Session, journey_id: int) -> Journey:
    journey = session.get(Journey, journey_id)
    if journey is None:
        raise NotFound("journey", journey_id)
    return journey


def list_page(
    session: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Journey], int]:
    query = select(Journey)
    counting = select(func.count()).select_from(Journey)
    if status is not None:
        query = query.where(col(Journey.status) == status)
        counting = counting.where(col(Journey.status) == status)
    rows = session.exec(query.order_by(col(Journey.id)).offset(offset).limit(limit)).all()
    return list(rows), session.exec(counting).one()


def edit_draft(session: Session, journey_id: int, definition: JourneyDefinition) -> Journey:
    journey = get(session, journey_id)
    if journey.status == JourneyStatus.active:
        raise Conflict(f"journey {journey_id} is active: deactivate it before editing")
    journey.definition = _stored(definition)
    journey.name = definition.name
    session.add(journey)
    session.commit()
    session.refresh(journey)
    return journey


def delete(session: Session, journey_id: int) -> None:
    """Only journeys that never ran: trips (and their paths) are kept for good."""
    journey = get(session, journey_id)
    if journey.status == JourneyStatus.active:
        raise Conflict(f"journey {journey_id} is active: deactivate it before deleting")
    trips = session.exec(
        select(func.count()).select_from(Trip).where(col(Trip.journey_id) == journey_id)
    ).one()
    if trips:
        raise Conflict(
            f"journey {journey_id} has {trips} trips whose history is kept: "
            "deactivate it instead of deleting"
        )
    session.delete(journey)
    session.commit()


# --- versions ----------------------------------------------------------------------------


def versions(session: Session, journey_id: int) -> list[JourneyVersion]:
    get(session, journey_id)
    query = (
        select(JourneyVersion)
        .where(col(JourneyVersion.journey_id) == journey_id)
        .order_by(col(JourneyVersion.version))
    )
    return list(session.exec(query).all())


def version(session: Session, journey_id: int, number: int) -> JourneyVersion:
    get(session, journey_id)
    query = select(JourneyVersion).where(
        col(JourneyVersion.journey_id) == journey_id, col(JourneyVersion.version) == number
    )
    found = session.exec(query).first()
    if found is None:
        raise NotFound(f"version of journey {journey_id}", number)
    return found


def active_versions(session: Session) -> list[JourneyVersion]:
    """The version each active journey admits to now (what triggers are matched against)."""
    query = select(JourneyVersion).join(Journey, col(Journey.id) == col(JourneyVersion.journey_id))
    query = query.where(
        col(Journey.status) == JourneyStatus.active,
        col(Journey.active_version) == col(JourneyVersion.version),
    )
    return list(session.exec(query).all())


def latest_version(session: Session, journey_id: int) -> JourneyVersion | None:
    query = (
        select(JourneyVersion)
        .where(col(JourneyVersion.journey_id) == journey_id)
        .order_by(col(JourneyVersion.version).desc())
    )
    return session.exec(query).first()


def shown_definition(session: Session, journey: Journey) -> tuple[int | None, JourneyDefinition]:
    """The definition whose steps an operator looks at: the active version, else the
    latest frozen one, else the draft (a journey that never ran)."""
    assert journey.id is not None
    if journey.active_version is not None:
        frozen = version(session, journey.id, journey.active_version)
        return frozen.version, parse_frozen(frozen.definition)
    latest = latest_version(session, journey.id)
    if latest is not None:
        return latest.version, parse_frozen(latest.definition)
    # Stored drafts were valid when saved; reading one must not fail on a newer rule.
    return None, parse_frozen(journey.definition)


def known_step_ids(session: Session, journey: Journey) -> set[str]:
    """Step ids of the draft and every version: trips may still sit in an older one."""
    assert journey.id is not None
    known = {str(step["id"]) for step in journey.definition.get("steps", [])}
    query = select(JourneyVersion.definition).where(col(JourneyVersion.journey_id) == journey.id)
    for definition in session.exec(query).all():
        known.update(str(step["id"]) for step in definition.get("steps", []))
    return known


# --- activation --------------------------------------------------------------------------


# Where a definition's problems are reported, at creation and activation alike: the
# definition is the `definition` member of the request body that created or edited it.
DEFINITION_LOC = ("body", "definition")


def definition_problems(error: ValidationError) -> list[Problem]:
    """A definition's validation errors, one per field; graph errors one per step."""
    problems: list[Problem] = []
    for entry in error.errors():
        issues = (entry.get("ctx") or {}).get("issues")
        if entry["type"] == "journey_graph" and issues:
            problems.extend(
                Problem((*DEFINITION_LOC, *i["loc"]), i["msg"], "journey_graph") for i in issues
            )
        else:
            problems.append(Problem((*DEFINITION_LOC, *entry["loc"]), entry["msg"], entry["type"]))
    return problems


def activate(session: Session, journey_id: int, *, confirm_delete_many: bool = False) -> Journey:
    """Validate the draft's references, freeze it as a version and make it active.
    `confirm_delete_many`: the operator confirmed a delete_relation step that deletes
    every relation a bulk trigger admits (Deployteq's "delete many at once")."""
    journey = get(session, journey_id)
    if journey.status == JourneyStatus.active:
        raise Conflict(f"journey {journey_id} is already active")
    try:
        definition = parse_definition(journey.definition)
    except ValidationError as error:
        # A draft saved under older rules that today's rules refuse: edit it first.
        raise Invalid(definition_problems(error)) from None
    problems = reference_problems(session, definition)
    problems += [
        Problem((*DEFINITION_LOC, *issue.loc), issue.msg, "delete_many")
        for issue in delete_many_issues(definition, confirmed=confirm_delete_many)
    ]
    if problems:
        raise Invalid(problems)

    digest = definition.digest()
    latest = latest_version(session, journey_id)
    if latest is not None and latest.digest == digest:
        number = latest.version
    else:
        number = 1 if latest is None else latest.version + 1
        session.add(
            JourneyVersion(
                journey_id=journey_id,
                version=number,
                definition=_stored(definition),
                digest=digest,
            )
        )
    # Conditional, so two activations at once cannot both win.
    result = session.exec(
        update(Journey)
        .where(col(Journey.id) == journey_id, col(Journey.status) != JourneyStatus.active)
        .values(status=JourneyStatus.active, active_version=number, updated_at=utcnow())
    )
    if result.rowcount != 1:
        session.rollback()
        raise Conflict(f"journey {journey_id} is already active")
    _pin_templates(session, journey_id, number, definition)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"journey {journey_id} was activated at the same time") from None
    session.refresh(journey)
    return journey


def _pin_templates(
    session: Session, journey_id: int, number: int, definition: JourneyDefinition
) -> None:
    """Pin each template the version sends at its current version. A version activated
    again keeps the pins it has: its drained trips may still be sending them, and only
    publishing (store.templates.publish) moves a pin."""
    keys = sorted(definition.references().templates)
    if not keys:
        return
    pinned = set(
        session.exec(
            select(JourneyTemplate.template_key).where(
                col(JourneyTemplate.journey_id) == journey_id,
                col(JourneyTemplate.journey_version) == number,
            )
        ).all()
    )
    current = session.exec(
        select(Template.key, Template.version).where(col(Template.key).in_(keys))
    ).all()
    for key, template_version in current:
        if key not in pinned:
            session.add(
                JourneyTemplate(
                    journey_id=journey_id,
                    journey_version=number,
                    template_key=key,
                    template_version=template_version,
                )
            )


def reference_problems(session: Session, definition: JourneyDefinition) -> list[Problem]:
    """Templates and groups the definition's steps name that do not exist (yet)."""
    known = {
        "template": set(session.exec(select(Template.key)).all()),
        "group": set(session.exec(select(Group.key)).all()),
    }
    segments = set(session.exec(select(Segment.key)).all())
    problems: list[Problem] = []
    for index, trigger in enumerate(definition.triggers):
        for key in sorted(trigger.segments() - segments):
            where = (
                "segment"
                if trigger.type in ("segment_entry", "selection")
                else _shift_field(trigger, key)
            )
            problems.append(
                Problem(
                    (*DEFINITION_LOC, "triggers", index, where),
                    f"trigger {index + 1}: segment '{key}' does not exist",
                    "unknown_segment",
                )
            )
        if isinstance(trigger, SelectionTrigger):
            problems.extend(_selection_problems(session, index, trigger, known["group"]))
    for index, step in enumerate(definition.steps):
        needed = step.references()
        for kind, keys in (("template", needed.templates), ("group", needed.groups)):
            for key in sorted(keys - known[kind]):
                problems.append(
                    Problem(
                        (*DEFINITION_LOC, "steps", index, needed.field_of(kind)),
                        f"step '{step.id}': {kind} '{key}' does not exist",
                        f"unknown_{kind}",
                    )
                )
    if not any(isinstance(t, SelectionTrigger) for t in definition.triggers):
        for index, step in enumerate(definition.steps):
            if isinstance(step, SyncGroupStep):
                problems.append(
                    Problem(
                        (*DEFINITION_LOC, "steps", index, "type"),
                        f"step '{step.id}': sync_group makes a group equal to a selection "
                        "run's relations: the journey needs a `selection` trigger",
                        "no_selection_trigger",
                    )
                )
            elif isinstance(step, ExportStep) and step.bucket == "run":
                problems.append(
                    Problem(
                        (*DEFINITION_LOC, "steps", index, "bucket"),
                        f"step '{step.id}': a `run` bucket is written when a selection run "
                        "ends: the journey needs a `selection` trigger",
                        "no_selection_trigger",
                    )
                )
    return problems


def _selection_problems(
    session: Session, index: int, trigger: SelectionTrigger, groups: set[str]
) -> list[Problem]:
    """A selection's group or journey that does not exist (its segment is checked with
    the other triggers' segments)."""
    where = (*DEFINITION_LOC, "triggers", index)
    if trigger.group is not None and trigger.group not in groups:
        return [
            Problem(
                (*where, "group"),
                f"trigger {index + 1}: group '{trigger.group}' does not exist",
                "unknown_group",
            )
        ]
    if trigger.journey is not None and session.get(Journey, trigger.journey) is None:
        return [
            Problem(
                (*where, "journey"),
                f"trigger {index + 1}: journey {trigger.journey} does not exist",
                "unknown_journey",
            )
        ]
    return []


def _shift_field(trigger: Any, key: str) -> str:
    return "from" if getattr(trigger, "from_", None) == key else "to"


def deactivate(session: Session, journey_id: int) -> Journey:
    journey = get(session, journey_id)
    result = session.exec(
        update(Journey)
        .where(col(Journey.id) == journey_id, col(Journey.status) == JourneyStatus.active)
        .values(status=JourneyStatus.inactive, active_version=None, updated_at=utcnow())
    )
    if result.rowcount != 1:
        session.rollback()
        raise Conflict(f"journey {journey_id} is not active")
    session.commit()
    session.refresh(journey)
    return journey


# --- what journeys in use depend on -------------------------------------------------------


def _definitions_in_use(session: Session) -> Iterator[tuple[int, JourneyDefinition]]:
    """Active versions, and the versions running trips still follow: a drained journey
    is inactive, yet its trips go on to send its templates and check its groups."""
    active = (
        (col(Journey.id) == col(JourneyVersion.journey_id))
        & (col(Journey.active_version) == col(JourneyVersion.version))
        & (col(Journey.status) == JourneyStatus.active)
    )
    running = (
        (col(Trip.journey_id) == col(JourneyVersion.journey_id))
        & (col(Trip.journey_version) == col(JourneyVersion.version))
        & (col(Trip.status) == TripStatus.running)
    )
    query = select(JourneyVersion.journey_id, JourneyVersion.definition).where(
        or_(exists().where(active), exists().where(running))
    )
    for journey_id, definition in session.exec(query).all():
        yield journey_id, parse_frozen(definition)


def journeys_using_template(session: Session, key: str) -> list[int]:
    """Journeys that send template `key` now or may still: active, or with running trips."""
    return sorted(
        {jid for jid, d in _definitions_in_use(session) if key in d.references().templates}
    )


def group_users(session: Session) -> dict[str, set[int]]:
    """Group keys used by journeys (conditions, group steps, selection triggers) that
    are active or have running trips, with those journeys."""
    users: dict[str, set[int]] = {}
    for jid, definition in _definitions_in_use(session):
        keys = set(definition.references().groups)
        keys |= {
            t.group
            for t in definition.triggers
            if isinstance(t, SelectionTrigger) and t.group is not None
        }
        for key in keys:
            users.setdefault(key, set()).add(jid)
    return users


def journeys_using_group(session: Session, key: str) -> list[int]:
    """Journeys that use group `key`: active, or with running trips."""
    return sorted(group_users(session).get(key, set()))
