"""What became of the mails of a send step, a journey or a template, in a few grouped
queries (statuses, feedback, links, one per conversion rule) whatever the number of sends.

Definitions (the API documents them the same way):
- `sent`: accepted by the relay (status sent); `delivered`: sent, less those a
  delivery status notification later reported as a hard bounce. Rates divide by it.
- `bounced_hard`: refused with a 5xx at send time (status bounced) or reported hard
  bounced afterwards; `bounced_soft`: sends with a soft-bounce report.
- `in_progress`: claimed or transmitting while its trip runs (once the trip has ended
  such a send gave up: `failed`); `deferred`: held back by the contact pressure while its
  trip runs (once the trip has ended it will never go: skipped, reason `trip_ended`).
- Opens, clicks, unsubscribes and complaints count sends ("unique") and, for opens and
  clicks, every report ("total"). A human open is one not flagged as a machine's; a
  send that was clicked counts as opened by a human, reported or not.
- A conversion is a sent mail whose relation has an event of the rule's type between
  the send and `within` later (days of 24 hours: the window is counted in UTC).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    and_,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
)
from sqlalchemy import select as wide_select  # sqlmodel's select takes at most 4 columns
from sqlalchemy.engine import Row
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlmodel import Session, col, select

from domain.definition import JourneyDefinition
from domain.durations import Duration
from domain.statuses import FeedbackKind, SendStatus, SkipReason, TripStatus
from domain.steps.messages import SendEmailStep
from store.models import Event, Send, SendFeedback, TemplateVersion, Trip

Sql = ColumnElement[Any]
Group = tuple[int, str]  # (journey id, step id): every send belongs to exactly one

UNSPECIFIED = "unspecified"  # a skip recorded before reasons were
_OPEN = frozenset({SendStatus.claimed, SendStatus.transmitting})
_REASONS = frozenset(SkipReason)


@dataclass(frozen=True)
class ConversionRule:
    event: str
    within: str  # as the definition or the request wrote it
    seconds: int

    @classmethod
    def of(cls, event: str, within: str) -> ConversionRule:
        """Raises ValueError (naming the text) when `within` is no duration."""
        return cls(event=event, within=within, seconds=Duration.parse(within).seconds)


@dataclass
class LinkFigures:
    url: str | None  # None: a click on a link its template version does not list
    unique: int = 0
    total: int = 0


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class MailFigures:
    sent: int = 0
    delivered: int = 0
    bounced_hard: int = 0
    bounced_soft: int = 0
    uncertain: int = 0
    failed: int = 0
    in_progress: int = 0
    deferred: int = 0
    dismissed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> sends
    opened_human: int = 0  # sends opened at least once by a human
    opened: int = 0  # sends opened at least once, machines included
    opens: int = 0
    human_opens: int = 0
    clicked: int = 0
    clicks: int = 0
    links: dict[str | None, LinkFigures] = field(default_factory=dict)  # by URL
    unsubscribed: int = 0
    complained: int = 0
    conversions: int = 0
    # The delivered mails that count conversions (a step without a rule does not).
    converting: int = 0
    rules: set[ConversionRule] = field(default_factory=set)
    # The send ledger's outcomes as GET /journeys/{id}/stats always showed them.
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, other: MailFigures) -> None:
        for number in fields(self):
            if number.type == "int":  # a count: counts add up
                name = number.name
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped.update(other.skipped)
        self.outcomes.update(other.outcomes)
        self.rules |= other.rules
        for url, link in other.links.items():
            mine = self.links.setdefault(url, LinkFigures(url))
            mine.unique += link.unique
            mine.total += link.total

    @property
    def machine_only(self) -> int:
        return self.opened - self.opened_human

    @property
    def open_rate(self) -> float | None:
        return _rate(self.opened_human, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return _rate(self.clicked, self.delivered)

    @property
    def click_to_open_rate(self) -> float | None:
        return _rate(self.clicked, self.opened_human)

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.conversions, self.converting)


def total(parts: Iterable[MailFigures]) -> MailFigures:
    summed = MailFigures()
    for part in parts:
        summed.add(part)
    return summed


def rules_of(
    definition: JourneyDefinition, template: str | None = None
) -> dict[str, ConversionRule]:
    """step id -> conversion rule of the definition's send steps (of `template` only,
    when given). Frozen definitions were valid, so their durations parse."""
    return {
        step.id: ConversionRule.of(step.conversion.event, step.conversion.within)
        for step in definition.steps
        if isinstance(step, SendEmailStep)
        and step.conversion is not None
        and (template is None or step.template == template)
    }


def for_journey(
    session: Session,
    journey_id: int,
    steps: Iterable[str],
    rules: Mapping[str, ConversionRule],
    override: ConversionRule | None = None,
) -> dict[str, MailFigures]:
    """step id -> figures of the journey's sends, for every step that sent and every one
    of `steps` (zeros: it has not yet); `rules` per step id, unless `override` counts one
    conversion for every step."""
    found = _figures(
        session,
        [col(Send.journey_id) == journey_id],
        {(journey_id, step): rule for step, rule in rules.items()},
        override,
        [(journey_id, step) for step in steps],
    )
    return {step: figures for (_, step), figures in found.items()}


def for_template(
    session: Session,
    template: str,
    rules: Mapping[Group, ConversionRule],
    override: ConversionRule | None = None,
    journey_id: int | None = None,
) -> dict[int, MailFigures]:
    """journey id -> figures of the sends of `template` (in one journey when given)."""
    where = [col(Send.template) == template]
    if journey_id is not None:
        where.append(col(Send.journey_id) == journey_id)
    by_journey: dict[int, MailFigures] = {}
    for (journey, _), figures in _figures(session, where, rules, override).items():
        by_journey.setdefault(journey, MailFigures()).add(figures)
    return by_journey


def journeys_sending(session: Session, template: str) -> list[int]:
    """The journeys with sends of `template`, in id order."""
    query = (
        select(Send.journey_id)
        .where(col(Send.template) == template)
        .distinct()
        .order_by(col(Send.journey_id))
    )
    return [int(journey) for journey in session.exec(query).all()]


def outcomes_by_step(session: Session, journey_id: int) -> dict[str, Counter[str]]:
    """step id -> send ledger outcome -> sends, as GET /journeys/{id}/stats `sends`."""
    found: dict[str, Counter[str]] = {}
    for (_, step), figures in _statuses(session, [col(Send.journey_id) == journey_id]).items():
        found[step] = figures.outcomes
    return found


# --- the queries ---------------------------------------------------------------------------


def _figures(
    session: Session,
    where: Sequence[Sql],
    rules: Mapping[Group, ConversionRule],
    override: ConversionRule | None,
    expected: Iterable[Group] = (),
) -> dict[Group, MailFigures]:
    found = _statuses(session, where)
    for group in expected:
        found.setdefault(group, MailFigures())
    _feedback(session, where, found)
    _links(session, where, found)
    if override is not None:
        chosen = {group: override for group in found}
    else:
        chosen = {group: rule for group, rule in rules.items() if group in found}
    for group, rule in chosen.items():
        found[group].rules.add(rule)
        found[group].converting = found[group].delivered
    _conversions(session, where, chosen, everywhere=override is not None, into=found)
    return found


def _statuses(session: Session, where: Sequence[Sql]) -> dict[Group, MailFigures]:
    query = (
        wide_select(
            col(Send.journey_id),
            col(Send.step_id),
            col(Send.status),
            col(Send.reason),
            col(Trip.status),
            func.count(),
        )
        .join(Trip, col(Trip.id) == col(Send.trip_id))
        .where(*where)
        .group_by(
            col(Send.journey_id),
            col(Send.step_id),
            col(Send.status),
            col(Send.reason),
            col(Trip.status),
        )
    )
    found: dict[Group, MailFigures] = {}
    for journey, step, status, reason, trip, number in _rows(session, query):
        figures = found.setdefault((int(journey), str(step)), MailFigures())
        running = trip == TripStatus.running
        _count_status(figures, str(status), str(reason), running, int(number))
    return found


def _rows(session: Session, query: Select[*tuple[Any, ...]]) -> Sequence[Row[*tuple[Any, ...]]]:
    """Rows of a Core select wider than sqlmodel's typed `select` allows."""
    return session.connection().execute(query).all()


