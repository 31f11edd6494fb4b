"""Every change-making Slack request is one change however often it arrives, malformed bodies are a 400, and
what fails after the ack is retried from the inbox or said to the person, on both databases."""

from __future__ import annotations

import gc
import json
import logging
import time

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender, ack_text, sign
from tests.test_capture import Events, declare, message, pinned, reaction


def timeline_kinds(db: Engine) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT kind FROM timeline_events ORDER BY id")))


def inbox_states(db: Engine) -> dict[str, int]:
    with db.connect() as c:
        rows = c.execute(text("SELECT state, COUNT(*) FROM inbox_items GROUP BY state"))
        return {state: count for state, count in rows}


def card_ts(db: Engine, public_id: str) -> str:
    with db.connect() as c:
        return str(c.scalar(text("SELECT card_ts FROM incidents WHERE public_id = :p"), {"p": public_id}))


def test_a_signed_note_replayed_three_times_is_one_timeline_row(sender: SlackSender, slack: FakeSlack,
                                                                 db: Engine) -> None:
    _, room = declare(sender, db)
    body = sender.command_body("note Failover to the replica started", channel=room)
    answers = [ack_text(sender.post(body)) for _ in range(3)]
    assert timeline_kinds(db).count("note") == 1
    assert "Noted" in answers[0]
    assert all("already handled" in a for a in answers[1:])
    # A new command with the same text is a new request, and a new note.
    assert "Noted" in ack_text(sender.command("note Failover to the replica started", channel=room))
    assert timeline_kinds(db).count("note") == 2


def test_the_update_form_submitted_twice_is_one_entry_and_one_post(sender: SlackSender, slack: FakeSlack,
                                                                   db: Engine) -> None:
    public_id, room = declare(sender, db)
    sender.click("post_update", public_id, user="U0DECLARER", channel=room, message_ts=card_ts(db, public_id))
    form = wait_for(lambda: [v for v in slack.views if v["callback_id"] == "update_form"], what="update form")[0]
    values = {"text": {"type": "plain_text_input", "value": "Replica promoted, errors falling"}}
    for _ in range(2):
        assert sender.submit(form, values, user="U0DECLARER").status_code == 200
    wait_for(lambda: "status_update" in timeline_kinds(db), what="the update")
    wait_for(lambda: inbox_states(db) == {"done": 1}, what="the submission handled (the same one twice)")
    assert timeline_kinds(db).count("status_update") == 1
    posts = [m for m in slack.messages(room) if "Status update" in m.get("text", "")]
    assert len(posts) == 1


def test_a_double_click_on_take_ic_is_one_change_and_no_refusal(sender: SlackSender, slack: FakeSlack,
                                                                db: Engine) -> None:
    public_id, room = declare(sender, db)
    ts = card_ts(db, public_id)
    for _ in range(2):
        assert sender.click("take_ic", public_id, user="U0BOB", channel=room, message_ts=ts).status_code == 200
    wait_for(lambda: inbox_states(db) == {"done": 2}, what="both clicks handled")
    assert timeline_kinds(db).count("role_assigned") == 1
    with db.connect() as c:
        holders = c.execute(text("SELECT user_id FROM role_assignments WHERE role = 'Incident Commander' "
                                 "AND ended_at IS NULL")).scalars().all()
    assert holders == ["U0BOB"]
    # The second click was recognised as the same request, not refused as "already Incident Commander".
    assert not [r for r in slack.responses if "already" in r.get("text", "")]


@pytest.mark.parametrize(("body", "content_type"), [
    ("{", "application/json"), ("[]", "application/json"), ("null", "application/json"),
    ('{"type": "event_callback", ', "application/json"),
    ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
    ('{"type": "event_callback", "event_id": "Ev0NOEVENT"}', "application/json"),
    ('{"type": "event_callback", "event": "message"}', "application/json"),
])
def test_malformed_but_signed_bodies_are_a_400(sender: SlackSender, body: str, content_type: str) -> None:
    response = sender.post(body, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert "malformed" in response.json()["error"]


def test_a_pin_read_during_a_429_and_5xx_storm_lands_once_after_it(sender: SlackSender, slack: FakeSlack,
                                                                   db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    ts = slack.post_as_user(room, "U0BOB", "Rolled back deploy 142")
    slack.ratelimit("conversations.history", retry_after=1, times=2)
    slack.server_error("conversations.history", status=503, times=4)  # outlasts the SDK's own two retries
    body = events.deliver(reaction("reaction_added", room, ts, "U0DECLARER"))
    events.redeliver(body, retry=1)
    [event] = wait_for(lambda: pinned(db), timeout=30, what="the pin, after the storm")
    assert "Rolled back deploy 142" in event.text
    time.sleep(0.3)
    assert len(pinned(db)) == 1
    assert not [e for e in slack.ephemerals if "couldn't read" in e.get("text", "")]


def test_a_failing_event_listener_is_said_privately_and_leaves_no_unretrieved_task(
        sender: SlackSender, slack: FakeSlack, db: Engine, caplog: pytest.LogCaptureFixture) -> None:
    events = Events(sender, slack)
    channel = slack.add_channel("general-chat")
    slack.join_as_user(channel, "U0BOB")
    caplog.set_level(logging.WARNING)
    # The answer to a mention can't be posted (a permanent error), so the listener itself fails.
    slack.fail("chat.postMessage", "is_archived", times=5)
    events.deliver({"type": "app_mention", "user": "U0BOB", "channel": channel, "ts": "1700000000.000100",
                    "text": f"<@{slack.bot_user_id}> what incidents are open?", "event_ts": "1700000000.000100"})
    told = wait_for(lambda: [e for e in slack.ephemerals if "couldn't handle" in e.get("text", "")],
                    what="the failure, said privately")
    assert told[0]["user"] == "U0BOB" and "is_archived" in told[0]["text"]
    wait_for(lambda: inbox_states(db) == {"failed": 1}, what="the event marked failed")
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    time.sleep(0.2)
    assert "failed for good" in caplog.text
    assert "Task exception was never retrieved" not in caplog.text
    assert "exception was never retrieved" not in caplog.text


def test_messages_acked_in_a_burst_are_each_stored_once(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    bodies = [events.deliver(message(room, "U0BOB", f"line {n}", f"1700000{n:03d}.000100")) for n in range(30)]
    for body in bodies[::3]:
        events.redeliver(body, retry=1)
    wait_for(lambda: inbox_states(db).get("done") == 30, what="30 handled")
    with db.connect() as c:
        assert c.scalar(text("SELECT COUNT(*) FROM transcript_messages")) == 30


def test_an_unsigned_body_is_still_refused(sender: SlackSender) -> None:
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}})
    headers = {"Content-Type": "application/json", **sign("wrong-secret", body)}
    assert httpx.post(f"{sender.app_url}/slack/events", content=body, headers=headers).status_code == 401
