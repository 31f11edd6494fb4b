"""Running an incident from its war room: commands, buttons and forms, as Slack sends them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from sqlalchemy import Engine, text

from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender, ack_text

BOB = "<@U0BOB|bob>"


def declare(sender: SlackSender, slack: FakeSlack, db: Engine, text_: str = "SEV2 Payment API returning 500 errors"
            ) -> tuple[str, str]:
    public_id = ack_text(sender.command(f"declare {text_}")).split("*")[1]
    wait_for(lambda: _incident(db, public_id)["setup_state"] == "done", what="war room")
    return public_id, _incident(db, public_id)["channel_id"]


def _incident(db: Engine, public_id: str) -> dict:
    with db.connect() as c:
        row = c.execute(text("SELECT * FROM incidents WHERE public_id = :p"), {"p": public_id}).one()
    return dict(row._mapping)


def kinds(db: Engine) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT kind FROM timeline_events ORDER BY id")))


def in_room(sender: SlackSender, channel: str, command: str, user: str = "U0DECLARER") -> str:
    return ack_text(sender.command(command, channel=channel, user=user))


def card_of(slack: FakeSlack, channel: str, ts: str) -> dict:
    return next(m for m in slack.messages(channel) if m["ts"] == ts)


def topic(slack: FakeSlack, channel: str) -> str:
    return str(slack.channels[channel]["topic"])


def test_a_whole_incident_from_declare_to_close(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    public_id, room = declare(sender, slack, db)
    announcements = slack.channel_by_name("incidents")["id"]
    [announcement] = slack.messages(announcements)

    assert "is now Communications" in in_room(sender, room, f"assign comms {BOB}")
    dm = wait_for(lambda: [m for m in slack.direct_messages("U0BOB") if "Communications" in m["text"]], what="role DM")
    assert public_id in dm[0]["text"] and "stakeholders" in dm[0]["text"]

    assert "Update posted" in in_room(sender, room, "update Rolled back deploy 2.3.1 --status identified")
    wait_for(lambda: topic(slack, room) == "SEV2 | IDENTIFIED | IC <@U0DECLARER>", what="topic")
    assert any("Rolled back deploy 2.3.1" in m["text"] for m in slack.messages(room))
    [edited] = wait_for(lambda: [m for m in slack.messages(announcements)
                                 if "Rolled back deploy 2.3.1" in str(m["blocks"])], what="announcement edited")
    assert edited["ts"] == announcement["ts"] and len(slack.messages(announcements)) == 1  # edited in place

    assert "is now SEV1" in in_room(sender, room, "severity SEV1 revenue impact growing")
    wait_for(lambda: topic(slack, room).startswith("SEV1 | IDENTIFIED"), what="severity in topic")
    assert "Noted" in in_room(sender, room, "note Database CPU back to normal")

    status = json.dumps(sender.command("status", channel=room).json())
    for expected in (public_id, "SEV1", "IDENTIFIED", "<@U0DECLARER>", "<@U0BOB>", "Rolled back deploy 2.3.1"):
        assert expected in status, expected
    timeline = json.dumps(sender.command("timeline", channel=room).json())
    assert time.strftime("%Y-%m-%d", time.gmtime()) in timeline and "Database CPU" in timeline

    assert "resolved" in in_room(sender, room, "resolve Rolled back 2.3.1; error rate normal")
    handoff = wait_for(lambda: [m for m in slack.messages(room) if "postmortem" in str(m["blocks"]).lower()],
                       what="handoff")
    assert "Rolled back 2.3.1; error rate normal" in str(handoff[-1]["blocks"])
    wait_for(lambda: "RESOLVED" in topic(slack, room), what="resolved topic")
    assert "closed" in in_room(sender, room, "close")
    incident = _incident(db, public_id)
    assert incident["status"] == "CLOSED" and incident["resolved_at"] and incident["closed_at"]
    assert incident["summary"] == "Rolled back 2.3.1; error rate normal"
    wait_for(lambda: "Incident Closed" in str(card_of(slack, room, incident["card_ts"])["blocks"]),
             what="card redrawn")
    assert incident["card_ts"] in slack.pins[room]
    assert kinds(db)[-7:] == ["role_assigned", "status_changed", "status_update", "severity_changed", "note",
                              "resolved", "closed"]


def test_commands_that_need_an_incident_say_how_to_name_one(sender: SlackSender, slack: FakeSlack,
                                                            db: Engine) -> None:
    public_id, _ = declare(sender, slack, db)
    outside = in_room(sender, "C0GENERAL", "update Still looking")
    assert "isn't an incident's war room" in outside and "/incident update INC-" in outside
    assert public_id in json.dumps(sender.command("status", channel="C0GENERAL").json())
    assert "Update posted" in in_room(sender, "C0GENERAL", f"update {public_id} Still looking")
    assert "No incident INC-2020-0101-001" in in_room(sender, "C0GENERAL", "resolve INC-2020-0101-001")
    assert public_id in json.dumps(sender.command("list").json())


@pytest.mark.parametrize(("command", "answer"), [
    (f"assign wizard {BOB}", "Unknown role `wizard`"),
    ("assign comms <@U0NOBODY|ghost>", "can't find <@U0NOBODY> in this workspace"),
    ("assign comms", "Name a role and a person"),
    ("severity SEV9", "Unknown severity SEV9"),
    ("severity SEV2", "is already SEV2"),
    ("severity", "Give the new severity"),
    ("close", "resolve it before closing"),
    ("update --status resolved all good", "isn't an update status"),
    ("reopen", "is still open"),
    ("frobnicate", "Unknown subcommand `frobnicate`"),
])
def test_bad_input_gets_a_specific_answer_and_changes_nothing(sender: SlackSender, slack: FakeSlack, db: Engine,
                                                              command: str, answer: str) -> None:
    public_id, room = declare(sender, slack, db)
    before, incident = kinds(db), _incident(db, public_id)
    assert answer in in_room(sender, room, command)
    assert kinds(db) == before
    assert _incident(db, public_id)["severity"] == incident["severity"] == "SEV2"


def test_resolving_twice_is_refused(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    _, room = declare(sender, slack, db)
    in_room(sender, room, "resolve fixed")
    assert "already resolved" in in_room(sender, room, "resolve again")
    assert "reopen it before" in in_room(sender, room, "update more news")
    assert "reopened" in in_room(sender, room, "reopen")
    assert kinds(db).count("resolved") == 1


def test_card_buttons_take_ic_and_tick_next_actions(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    public_id, room = declare(sender, slack, db)
    card_ts = _incident(db, public_id)["card_ts"]
    assert sender.click("take_ic", public_id, user="U0BOB", channel=room, message_ts=card_ts).status_code == 200
    wait_for(lambda: topic(slack, room).endswith("IC <@U0BOB>"), what="IC handoff in topic")
    with db.connect() as c:
        roles = c.execute(text("SELECT user_id, ended_at IS NULL FROM role_assignments "
                               "WHERE role = 'Incident Commander' ORDER BY id")).all()
    assert [tuple(r) for r in roles] == [("U0DECLARER", False), ("U0BOB", True)]

    with db.connect() as c:
        first = c.execute(text("SELECT id, text FROM next_actions ORDER BY position")).first()
    for _ in range(2):  # a double click ticks once
        sender.click("next_action_done", f"{public_id}:{first.id}", user="U0BOB", channel=room, message_ts=card_ts)
    wait_for(lambda: "☑" in str(card_of(slack, room, card_ts)["blocks"]), what="ticked card")
    assert kinds(db).count("next_action") == 1
    with db.connect() as c:
        assert c.scalar(text("SELECT done_by FROM next_actions WHERE id = :i"), {"i": first.id}) == "U0BOB"


def test_update_and_resolve_through_forms(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    public_id, room = declare(sender, slack, db)
    card_ts = _incident(db, public_id)["card_ts"]
    sender.click("post_update", public_id, user="U0DECLARER", channel=room, message_ts=card_ts)
    form = wait_for(lambda: [v for v in slack.views if v["callback_id"] == "update_form"], what="update form")[0]
    sender.submit(form, {"text": {"type": "plain_text_input", "value": "Failover complete"},
                         "status": {"type": "static_select", "selected_option": {"value": "monitoring"}}},
                  user="U0DECLARER")
    wait_for(lambda: _incident(db, public_id)["status"] == "MONITORING", what="update from form")
    sender.click("resolve_incident", public_id, user="U0DECLARER", channel=room, message_ts=card_ts)
    form = wait_for(lambda: [v for v in slack.views if v["callback_id"] == "resolve_form"], what="resolve form")[0]
    sender.submit(form, {"summary": {"type": "plain_text_input", "value": "Failed over to replica"}},
                  user="U0DECLARER")
    wait_for(lambda: _incident(db, public_id)["status"] == "RESOLVED", what="resolve from form")
    assert _incident(db, public_id)["summary"] == "Failed over to replica"


def test_declare_without_a_title_opens_a_form(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    assert sender.command("declare").status_code == 200
    form = wait_for(lambda: slack.views, what="declare form")[0]
    assert form["callback_id"] == "declare_form"
    empty = sender.submit(form, {"title": {"type": "plain_text_input", "value": ""}}, user="U0DECLARER")
    assert empty.json() == {"response_action": "errors", "errors": {"title": "Give the incident a title."}}
    sender.submit(form, {
        "title": {"type": "plain_text_input", "value": "Checkout down for all users"},
        "description": {"type": "plain_text_input", "value": "Every request returns 503"},
        "service": {"type": "plain_text_input", "value": "checkout"},
        "private": {"type": "checkboxes", "selected_options": [{"value": "private"}]},
    }, user="U0DECLARER")
    result = wait_for(lambda: [r for r in slack.responses if "War room" in r.get("text", "")], what="result")
    with db.connect() as c:
        row = c.execute(text("SELECT severity, description, affected_service, is_private, channel_id "
                             "FROM incidents")).one()
    assert row.severity == "SEV1"  # assessed: nobody picked one, and everything is down
    assert (row.description, row.affected_service, bool(row.is_private)) == (
        "Every request returns 503", "checkout", True)
    assert slack.channels[row.channel_id]["is_private"] and row.channel_id in result[0]["text"]


def test_an_unspecified_severity_is_assessed_and_explained(sender: SlackSender, db: Engine) -> None:
    reply = ack_text(sender.command("declare Typo on the pricing page for one customer"))
    assert "assessed" in reply and "/incident severity" in reply
    with db.connect() as c:
        assert c.scalar(text("SELECT severity FROM incidents")) in ("SEV4", "SEV5")


async def test_two_replicas_taking_ic_at_once_leave_one_commander(database_url: str) -> None:
    from types import SimpleNamespace

    from app.config import TeamConfig
    from app.db.base import utcnow
    from app.db.engine import create_db_engine, session_factory
    from app.incidents import lifecycle
    from app.incidents.flows import Declaration
    from app.incidents.flows import declare as declare_incident
    from app.incidents.models import Source
    from app.slack.changes import apply_change

    config = TeamConfig()
    engines = [create_db_engine(database_url) for _ in range(2)]
    replicas = [SimpleNamespace(sessions=session_factory(e)) for e in engines]
    declared = await declare_incident(replicas[0].sessions, config, Declaration(
        title="Search down", severity="SEV2", declared_by="U0DECLARER", source=Source.SLACK))
    ic = config.role("ic")
    inside: list[str] = []
    both_inside = asyncio.Event()

    async def take(replica: SimpleNamespace, user: str) -> None:
        actor = lifecycle.Actor(user, Source.SLACK)

        async def change(session, incident):  # type: ignore[no-untyped-def]
            # Hold the transaction open until the other replica has read too (or could not, being
            # locked out): without the row lock both would see the declarer as IC and both take over.
            inside.append(user)
            if len(inside) == 2:
                both_inside.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(both_inside.wait(), 0.5)
            return await lifecycle.assign_role(session, incident, ic, user, actor, utcnow())

        await apply_change(replica, declared.incident.id, change)  # type: ignore[arg-type]

    await asyncio.gather(take(replicas[0], "U0ALICE"), take(replicas[1], "U0BOB"))
    async with replicas[0].sessions() as session:
        from app.incidents import service

        incident = await service.get_incident_by_id(session, declared.incident.id)
    active = [r.user_id for r in incident.roles if r.role == "Incident Commander" and r.ended_at is None]
    handoffs = [e.text for e in incident.timeline if e.kind == "role_assigned"]
    for engine in engines:
        await engine.dispose()
    assert len(active) == 1
    assert handoffs[0].startswith("Incident Commander handed off from <@U0DECLARER>")
    assert handoffs[1] == f"Incident Commander handed off from <@{'U0ALICE' if active == ['U0BOB'] else 'U0BOB'}> " \
                          f"to <@{active[0]}>"


def test_a_slow_user_lookup_does_not_hold_up_the_ack(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    _, room = declare(sender, slack, db)
    slack.delay("users.info", 2.5)
    started = time.monotonic()
    answer = in_room(sender, room, f"assign scribe {BOB}")
    assert time.monotonic() - started < 2.5 and "Checking <@U0BOB>" in answer
    done = wait_for(lambda: [r for r in slack.responses if "is now Scribe" in r["text"]], what="assignment")
    assert done and "role_assigned" in kinds(db)