def _count_status(figures: MailFigures, status: str, reason: str, running: bool, n: int) -> None:
    if status in _OPEN:
        if running:
            figures.in_progress += n
            figures.outcomes["in_progress"] += n
        else:
            figures.failed += n
            figures.outcomes["failed"] += n
    elif status == SendStatus.deferred:
        if running:
            figures.deferred += n
            figures.outcomes["in_progress"] += n
        else:
            figures.skipped[SkipReason.trip_ended] += n
            figures.outcomes["skipped"] += n
    elif status == SendStatus.skipped:
        figures.skipped[reason if reason in _REASONS else UNSPECIFIED] += n
        figures.outcomes["skipped"] += n
    else:
        figures.outcomes[status] += n
        if status == SendStatus.sent:
            figures.sent += n
            figures.delivered += n
        elif status == SendStatus.bounced:
            figures.bounced_hard += n
        elif status == SendStatus.uncertain:
            figures.uncertain += n
        elif status == SendStatus.failed:
            figures.failed += n
        elif status == SendStatus.dismissed:
            figures.dismissed += n


def _sends_where(condition: Sql) -> Sql:
    return func.count(func.distinct(case((condition, col(Send.id)), else_=None)))


def _rows_where(condition: Sql) -> Sql:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _feedback(session: Session, where: Sequence[Sql], into: dict[Group, MailFigures]) -> None:
    kind = col(SendFeedback.kind)
    hard = kind == FeedbackKind.hard_bounce
    opened = kind == FeedbackKind.open
    human = and_(opened, col(SendFeedback.machine) == false())
    clicked = kind == FeedbackKind.click
    query = (
        wide_select(
            col(Send.journey_id),
            col(Send.step_id),
            # A send refused at SMTP time is already counted by its status.
            _sends_where(and_(hard, col(Send.status) != SendStatus.bounced)),
            _sends_where(and_(hard, col(Send.status) == SendStatus.sent)),
            _sends_where(kind == FeedbackKind.soft_bounce),
            # A click proves a person read the mail (with its images blocked, perhaps):
            # a clicked send counts as opened, so click-to-open never exceeds 100 %.
            _sends_where(or_(human, clicked)),
            _sends_where(or_(opened, clicked)),
            _rows_where(opened),
            _rows_where(human),
            _sends_where(clicked),
            _rows_where(clicked),
            _sends_where(kind == FeedbackKind.unsubscribe),
            _sends_where(kind == FeedbackKind.complaint),
        )
        .join(Send, col(Send.id) == col(SendFeedback.send_id))
        .where(*where)
        .group_by(col(Send.journey_id), col(Send.step_id))
    )
    for journey, step, *numbers in _rows(session, query):
        figures = into.setdefault((int(journey), str(step)), MailFigures())
        (
            hard_late,
            hard_after_sent,
            figures.bounced_soft,
            figures.opened_human,
            figures.opened,
            figures.opens,
            figures.human_opens,
            figures.clicked,
            figures.clicks,
            figures.unsubscribed,
            figures.complained,
        ) = (int(n) for n in numbers)
        figures.bounced_hard += hard_late
        figures.delivered -= hard_after_sent


