"""The states of journeys, trips, sends and passages: one spelling, used from the
tables to the API and the Web UI."""

from __future__ import annotations

from enum import StrEnum


class JourneyStatus(StrEnum):
    draft = "draft"
    active = "active"
    inactive = "inactive"


class TripStatus(StrEnum):
    running = "running"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


class SendStatus(StrEnum):
    """A send ledger row: claimed -> transmitting -> one of the final states."""

    claimed = "claimed"  # inserted before anything else; ours to send
    transmitting = "transmitting"  # committed right before SMTP DATA
    sent = "sent"
    bounced = "bounced"  # permanent SMTP refusal (5xx): recorded, the trip goes on
    skipped = "skipped"  # a SkipReason: no consent, suppressed, capped, ...
    failed = "failed"  # could not be built or gave up after retries; the trip goes on
    # An attempt died mid-transaction: maybe delivered, so not resent by itself (an
    # operator may: POST /sends/{id}/resend, same Message-ID).
    uncertain = "uncertain"
    dismissed = "dismissed"  # an uncertain send an operator chose not to resend
    # Held back by the contact-pressure policy (quiet hours, a frequency cap, the
    # relation's own send window) until `not_before`; claimable again from then on.
    deferred = "deferred"


class SkipReason(StrEnum):
    """Why a send was skipped (Send.reason); the statistics count each apart."""

    no_address = "no_address"
    invalid_address = "invalid_address"
    no_consent = "no_consent"
    suppressed = "suppressed"  # the address is on the suppression list
    capped = "capped"  # a frequency cap, and the step says skip
    left_journey = "left_journey"  # unsubscribed from this journey
    relation_erased = "relation_erased"
    trip_ended = "trip_ended"


class FeedbackKind(StrEnum):
    """What became of a sent mail afterwards (SendFeedback.kind)."""

    open = "open"
    click = "click"
    soft_bounce = "soft_bounce"
    hard_bounce = "hard_bounce"
    complaint = "complaint"
    unsubscribe = "unsubscribe"


class SuppressionReason(StrEnum):
    hard_bounce = "hard_bounce"
    soft_bounces = "soft_bounces"  # the policy's number of soft bounces reached
    complaint = "complaint"
    unsubscribe = "unsubscribe"
    manual = "manual"


FINAL_SENDS = frozenset(
    {
        SendStatus.sent,
        SendStatus.bounced,
        SendStatus.skipped,
        SendStatus.failed,
        SendStatus.uncertain,
        SendStatus.dismissed,
    }
)


class Outcome(StrEnum):
    """What happened at one passage (one row of a trip's path)."""

    # Still happening: rewritten with a final outcome when the trip moves on or ends.
    waiting = "waiting"
    sending = "sending"
    # Final.
    waited = "waited"
    passed = "passed"  # a wait_until moment already behind
    inside_window = "inside_window"
    then = "then"
    else_ = "else"
    jumped = "jumped"
    sent = "sent"
    bounced = "bounced"
    skipped = "skipped"
    failed = "failed"
    uncertain = "uncertain"
    exited = "exited"
    received = "received"  # wait_for_event: the event came
    timed_out = "timed_out"  # wait_for_event: the timeout passed first
    goal_reached = "goal_reached"  # an exit_on event ended the trip here
    cancelled = "cancelled"
    relation_erased = "relation_erased"
    unsubscribed = "unsubscribed"  # the unsubscribe step: from the journey, email or SMS
    # The CRM steps (domain/steps/relations.py, groups.py, data.py).
    updated = "updated"  # update_relation, upsert_relation (existing): fields written
    unchanged = "unchanged"  # a CRM write that found nothing to change
    found = "found"  # lookup_relation
    not_found = "not_found"
    created = "created"  # add_relation, upsert_relation (new)
    deleted = "deleted"  # delete_relation
    grouped = "grouped"  # add_to_group, remove_from_group, sync_group
    collected = "collected"  # export: the trip is in the bucket
    imported = "imported"  # import: the import is done
    import_failed = "import_failed"
    encrypted = "encrypted"


OPEN_OUTCOMES = frozenset({Outcome.waiting, Outcome.sending})
