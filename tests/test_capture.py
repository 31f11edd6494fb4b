"""War-room capture driven as Slack drives it: a declared incident, people posting, reacting, pinning,
editing and joining, each delivered as a signed Events API request (sometimes twice), on both databases."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.incidents.models import NextAction, Participant, TimelineEvent, TimelineMark, TranscriptMessage
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender, ack_text

TITLE = "Payment API returning 500 errors"
JSON = {"Content-Type": "application/json"}


# --- driving Slack --------------------------------------------------------------------------------


class Events:
    """Delivers Events API callbacks the way Slack does: signed JSON, each with its own event_id."""

    def __init__(self, sender: SlackSender, slack: FakeSlack) -> None:
        self.sender, self.slack = sender, slack

    def deliver(self, event: dict[str, Any]) -> str:
        body = json.dumps({
            "token": "x", "team_id": self.slack.team_id, "api_app_id": "A0001", "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
            "authorizations": [{"user_id": self.slack.bot_user_id, "is_bot": True}], "event": event,
        })
        self.redeliver(body, retry=0)
        return body

    def redeliver(self, body: str, *, retry: int = 1) -> None:
        """The same event again, as Slack retries it when it thinks the first delivery failed."""
        headers = JSON if retry == 0 else {**JSON, "X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "timeout"}
        assert self.sender.post(body, headers=headers).status_code == 200


def reaction(kind: str, room: str, ts: str, user: str, emoji: str = "pushpin") -> dict[str, Any]:
    return {"type": kind, "user": user, "reaction": emoji, "item_user": "U0BOB",
            "item": {"type": "message", "channel": room, "ts": ts}, "event_ts": f"{time.time():.6f}"}


def pin(kind: str, room: str, ts: str, user: str) -> dict[str, Any]:
    return {"type": kind, "user": user, "channel_id": room, "event_ts": f"{time.time():.6f}",
            "item": {"type": "message", "channel": room, "created_by": user,
                     "message": {"type": "message", "ts": ts, "text": "..."}}}


def message(room: str, user: str, text_: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel": room, "user": user, "text": text_, "ts": ts, "event_ts": ts,
            "channel_type": "channel", **extra}


def joined(room: str, user: str) -> dict[str, Any]:
    return {"type": "member_joined_channel", "user": user, "channel": room, "channel_type": "C",
            "team": "T0001", "event_ts": f"{time.time():.6f}"}


def declare(sender: SlackSender, db: Engine) -> tuple[str, str]:
    """`/incident declare SEV2 ...`, then the war room's channel id once set-up has finished."""
    public_id = ack_text(sender.command(f"declare SEV2 {TITLE}")).split("*")[1]

    def room() -> str | None:
        with db.connect() as c:
            row = c.execute(text("SELECT setup_state, channel_id FROM incidents WHERE public_id = :p"),
                            {"p": public_id}).one_or_none()
        return row.channel_id if row and row.setup_state == "done" else None

    return public_id, wait_for(room, what="war-room set-up")


def let_handlers_finish() -> None:
    """Bolt acks first and handles after: give ignored events and retries time to do (nothing) wrong."""
    time.sleep(0.4)


# --- reading what was stored ----------------------------------------------------------------------


def pinned(db: Engine) -> list[TimelineEvent]:
    with Session(db) as s:
        return list(s.scalars(select(TimelineEvent).where(TimelineEvent.kind == "pinned_message")
                              .order_by(TimelineEvent.id)))


def marks(db: Engine) -> set[tuple[str, str, str]]:
    with Session(db) as s:
        return {(m.message_ts, m.user_id, m.via) for m in s.scalars(select(TimelineMark))}


def transcript(db: Engine) -> dict[str, TranscriptMessage]:
    with Session(db) as s:
        return {m.ts: m for m in s.scalars(select(TranscriptMessage))}


def participants(db: Engine) -> set[str]:
    with Session(db) as s:
        return set(s.scalars(select(Participant.user_id)))