def _links(session: Session, where: Sequence[Sql], into: dict[Group, MailFigures]) -> None:
    """Clicks per URL. A URL written twice in one template has two indices; a send
    clicking both counts once for it, so duplicates are folded onto their first index
    before counting (a send has one template version, hence one list of links)."""
    used = exists().where(
        *where,
        col(Send.template) == col(TemplateVersion.template_key),
        col(Send.template_version) == col(TemplateVersion.version),
    )
    versions = session.exec(
        select(TemplateVersion.template_key, TemplateVersion.version, TemplateVersion.links).where(
            used
        )
    ).all()
    urls: dict[tuple[str, int, int], str] = {}
    folds: list[tuple[Sql, int]] = []
    for key, version, links in versions:
        first: dict[str, int] = {}
        for index, url in enumerate(links):
            urls[(key, version, index)] = url
            if url in first:
                on = and_(
                    col(Send.template) == key,
                    col(Send.template_version) == version,
                    col(SendFeedback.link) == index,
                )
                folds.append((on, first[url]))
            else:
                first[url] = index
    link = case(*folds, else_=col(SendFeedback.link)) if folds else col(SendFeedback.link)
    query = (
        wide_select(
            col(Send.journey_id),
            col(Send.step_id),
            col(Send.template),
            col(Send.template_version),
            link,
            func.count(func.distinct(col(Send.id))),
            func.count(),
        )
        .join(Send, col(Send.id) == col(SendFeedback.send_id))
        .where(*where, col(SendFeedback.kind) == FeedbackKind.click)
        .group_by(
            col(Send.journey_id),
            col(Send.step_id),
            col(Send.template),
            col(Send.template_version),
            link,
        )
    )
    for journey, step, key, version, index, unique, clicks in _rows(session, query):
        figures = into.setdefault((int(journey), str(step)), MailFigures())
        url = urls.get((key, version, index)) if version is not None and index is not None else None
        counted = figures.links.setdefault(url, LinkFigures(url))
        counted.unique += int(unique)
        counted.total += int(clicks)


