"""`/incident declare` driven as Slack drives it: signed HTTP requests, the fake Web API, both databases."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, text

from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender, ack_text
from tests.test_incident_ids import numbers_by_day

TITLE = "Payment API returning 500 errors"


def incidents(db: Engine) -> list[dict]:
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(text("SELECT * FROM incidents ORDER BY id"))]


def timeline(db: Engine, incident_id: int = 1) -> list[str]:
    with db.connect() as c:
        rows = c.execute(text("SELECT kind, text FROM timeline_events WHERE incident_id = :i ORDER BY id"),
                         {"i": incident_id})
        return [f"{kind}: {txt}" for kind, txt in rows]


def setup_finished(db: Engine, public_id: str) -> bool:
    with db.connect() as c:
        state = c.scalar(text("SELECT setup_state FROM incidents WHERE public_id = :p"), {"p": public_id})
    return state == "done"


def war_rooms(slack: FakeSlack) -> list[str]:
    return [c["name"] for c in slack.channels.values() if c["name"].startswith("inc-")]


def declare(sender: SlackSender, db: Engine, text_: str = f"SEV2 {TITLE}") -> str:
    reply = ack_text(sender.command(f"declare {text_}"))
    public_id = reply.split("*")[1]
    wait_for(lambda: setup_finished(db, public_id), what="war-room set-up")
    return public_id


def test_declare_opens_a_war_room_with_card_topic_and_announcement(sender: SlackSender, slack: FakeSlack,
                                                                   db: Engine) -> None:
    reply = ack_text(sender.command(f"declare SEV2 {TITLE}"))
    day = time.strftime("%Y-%m%d", time.gmtime())
    assert f"INC-{day}-001" in reply and "SEV2" in reply

    public_id = f"INC-{day}-001"
    wait_for(lambda: setup_finished(db, public_id), what="war-room set-up")
    name = f"inc-{day}-001-payment-api-returning-500-errors"
    channel = slack.channel_by_name(name)
    assert channel is not None, slack.channels
    assert "U0DECLARER" in channel["members"]
    assert channel["topic"] == "SEV2 | INVESTIGATING | IC <@U0DECLARER>"
    assert channel["purpose"] == f"{public_id}: {TITLE}"

    [card] = slack.messages(channel["id"])
    card_text = str(card["blocks"])
    for expected in (public_id, TITLE, "SEV2 (Major - customer impact)", "INVESTIGATING", "<@U0DECLARER>",
                     "Incident Commander", "Communications", "Scribe", "Subject Expert", "Next actions",
                     "Check recent deployments", "War room created", f"<#{channel['id']}>"):
        assert expected in card_text, expected
    assert slack.pins[channel["id"]] == [card["ts"]]

    announcements = slack.messages(slack.channel_by_name("incidents")["id"])
    assert len(announcements) == 1 and f"<#{channel['id']}>" in str(announcements[0]["blocks"])

    [incident] = incidents(db)
    assert (incident["channel_id"], incident["card_ts"]) == (channel["id"], card["ts"])
    assert incident["severity"] == "SEV2" and incident["status"] == "INVESTIGATING"
    assert timeline(db) == [
        "declared: Incident declared (SEV2)",
        f"war_room.create_channel: War room created: #{name}",
        "war_room.invite_declarer: <@U0DECLARER> joined the war room",
        "war_room.set_topic: Channel topic set: SEV2 | INVESTIGATING | IC <@U0DECLARER>",
        "war_room.set_purpose: Channel purpose set",
        "war_room.post_card: Declaration card posted",
        "war_room.pin_card: Declaration card pinned",
        "war_room.announce: Announced in #incidents",
    ]
    with db.connect() as c:
        role = c.execute(text("SELECT role, user_id, status FROM role_assignments")).one()
    assert tuple(role) == ("Incident Commander", "U0DECLARER", "Active")
    done = wait_for(lambda: slack.responses, what="follow-up to the declarer")
    assert "War room for" in done[-1]["text"] and "ready" in done[-1]["text"]


def test_ack_comes_before_war_room_and_after_the_record_is_durable(sender: SlackSender, slack: FakeSlack,
                                                                 db: Engine) -> None:
    slack.hang("conversations.create")
    started = time.monotonic()
    reply = ack_text(sender.command(f"declare SEV1 {TITLE}"))
    assert time.monotonic() - started < 3
    assert "INC-" in reply
    assert [i["title"] for i in incidents(db)] == [TITLE]
    assert war_rooms(slack) == []
    slack.release("conversations.create")
    wait_for(lambda: war_rooms(slack), what="channel after release")


def test_bad_input_gets_a_specific_ephemeral_answer_and_records_nothing(sender: SlackSender,
                                                                      db: Engine) -> None:
    assert "Unknown severity SEV9" in ack_text(sender.command(f"declare SEV9 {TITLE}"))
    assert "SEV1, SEV2, SEV3, SEV4, SEV5" in ack_text(sender.command(f"declare sev9 {TITLE}"))
    unknown = ack_text(sender.command("frobnicate now"))
    assert "Unknown subcommand `frobnicate`" in unknown and "/incident declare" in unknown
    garbled = ack_text(sender.command("frob\x00nic\x1bate\x07 now"))
    assert "Unknown subcommand `frobnicate`" in garbled
    assert "/incident declare [SEV1-SEV5] <title>" in ack_text(sender.command("help"))
    assert "/incident declare" in ack_text(sender.command(""))
    assert incidents(db) == []


def test_forged_and_stale_signatures_are_rejected(sender: SlackSender, db: Engine) -> None:
    body = sender.command_body(f"declare SEV2 {TITLE}")
    forged = sender.post(body, headers={"X-Slack-Request-Timestamp": str(int(time.time())),
                                        "X-Slack-Signature": "v0=" + "0" * 64}, signed=False)
    assert forged.status_code == 401
    stale = sender.post(body, timestamp=int(time.time()) - 6 * 60)
    assert stale.status_code == 401
    unsigned = sender.post(body, signed=False)
    assert unsigned.status_code == 401
    assert incidents(db) == []


def test_a_retried_delivery_declares_once(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    body = sender.command_body(f"declare SEV2 {TITLE}", trigger_id="trig.same-request")
    first = ack_text(sender.post(body))
    second = ack_text(sender.post(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))
    public_id = first.split("*")[1]
    assert f"{public_id} was already declared" in second
    wait_for(lambda: setup_finished(db, public_id))
    assert len(incidents(db)) == 1
    assert len(slack.calls_to("conversations.create")) == 1


def test_concurrent_declarations_get_distinct_sequential_ids(sender: SlackSender, db: Engine) -> None:
    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda n: ack_text(sender.command(f"declare SEV3 Outage {n}")), range(12)))
    ids = sorted(r.split("*")[1] for r in replies)
    assert len(set(ids)) == 12, replies
    # Numbered from 1 each UTC day: a run that crosses midnight starts the new day at 001.
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in numbers_by_day(ids).values()), ids
    assert sorted(i["public_id"] for i in incidents(db)) == ids


def test_name_taken_gets_a_suffix(sender: SlackSender, slack: FakeSlack, db: Engine) -> None:
    day = time.strftime("%Y-%m%d", time.gmtime())
    slack.add_channel(f"inc-{day}-001-payment-api-returning-500-errors")
    declare(sender, db)
    assert slack.channel_by_name(f"inc-{day}-001-payment-api-returning-500-errors-2") is not None
    assert incidents(db)[0]["channel_name"].endswith("-2")


def test_rate_limited_calls_are_retried_after_retry_after(sender: SlackSender, slack: FakeSlack,
                                                          db: Engine) -> None:
    slack.ratelimit("conversations.create", retry_after=1)
    slack.ratelimit("chat.postMessage", retry_after=1)
    public_id = declare(sender, db)
    assert len(slack.calls_to("conversations.create")) == 2
    assert incidents(db)[0]["channel_id"] is not None
    assert "war_room.failed" not in " ".join(timeline(db))
    assert public_id in str(wait_for(lambda: slack.responses, what="report to declarer"))


def test_a_refused_step_is_reported_and_the_rest_go_on(sender: SlackSender, slack: FakeSlack,
                                                       db: Engine) -> None:
    slack.fail("conversations.setTopic", "missing_scope")
    declare(sender, db)
    report = wait_for(lambda: slack.responses, what="report to declarer")[-1]["text"]
    assert "Could not set the channel topic (missing_scope" in report
    assert "reinstall it from slack-app-manifest.yml" in report
    events = timeline(db)
    assert any(e.startswith("war_room.failed: Could not set the channel topic (missing_scope") for e in events)
    assert "war_room.post_card: Declaration card posted" in events
    assert "war_room.announce: Announced in #incidents" in events
    assert incidents(db)[0]["status"] == "INVESTIGATING"


def test_channel_creation_refused_skips_channel_steps_but_still_announces(sender: SlackSender,
                                                                         slack: FakeSlack, db: Engine) -> None:
    slack.fail("conversations.create", "restricted_action")
    declare(sender, db)
    report = wait_for(lambda: slack.responses, what="report to declarer")[-1]["text"]
    assert "Could not create the war-room channel (restricted_action" in report
    assert "Skipped: could not post the declaration card" in report
    assert len(slack.messages(slack.channel_by_name("incidents")["id"])) == 1
    assert incidents(db)[0]["channel_id"] is None


def test_announcement_channel_missing_is_reported(app_env: dict, slack: FakeSlack, db: Engine) -> None:
    from tests.support import AppServer

    with AppServer({**app_env, "INCIDENT_ANNOUNCE_CHANNEL": "no-such-channel"}) as server:
        sender = SlackSender(server.url, "test-signing-secret", slack)
        declare(sender, db)
        report = wait_for(lambda: slack.responses)[-1]["text"]
    assert "Could not announce the incident (channel_not_found" in report


def test_the_bot_joins_a_public_announcement_channel_it_is_not_in(app_env: dict, slack: FakeSlack,
                                                                  db: Engine) -> None:
    from tests.support import AppServer

    slack.add_channel("major-incidents", bot_is_member=False)
    with AppServer({**app_env, "INCIDENT_ANNOUNCE_CHANNEL": "#major-incidents"}) as server:
        declare(SlackSender(server.url, "test-signing-secret", slack), db)
    announce = slack.channel_by_name("major-incidents")
    assert slack.bot_user_id in announce["members"]
    assert len(slack.messages(announce["id"])) == 1


def test_user_text_cannot_ping_channels_and_mentions_still_render(sender: SlackSender, slack: FakeSlack,
                                                                  db: Engine) -> None:
    public_id = declare(sender, db, "SEV2 Checkout &lt;!channel&gt; &amp; payments")
    assert incidents(db)[0]["title"] == "Checkout <!channel> & payments"
    room = incidents(db)[0]["channel_id"]
    posted = slack.messages(room) + slack.messages(slack.channel_by_name("incidents")["id"])
    for message in posted:
        everything = message["text"] + json.dumps(message["blocks"])
        assert "<!channel>" not in everything and "&lt;!channel&gt; &amp; payments" in everything
    card = json.dumps(slack.messages(room)[0]["blocks"])
    assert "<@U0DECLARER> joined the war room" in card and "&lt;@" not in card
    assert public_id in card


def test_a_private_incident_is_not_announced(app_env: dict, slack: FakeSlack, db: Engine, tmp_path) -> None:
    from tests.support import AppServer

    config = tmp_path / "incidentbot.yml"
    config.write_text("private_channels: true\n")
    with AppServer({**app_env, "INCIDENTBOT_CONFIG": str(config)}) as server:
        declare(SlackSender(server.url, "test-signing-secret", slack), db)
    room = incidents(db)[0]["channel_id"]
    assert slack.channels[room]["is_private"]
    assert slack.messages(slack.channel_by_name("incidents")["id"]) == []
    assert "war_room.announce: Private incident: not announced" in timeline(db)