def ts_time(ts: str) -> datetime:
    seconds, micros = ts.split(".")
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=int(micros))


def permalink(room: str, ts: str) -> str:
    return f"https://fake.slack.com/archives/{room}/p{ts.replace('.', '')}"


# --- timeline marks -------------------------------------------------------------------------------


def test_pushpin_puts_the_message_on_the_timeline_once_with_its_own_time_author_and_link(
        sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    slack.add_user("U0CAROL", "carol")
    ts = slack.post_as_user(room, "U0BOB", "Rolled back deploy 142, error rate falling")

    first = events.deliver(reaction("reaction_added", room, ts, "U0DECLARER"))
    wait_for(lambda: pinned(db), what="pinned message on the timeline")
    events.redeliver(first, retry=1)
    events.redeliver(first, retry=2)
    events.deliver(reaction("reaction_added", room, ts, "U0BOB"))
    events.deliver(reaction("reaction_added", room, ts, "U0CAROL"))
    wait_for(lambda: len(marks(db)) == 3, what="three marks")
    let_handlers_finish()

    [event] = pinned(db)
    assert event.occurred_at == ts_time(ts)  # the message's time, not the reaction's
    assert (event.actor, event.text, event.permalink) == ("U0BOB", "Rolled back deploy 142, error rate falling",
                                                          permalink(room, ts))
    assert (event.source, event.dedup_key) == ("slack", f"message:{ts}")
    assert marks(db) == {(ts, user, "reaction") for user in ("U0DECLARER", "U0BOB", "U0CAROL")}
    with db.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM processed_requests WHERE key LIKE 'slack:event:%'")) == 3
    [history] = slack.calls_to("conversations.history")[-1:]
    assert (history["latest"], history["oldest"]) == (ts, ts)


def test_the_message_leaves_the_timeline_with_its_last_reaction(sender: SlackSender, slack: FakeSlack,
                                                                 db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    ts = slack.post_as_user(room, "U0BOB", "DB primary failing over")
    added = events.deliver(reaction("reaction_added", room, ts, "U0DECLARER"))
    events.deliver(reaction("reaction_added", room, ts, "U0BOB"))
    wait_for(lambda: len(marks(db)) == 2, what="two marks")

    events.deliver(reaction("reaction_removed", room, ts, "U0BOB"))
    wait_for(lambda: marks(db) == {(ts, "U0DECLARER", "reaction")}, what="one mark left")
    assert [e.text for e in pinned(db)] == ["DB primary failing over"]

    removal = events.deliver(reaction("reaction_removed", room, ts, "U0DECLARER"))
    wait_for(lambda: not pinned(db), what="message off the timeline")
    assert marks(db) == set()
    events.redeliver(removal)
    events.redeliver(added)  # a late retry of the first reaction must not bring the message back
    let_handlers_finish()
    assert pinned(db) == [] and marks(db) == set()


def test_pin_and_unpin_do_the_same_and_the_card_pin_is_not_a_mark(sender: SlackSender, slack: FakeSlack,
                                                                  db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    [card_ts] = slack.pins[room]
    ts = slack.post_as_user(room, "U0DECLARER", "Customer comms drafted")

    events.deliver(pin("pin_added", room, card_ts, slack.bot_user_id))  # the bot pinning its card
    events.deliver(pin("pin_added", room, card_ts, "U0BOB"))  # as Slack would never send, but still not a mark
    slack.pin_as_user(room, ts)
    events.deliver(pin("pin_added", room, ts, "U0BOB"))
    wait_for(lambda: pinned(db), what="pinned message on the timeline")
    events.deliver(reaction("reaction_added", room, ts, "U0DECLARER"))
    wait_for(lambda: len(marks(db)) == 2, what="pin and reaction")
    let_handlers_finish()
    assert marks(db) == {(ts, "U0BOB", "pin"), (ts, "U0DECLARER", "reaction")}
    [event] = pinned(db)
    assert (event.actor, event.text, event.occurred_at) == ("U0DECLARER", "Customer comms drafted", ts_time(ts))

    slack.unpin_as_user(room, ts)
    events.deliver(pin("pin_removed", room, ts, "U0DECLARER"))  # anyone may unpin, not only the pinner
    wait_for(lambda: marks(db) == {(ts, "U0DECLARER", "reaction")}, what="pin mark gone")
    assert len(pinned(db)) == 1  # the reaction still holds it
    events.deliver(reaction("reaction_removed", room, ts, "U0DECLARER"))
    wait_for(lambda: not pinned(db), what="message off the timeline")


def test_other_emoji_and_other_channels_are_ignored(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    general = slack.add_channel("general")
    ts = slack.post_as_user(room, "U0BOB", "Looking at the dashboards")
    elsewhere = slack.post_as_user(general, "U0BOB", "lunch?")

    events.deliver(reaction("reaction_added", room, ts, "U0DECLARER", emoji="eyes"))
    events.deliver(reaction("reaction_added", general, elsewhere, "U0DECLARER"))
    events.deliver(message(general, "U0BOB", "lunch?", elsewhere))
    events.deliver(joined(general, "U0BOB"))
    sentinel = slack.post_as_user(room, "U0BOB", "Found it")
    events.deliver(reaction("reaction_added", room, sentinel, "U0DECLARER"))
    wait_for(lambda: pinned(db), what="the pushpinned message")
    let_handlers_finish()

    assert [e.text for e in pinned(db)] == ["Found it"]
    assert marks(db) == {(sentinel, "U0DECLARER", "reaction")}
    assert transcript(db) == {} and participants(db) == set() and slack.ephemerals == []
    assert all(call["channel"] == room for call in slack.calls_to("conversations.history"))


def test_a_message_the_bot_cannot_read_is_explained_and_nothing_is_recorded(sender: SlackSender, slack: FakeSlack,
                                                                            db: Engine) -> None:
    events = Events(sender, slack)
    public_id, room = declare(sender, db)
    ts = slack.post_as_user(room, "U0BOB", "Secret")
    slack.fail("conversations.history", "not_in_channel")

    events.deliver(reaction("reaction_added", room, ts, "U0DECLARER"))
    [notice] = wait_for(lambda: slack.ephemerals, what="ephemeral explanation")
    assert (notice["channel"], notice["user"]) == (room, "U0DECLARER")
    assert "couldn't read that message (not_in_channel" in notice["text"]
    assert f"isn't on the {public_id} timeline" in notice["text"]
    assert pinned(db) == [] and marks(db) == set()
    assert slack.calls_to("chat.getPermalink") == []


def test_a_thread_reply_is_read_through_conversations_replies(sender: SlackSender, slack: FakeSlack,
                                                              db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    parent = slack.post_as_user(room, "U0DECLARER", "What changed at 14:00?")
    reply = slack.post_as_user(room, "U0BOB", "Config push to the payment gateway", thread_ts=parent)

    events.deliver(reaction("reaction_added", room, reply, "U0DECLARER"))
    [event] = wait_for(lambda: pinned(db), what="the reply on the timeline")
    assert (event.text, event.actor, event.occurred_at) == ("Config push to the payment gateway", "U0BOB",
                                                            ts_time(reply))
    assert slack.calls_to("conversations.replies")[-1]["ts"] == reply


# --- transcript -----------------------------------------------------------------------------------


def test_every_war_room_message_is_transcribed_with_edits_and_deletions_applied(
        sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    said = slack.post_as_user(room, "U0BOB", "Error rate at 40%")
    reply = slack.post_as_user(room, "U0DECLARER", "Since when?", thread_ts=said)
    oops = slack.post_as_user(room, "U0BOB", "wrong channel, sorry")
    [card_ts] = slack.pins[room]
    for event in (message(room, "U0BOB", "Error rate at 40%", said),
                  message(room, "U0DECLARER", "Since when?", reply, thread_ts=said),
                  message(room, "U0BOB", "wrong channel, sorry", oops),
                  {"type": "message", "subtype": "bot_message", "bot_id": "B0PAGER", "username": "pager",
                   "text": "Alert: p99 latency > 2s", "ts": "1700000000.000100", "channel": room},
                  message(room, slack.bot_user_id, "Declaration card", card_ts, bot_id="B0001"),
                  message(room, "U0CAROL", "<@U0CAROL> has joined the channel", "1700000000.000200",
                          subtype="channel_join")):
        events.deliver(event)
    wait_for(lambda: len(transcript(db)) == 4, what="four transcribed messages")

    events.deliver(reaction("reaction_added", room, said, "U0DECLARER"))
    wait_for(lambda: pinned(db), what="pinned message")
    edited_ts = slack.edit_as_user(room, said, "Error rate at 45%")
    edit = events.deliver({
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": room, "ts": edited_ts,
        "event_ts": edited_ts,
        "message": {"type": "message", "user": "U0BOB", "text": "Error rate at 45%", "ts": said,
                    "edited": {"user": "U0BOB", "ts": edited_ts}},
        "previous_message": {"type": "message", "user": "U0BOB", "text": "Error rate at 40%", "ts": said},
    })
    deleted_ts = slack.delete_as_user(room, oops)
    events.deliver({
        "type": "message", "subtype": "message_deleted", "hidden": True, "channel": room, "ts": deleted_ts,
        "deleted_ts": oops, "event_ts": deleted_ts,
        "previous_message": {"type": "message", "user": "U0BOB", "text": "wrong channel, sorry", "ts": oops},
    })
    wait_for(lambda: transcript(db)[said].text == "Error rate at 45%", what="edit applied")
    wait_for(lambda: transcript(db)[oops].deleted_at is not None, what="deletion applied")
    events.redeliver(edit)
    let_handlers_finish()

    rows = transcript(db)
    assert set(rows) == {said, reply, oops, "1700000000.000100"}  # not the bot's card, not the join
    assert (rows[said].user_id, rows[said].posted_at, rows[said].edited_at) == ("U0BOB", ts_time(said),
                                                                               ts_time(edited_ts))
    assert (rows[reply].thread_ts, rows[reply].text) == (said, "Since when?")
    assert (rows[oops].text, rows[oops].deleted_at) == ("wrong channel, sorry", ts_time(deleted_ts))
    assert (rows["1700000000.000100"].user_id, rows["1700000000.000100"].text) == ("B0PAGER",
                                                                                   "Alert: p99 latency > 2s")
    assert [e.text for e in pinned(db)] == ["Error rate at 45%"]  # the timeline reads as the message now does


def test_an_edit_that_overtakes_its_message_keeps_the_edited_text(sender: SlackSender, slack: FakeSlack,
                                                                  db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    said = slack.post_as_user(room, "U0BOB", "first draft")
    edited_ts = slack.edit_as_user(room, said, "final")
    events.deliver({"type": "message", "subtype": "message_changed", "channel": room, "ts": edited_ts,
                    "message": {"type": "message", "user": "U0BOB", "text": "final", "ts": said,
                                "edited": {"user": "U0BOB", "ts": edited_ts}},
                    "previous_message": {"type": "message", "user": "U0BOB", "text": "first draft", "ts": said}})
    wait_for(lambda: said in transcript(db), what="edited message")
    events.deliver(message(room, "U0BOB", "first draft", said))
    let_handlers_finish()
    assert transcript(db)[said].text == "final"


# --- joining --------------------------------------------------------------------------------------


def test_the_first_join_gets_a_catch_up_and_a_rejoin_does_not(sender: SlackSender, slack: FakeSlack,
                                                              db: Engine) -> None:
    events = Events(sender, slack)
    public_id, room = declare(sender, db)
    with Session(db) as s, s.begin():
        incident_id = s.scalar(text("SELECT id FROM incidents WHERE public_id = :p").bindparams(p=public_id))
        s.add_all([NextAction(incident_id=incident_id, position=90, text="Roll back deploy 142"),
                   NextAction(incident_id=incident_id, position=91, text="Page the DBA",
                              done_by="U0DECLARER", done_at=datetime.now(UTC))])
    ts = slack.post_as_user(room, "U0DECLARER", "Gateway config push at 14:00 is the suspect")
    events.deliver(reaction("reaction_added", room, ts, "U0DECLARER"))
    wait_for(lambda: pinned(db), what="pinned message")

    events.deliver(joined(room, slack.bot_user_id))  # the bot joining its own war room
    slack.join_as_user(room, "U0BOB")
    first = events.deliver(joined(room, "U0BOB"))
    [catch_up] = wait_for(lambda: slack.ephemerals, what="catch-up")
    events.redeliver(first)
    assert (catch_up["channel"], catch_up["user"]) == (room, "U0BOB")
    body = catch_up["text"]
    for expected in (public_id, TITLE, "SEV2", "INVESTIGATING", "Incident Commander: <@U0DECLARER>",
                     "Incident declared (SEV2)", "Gateway config push at 14:00 is the suspect",
                     "Roll back deploy 142"):
        assert expected in body, expected
    assert "Page the DBA" not in body  # done: no longer being tried
    assert ts_time(ts).strftime("%H:%M") in body

    slack.leave_as_user(room, "U0BOB")
    slack.join_as_user(room, "U0BOB")
    events.deliver(joined(room, "U0BOB"))
    let_handlers_finish()
    assert len(slack.ephemerals) == 1
    assert participants(db) == {"U0BOB"}


def test_the_catch_up_shows_the_latest_ten_events(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    events = Events(sender, slack)
    _, room = declare(sender, db)
    said = [slack.post_as_user(room, "U0DECLARER", f"finding {n}") for n in range(12)]
    for ts in said:
        events.deliver(reaction("reaction_added", room, ts, "U0DECLARER"))
    wait_for(lambda: len(pinned(db)) == 12, what="twelve pinned messages")
    slack.join_as_user(room, "U0BOB")
    events.deliver(joined(room, "U0BOB"))
    [catch_up] = wait_for(lambda: slack.ephemerals, what="catch-up")
    shown = [line for line in catch_up["text"].splitlines() if "finding" in line]
    assert [line.rsplit("finding ", 1)[1].split()[0] for line in shown] == [str(n) for n in range(2, 12)]


# --- the fake's reading window (what the capture relies on) ---------------------------------------


def test_fake_history_and_replies_honour_latest_oldest_and_inclusive(slack: FakeSlack) -> None:
    client = WebClient(base_url=slack.url, token=slack.bot_token)
    room = slack.add_channel("window")
    a, b, c = (slack.post_as_user(room, "U0BOB", n) for n in "abc")
    reply = slack.post_as_user(room, "U0BOB", "in thread", thread_ts=b)

    def history(**kwargs: Any) -> list[str]:
        return [m["text"] for m in client.conversations_history(channel=room, **kwargs)["messages"]]

    assert history() == ["c", "b", "a"]
    assert history(latest=b, oldest=b, inclusive=True, limit=1) == ["b"]
    assert history(latest=b, oldest=b) == []
    assert history(oldest=a) == ["c", "b"]
    assert history(latest=reply, oldest=reply, inclusive=True) == []  # replies are not in history
    thread = client.conversations_replies(channel=room, ts=reply, latest=reply, oldest=reply, inclusive=True)
    assert [m["text"] for m in thread["messages"]] == ["in thread"]
    assert [m["text"] for m in client.conversations_replies(channel=room, ts=reply)["messages"]] == ["b", "in thread"]
    assert c
