"""Slack events: @incidentbot questions answered in thread, once, however often Slack delivers them."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import Engine, text

from app.slack.events import question_of
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender, ack_text


def mention(sender: SlackSender, slack: FakeSlack, channel: str, question: str, *, event_id: str | None = None,
            retry: bool = False) -> str:
    """Deliver an app_mention as Slack does; returns the ts of the message that mentioned the bot."""
    said = f"<@{slack.bot_user_id}> {question}"
    posted = slack.post_as_user(channel, "U0BOB", said)
    deliver(sender, slack, channel, said, posted, event_id or f"Ev{uuid.uuid4().hex[:10]}", retry=retry)
    return posted


def deliver(sender: SlackSender, slack: FakeSlack, channel: str, said: str, ts: str, event_id: str,
            *, retry: bool = False) -> None:
    body = json.dumps({
        "token": "x", "team_id": slack.team_id, "api_app_id": "A0001", "type": "event_callback",
        "event_id": event_id, "event_time": 1, "authorizations": [{"user_id": slack.bot_user_id}],
        "event": {"type": "app_mention", "user": "U0BOB", "text": said, "ts": ts, "channel": channel, "event_ts": ts},
    })
    headers = {"Content-Type": "application/json"}
    if retry:
        headers.update({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert sender.post(body, headers=headers).status_code == 200


def replies_to(slack: FakeSlack, channel: str, ts: str) -> list[dict]:
    return wait_for(lambda: [m for m in slack.messages(channel) if m.get("thread_ts") == ts], what="threaded reply")


def declared(sender: SlackSender, db: Engine, title: str) -> tuple[str, str]:
    public_id = ack_text(sender.command(f"declare {title}")).split("*")[1]
    query = text("SELECT setup_state, channel_id FROM incidents WHERE public_id = :p")

    def ready() -> str | None:
        with db.connect() as c:
            state, channel = c.execute(query, {"p": public_id}).one()
        return channel if state == "done" else None

    return public_id, wait_for(ready, what="war room")


def test_a_status_question_in_a_war_room_is_answered_from_the_incident(sender: SlackSender, slack: FakeSlack,
                                                                        db: Engine) -> None:
    public_id, room = declared(sender, db, "SEV2 Payment API returning 500 errors")
    asked = mention(sender, slack, room, "what's the current status?")
    [reply] = replies_to(slack, room, asked)
    blocks = json.dumps(reply["blocks"])
    for expected in (f"Status: {public_id}", "SEV2 (Major - customer impact)", "INVESTIGATING",
                     "*Incident Commander*\\n<@U0DECLARER>", "Payment API returning 500 errors"):
        assert expected in blocks, expected
    assert reply["text"].startswith(f"{public_id} (SEV2, INVESTIGATING)")


def test_a_question_naming_another_incident_answers_about_that_one(sender: SlackSender, slack: FakeSlack,
                                                                     db: Engine) -> None:
    first, _ = declared(sender, db, "SEV2 Payment API returning 500 errors")
    _, room = declared(sender, db, "SEV4 Typo on pricing page")
    asked = mention(sender, slack, room, f"who is IC on {first}?")
    [reply] = replies_to(slack, room, asked)
    assert f"*Incident Commander of {first}*: <@U0DECLARER>" in json.dumps(reply["blocks"])


def test_a_question_outside_any_war_room_lists_open_incidents(sender: SlackSender, slack: FakeSlack,
                                                              db: Engine) -> None:
    first, _ = declared(sender, db, "SEV2 Payment API returning 500 errors")
    second, _ = declared(sender, db, "SEV1 Website is down")
    general = slack.add_channel("general")
    asked = mention(sender, slack, general, "status?")
    [reply] = replies_to(slack, general, asked)
    blocks = json.dumps(reply["blocks"])
    assert "This channel is not an incident war room." in blocks and "2 open incidents" in blocks
    assert blocks.index(second) < blocks.index(first)  # the SEV1 first


def test_a_mention_is_answered_in_thread_once_despite_retries(sender: SlackSender, slack: FakeSlack) -> None:
    general = slack.add_channel("general")
    said = f"<@{slack.bot_user_id}> status?"
    posted = slack.post_as_user(general, "U0BOB", said)
    deliver(sender, slack, general, said, posted, "Ev0MENTION1")
    deliver(sender, slack, general, said, posted, "Ev0MENTION1", retry=True)
    [reply] = replies_to(slack, general, posted)
    assert reply["text"] == "There are no open incidents."
    # A later question answered means the retry, delivered before it, has been dealt with too.
    later = mention(sender, slack, general, "status?")
    replies_to(slack, general, later)
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len([m for m in slack.messages(general) if m.get("thread_ts") == posted]) == 1


def test_the_question_is_the_text_after_the_bot_mention() -> None:
    assert question_of("<@UBOT> status of INC-2026-1125-001?") == "status of INC-2026-1125-001?"
    assert question_of("<@UBOT|incidentbot>: who is IC?") == "who is IC?"
    assert question_of("  <@UBOT>  ") == ""
    assert question_of("ask <@UBOT> later") == "ask <@UBOT> later"