def _later(session: Session, moment: SQLCoreOperations[Any], seconds: int) -> Sql:
    """`moment` plus a whole number of seconds, in the column's own spelling."""
    if session.get_bind().dialect.name == "sqlite":
        # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); whole seconds move the first 19
        # characters and leave the fraction, so the text compares exactly.
        shifted = func.strftime("%Y-%m-%d %H:%M:%S", moment, f"+{int(seconds)} seconds")
        shifted_text: Sql = shifted.concat(func.substr(moment, 20))
        return shifted_text
    interval = literal_column(f"INTERVAL '{int(seconds)} seconds'", type_=Interval())
    moved: Sql = moment.op("+", return_type=DateTime(timezone=True))(interval)
    return moved


def _conversions(
    session: Session,
    where: Sequence[Sql],
    rules: Mapping[Group, ConversionRule],
    *,
    everywhere: bool,
    into: dict[Group, MailFigures],
) -> None:
    """One query per distinct rule (a journey has few), counting converted sends."""
    by_rule: dict[ConversionRule, list[Group]] = {}
    for group, rule in rules.items():
        by_rule.setdefault(rule, []).append(group)
    sent_at = col(Send.sent_at)
    for rule, groups in by_rule.items():
        converted = exists().where(
            col(Event.relation_id) == col(Send.relation_id),
            col(Event.type) == rule.event,
            col(Event.occurred_at) >= sent_at,
            col(Event.occurred_at) <= _later(session, sent_at, rule.seconds),
        )
        scope = [*where, col(Send.status) == SendStatus.sent, sent_at.is_not(None), converted]
        if not everywhere:
            scope.append(
                or_(
                    *(
                        and_(col(Send.journey_id) == journey, col(Send.step_id) == step)
                        for journey, step in groups
                    )
                )
            )
        query = (
            select(Send.journey_id, Send.step_id, func.count())
            .where(*scope)
            .group_by(col(Send.journey_id), col(Send.step_id))
        )
        for journey, step, number in session.exec(query).all():
            into[(int(journey), str(step))].conversions += int(number)
