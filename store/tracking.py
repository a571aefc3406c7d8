"""What a relation does with a sent mail: clicks, opens, one-click unsubscribes.

Each is recorded as feedback of the send (every click and open counts, for the totals);
the first click of each link and the first human open also become events of the
relation (`email_clicked`, `email_opened`), stored through the ordinary event ingest, so
triggers, segments, `wait_for_event` steps and conditions see them like any event. The
idempotency keys (`click:{send}:{link}`, `open:{send}`) make "first" hold also when two
requests race or a request is repeated after a crash between the two writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.statuses import FeedbackKind
from store import events, feedback
from store.errors import Invalid
from store.membership import reevaluate
from store.models import Send, TemplateVersion, WorkspaceSetting

EMAIL_OPENED = "email_opened"
EMAIL_CLICKED = "email_clicked"

# The workspace's words on the unsubscribe page (WorkspaceSetting `unsubscribe_page`,
# any of these keys); these when it says nothing.
UNSUBSCRIBE_PAGE = "unsubscribe_page"
DEFAULT_WORDS = {
    "title": "Unsubscribe",
    "question": "Do you want to stop receiving these emails?",
    "button": "Unsubscribe",
    "done": "You are unsubscribed. You will not receive these emails any more.",
    "unknown": "This link is not valid (any more).",
}


@dataclass(frozen=True)
class Click:
    url: str  # the stored link to redirect to
    event_id: int | None  # an `email_clicked` event still to dispatch


@dataclass(frozen=True)
class Unsubscribed:
    relation_id: int
    changed: bool  # False when this send's unsubscribe was recorded before


def find_send(session: Session, send_id: int) -> Send | None:
    return session.get(Send, send_id)


def stored_link(session: Session, send: Send, link: int) -> str | None:
    """The link under this index of the template version the send used; None when
    there is none (a send from before tracking, or an index out of range)."""
    if send.template_version is None or link < 0:
        return None
    links = session.exec(
        select(TemplateVersion.links).where(
            col(TemplateVersion.template_key) == send.template,
            col(TemplateVersion.version) == send.template_version,
        )
    ).first()
    if links is None or link >= len(links):
        return None
    return str(links[link])


def record_click(session: Session, send_id: int, link: int, *, now: datetime) -> Click | None:
    """Record a click on link `link` of the send; None when the send or the link is
    unknown (nothing recorded, nothing to redirect to)."""
    send = find_send(session, send_id)
    if send is None:
        return None
    url = stored_link(session, send, link)
    if url is None:
        return None
    feedback.record(session, send_id, FeedbackKind.click, link=link, at=now)
    session.commit()
    event_id = _event(
        session, send, EMAIL_CLICKED, f"click:{send_id}:{link}", {"link": url}, now=now
    )
    return Click(url, event_id)


def record_open(session: Session, send: Send, *, machine: str | None, now: datetime) -> int | None:
    """Record an open of the send; `machine` is why it is likely a machine's (a proxy
    or scanner), which is kept with it and makes no event. Returns the id of an
    `email_opened` event still to dispatch, if any."""
    assert send.id is not None
    feedback.record(
        session,
        send.id,
        FeedbackKind.open,
        machine=machine is not None,
        detail=machine or "",
        at=now,
    )
    session.commit()
    if machine is not None:
        return None
    return _event(session, send, EMAIL_OPENED, f"open:{send.id}", {}, now=now)


def unsubscribe(session: Session, send_id: int, *, now: datetime) -> Unsubscribed | None:
    """The one-click unsubscribe of a send: opt-in email off, the address suppressed,
    the relation's segments re-evaluated, all in one transaction. The caller dispatches
    the relation's segment changes. None for an unknown send."""
    send = find_send(session, send_id)
    if send is None:
        return None
    changed = feedback.unsubscribe(session, send)
    if changed:
        session.flush()
        reevaluate(session, send.relation_id, cause="unsubscribe", now=now)
    session.commit()
    return Unsubscribed(send.relation_id, changed)


def page_words(session: Session) -> dict[str, str]:
    row = session.get(WorkspaceSetting, UNSUBSCRIBE_PAGE)
    chosen = row.value if row is not None else {}
    return {
        key: str(chosen[key]) if isinstance(chosen.get(key), str) and chosen[key] else default
        for key, default in DEFAULT_WORDS.items()
    }


def _event(
    session: Session,
    send: Send,
    kind: str,
    key: str,
    extra: dict[str, Any],
    *,
    now: datetime,
) -> int | None:
    """Store the relation's event (once per key); its id when it still needs a
    Dispatch, None when an earlier request dispatched it or the relation is erased."""
    payload = {
        "send_id": send.id,
        "journey_id": send.journey_id,
        "step_id": send.step_id,
        "template": send.template,
        **extra,
    }
    new = events.NewEvent(
        type=kind,
        relation=events.RelationRef(id=send.relation_id),
        payload=payload,
        occurred_at=now,
        idempotency_key=key,
    )
    try:
        ingested = events.ingest(session, new, now=now, loc=("path", "token"))
    except Invalid:  # the relation was erased: its mail's feedback stays, no event
        return None
    if ingested.repeated and ingested.event.dispatched_at is not None:
        return None
    return ingested.event.id
