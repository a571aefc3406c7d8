"""if/else on data that changes during a wait, jumps, and what the path says about them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import (
    add_journey,
    add_relation,
    add_template,
    path_of,
    start_trip,
    update_relation,
)
from worker.settings import Settings

CONVERT_DONORS = {
    "name": "Donor to member",
    "steps": [
        {"id": "thanks_for_donating", "type": "send_email", "template": "thanks"},
        {"id": "give_it_a_week", "type": "wait", "duration": "P7D"},
        {
            "id": "is_member",
            "type": "if",
            "condition": {"field": "member_since", "op": "is_set"},
            "then": "welcome_member",
            "else": "nudge",
        },
        {"id": "nudge", "type": "send_email", "template": "become_member", "next": "done"},
        {"id": "welcome_member", "type": "send_email", "template": "welcome_member"},
        {"id": "done", "type": "exit"},
    ],
}


def _templates(engine: Engine) -> None:
    add_template(engine, "thanks", "Thank you", "<p>Thanks {{ relation.first_name }}</p>")
    add_template(engine, "become_member", "Become a member?", "<p>Join us</p>")
    add_template(engine, "welcome_member", "Welcome, member", "<p>Welcome</p>")


async def test_if_sees_data_changed_during_the_wait(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    _templates(engine)
    joins = add_relation(engine, email="joins@example.org", first_name="Jo")
    stays = add_relation(engine, email="stays@example.org", first_name="Sam")
    journey = add_journey(engine, CONVERT_DONORS)

    async with running_worker(time_env.client, engine, settings):
        joined = await start_trip(time_env.client, engine, settings.task_queue, journey, joins)
        stayed = await start_trip(time_env.client, engine, settings.task_queue, journey, stays)
        await time_env.sleep(timedelta(days=2))
        # Jo becomes a member while waiting; the check happens on arrival, so it sees this.
        update_relation(engine, joins, custom={"member_since": "2026-11-24"})
        await joined.result()
        await stayed.result()

    assert [m["Subject"] for m in smtp_sink.to("joins@example.org")] == [
        "Thank you",
        "Welcome, member",
    ]
    assert [m["Subject"] for m in smtp_sink.to("stays@example.org")] == [
        "Thank you",
        "Become a member?",
    ]

    joined_path = path_of(engine, joined.id)
    assert [r.step_id for r in joined_path] == [
        "thanks_for_donating",
        "give_it_a_week",
        "is_member",
        "welcome_member",
        "done",
    ]
    check = joined_path[2]
    assert check.outcome == "then" and "member_since is_set: yes" in check.detail

    stayed_path = path_of(engine, stayed.id)
    assert [r.step_id for r in stayed_path] == [
        "thanks_for_donating",
        "give_it_a_week",
        "is_member",
        "nudge",
        "done",
    ]
    assert stayed_path[2].outcome == "else" and "member_since is_set: no" in stayed_path[2].detail
    # The check ran on arrival, a week after entry, not at entry.
    assert stayed_path[2].entered_at - stayed_path[0].entered_at >= timedelta(days=7)


JUMP_AHEAD = {
    "name": "VIP shortcut",
    "steps": [
        {
            "id": "is_vip",
            "type": "if",
            "condition": {"all": [{"field": "plan", "op": "eq", "value": "gold"}]},
            "then": "vip_gift",
            "else": "regular_offer",
        },
        {"id": "vip_gift", "type": "send_email", "template": "gift"},
        {"id": "to_goodbye", "type": "jump", "target": "goodbye"},
        {"id": "regular_offer", "type": "send_email", "template": "offer"},
        {"id": "upsell", "type": "send_email", "template": "upsell"},
        {"id": "goodbye", "type": "send_email", "template": "goodbye"},
    ],
}


async def test_jump_skips_the_steps_in_between(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(engine, "gift", "A gift for you", "<p>gift</p>")
    add_template(engine, "offer", "Our offer", "<p>offer</p>")
    add_template(engine, "upsell", "Go gold", "<p>upsell</p>")
    add_template(engine, "goodbye", "See you", "<p>bye</p>")
    gold = add_relation(engine, email="gold@example.org", custom={"plan": "gold"})
    basic = add_relation(engine, email="basic@example.org", custom={"plan": "basic"})
    journey = add_journey(engine, JUMP_AHEAD)

    async with running_worker(time_env.client, engine, settings):
        gold_trip = await start_trip(time_env.client, engine, settings.task_queue, journey, gold)
        basic_trip = await start_trip(time_env.client, engine, settings.task_queue, journey, basic)
        await gold_trip.result()
        await basic_trip.result()

    assert [m["Subject"] for m in smtp_sink.to("gold@example.org")] == ["A gift for you", "See you"]
    assert [m["Subject"] for m in smtp_sink.to("basic@example.org")] == [
        "Our offer",
        "Go gold",
        "See you",
    ]
    gold_path = path_of(engine, gold_trip.id)
    # The jump skips the regular offer and the upsell.
    assert [r.step_id for r in gold_path] == ["is_vip", "vip_gift", "to_goodbye", "goodbye"]
    assert gold_path[2].outcome == "jumped" and gold_path[2].detail == "to goodbye"
    basic_path = [r.step_id for r in path_of(engine, basic_trip.id)]
    assert basic_path == ["is_vip", "regular_offer", "upsell", "goodbye"]
