"""What became of the mails of a send step, a journey or a template (store/mail_stats.py
defines each figure), and the query parameters that count conversions on request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import Field

from api.schemas.common import Output
from domain.statuses import SkipReason
from store.errors import Invalid, Problem
from store.mail_stats import UNSPECIFIED, ConversionRule, MailFigures

DEFAULT_WITHIN = "P7D"


class SkipCounts(Output):
    total: int
    by_reason: dict[str, int] = Field(
        description="Every skip reason (no_consent, suppressed, capped, no_address, "
        f"invalid_address, left_journey, relation_erased, trip_ended), and `{UNSPECIFIED}` "
        "for skips recorded before reasons were"
    )


class OpenCounts(Output):
    unique: int = Field(description="Mails opened by a human (not a likely machine open)")
    unique_with_machine: int = Field(description="Mails opened, machine opens included")
    machine_only: int = Field(description="Mails only a machine (a privacy proxy) opened")
    total: int = Field(description="Every open, machine opens included")
    human_total: int = Field(description="Every open by a human")


class LinkCounts(Output):
    url: str | None = Field(description="null: a link its template version does not list")
    unique: int = Field(description="Mails in which it was clicked")
    total: int


class ClickCounts(Output):
    unique: int = Field(description="Mails with at least one click (machines not told apart)")
    total: int
    links: list[LinkCounts] = Field(description="Per link, most clicked first")


class Rates(Output):
    """Fractions rounded to 4 decimals; null when the denominator is 0."""

    open: float | None = Field(description="Human unique opens / delivered")
    click: float | None = Field(description="Unique clicks / delivered")
    click_to_open: float | None = Field(description="Unique clicks / human unique opens")


class ConversionCounts(Output):
    event: str | None = Field(description="The event type counted; null when steps differ")
    within: str | None = Field(description="The period after the send; null when steps differ")
    count: int = Field(
        description="Sent mails whose relation had such an event from the send to `within` after it"
    )
    rate: float | None = Field(
        description="count / delivered mails of the steps that count this conversion"
    )


class MailStats(Output):
    sent: int = Field(description="Accepted by the relay")
    delivered: int = Field(description="Sent, less those reported hard bounced afterwards")
    bounced_hard: int = Field(
        description="Refused at send time (5xx), or reported hard bounced afterwards"
    )
    bounced_soft: int = Field(description="Mails with a soft-bounce report")
    uncertain: int = Field(description="The attempt died mid-transaction: maybe delivered")
    failed: int = Field(description="Could not be built, or gave up after retries")
    dismissed: int = Field(description="Uncertain mails an operator chose not to resend")
    in_progress: int = Field(description="Being sent while the trip runs")
    deferred: int = Field(
        description="Held back by the contact pressure (quiet hours, a cap) while the trip runs"
    )
    skipped: SkipCounts
    opened: OpenCounts
    clicked: ClickCounts
    unsubscribed: int = Field(description="Mails whose recipient unsubscribed through them")
    complained: int = Field(description="Mails reported as spam")
    rates: Rates
    conversions: ConversionCounts | None = Field(
        description="null when no conversion is defined (on the step, or in the request)"
    )

    @classmethod
    def of(cls, figures: MailFigures) -> MailStats:
        reasons = {reason.value: 0 for reason in SkipReason} | {UNSPECIFIED: 0}
        reasons.update(figures.skipped)
        links = sorted(
            figures.links.values(), key=lambda link: (-link.unique, -link.total, link.url or "")
        )
        return cls(
            sent=figures.sent,
            delivered=figures.delivered,
            bounced_hard=figures.bounced_hard,
            bounced_soft=figures.bounced_soft,
            uncertain=figures.uncertain,
            failed=figures.failed,
            dismissed=figures.dismissed,
            in_progress=figures.in_progress,
            deferred=figures.deferred,
            skipped=SkipCounts(total=figures.skipped.total(), by_reason=reasons),
            opened=OpenCounts(
                unique=figures.opened_human,
                unique_with_machine=figures.opened,
                machine_only=figures.machine_only,
                total=figures.opens,
                human_total=figures.human_opens,
            ),
            clicked=ClickCounts(
                unique=figures.clicked,
                total=figures.clicks,
                links=[LinkCounts(url=k.url, unique=k.unique, total=k.total) for k in links],
            ),
            unsubscribed=figures.unsubscribed,
            complained=figures.complained,
            rates=Rates(
                open=figures.open_rate,
                click=figures.click_rate,
                click_to_open=figures.click_to_open_rate,
            ),
            conversions=_conversions(figures),
        )


def _conversions(figures: MailFigures) -> ConversionCounts | None:
    if not figures.rules:
        return None
    events = {rule.event for rule in figures.rules}
    periods = {rule.within for rule in figures.rules}
    return ConversionCounts(
        event=next(iter(events)) if len(events) == 1 else None,
        within=next(iter(periods)) if len(periods) == 1 else None,
        count=figures.conversions,
        rate=figures.conversion_rate,
    )


def conversion_rule(
    conversion: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Count this event type as the conversion of every mail (instead "
            "of each send step's own `conversion`)",
        ),
    ] = None,
    within: Annotated[
        str | None,
        Query(
            max_length=60,
            description=f"With `conversion`: the period after the send, an ISO-8601 "
            f"duration in weeks, days or hours (default {DEFAULT_WITHIN})",
        ),
    ] = None,
) -> ConversionRule | None:
    if conversion is None:
        if within is not None:
            raise Invalid(
                [Problem(("query", "within"), "`within` needs `conversion`", "missing_conversion")]
            )
        return None
    try:
        return ConversionRule.of(conversion, within or DEFAULT_WITHIN)
    except ValueError as error:
        raise Invalid([Problem(("query", "within"), str(error), "duration")]) from None


ConversionOverride = Annotated[ConversionRule | None, Depends(conversion_rule)]


class TemplateJourneyStats(Output):
    journey_id: int
    name: str
    mail: MailStats


class TemplateStats(Output):
    template: str
    journey_id: int | None = Field(description="The journey asked for; null: all journeys")
    mail: MailStats = Field(description="Every mail of the template (in that journey)")
    journeys: list[TemplateJourneyStats] = Field(description="Per journey that sent it")
