"""War-room set-up survives a dead process: the next start finishes it and repeats nothing."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from app.config import TeamConfig
from app.db.engine import create_db_engine, session_factory
from app.incidents.flows import Declaration, declare
from app.incidents.models import Source
from app.incidents.service import WarRoomLease
from app.settings import Settings
from app.slack.client import create_client
from app.slack.warroom import SlackRooms
from app.warroom.flows import WarRoom
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender, ack_text, serve


def test_killed_after_the_ack_the_next_start_finishes_the_war_room(app_env: dict[str, str], slack: FakeSlack,
                                                                   db: Engine) -> None:
    env = {**app_env, "INCIDENTBOT_SETUP_LEASE_SECONDS": "1", "INCIDENTBOT_SETUP_SWEEP_SECONDS": "0.3"}
    slack.hang("conversations.setPurpose")
    with serve(env) as first:
        sender = SlackSender(first.url, "test-signing-secret", slack)  # type: ignore[attr-defined]
        public_id = ack_text(sender.command("declare SEV2 Checkout latency above 5s")).split("*")[1]
        wait_for(lambda: slack.calls_to("conversations.setPurpose"), what="set-up to reach the purpose step")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    slack.release("conversations.setPurpose")

    with serve(env):
        wait_for(lambda: _setup_state(db, public_id) == "done", what="resumed set-up")

    assert len(slack.calls_to("conversations.create")) == 1
    assert len(slack.calls_to("conversations.invite")) == 1
    channel = slack.channel_by_name(_incident(db, public_id)["channel_name"])
    assert channel["purpose"] == f"{public_id}: Checkout latency above 5s"
    assert len(slack.messages(channel["id"])) == 1
    assert len(slack.messages(slack.channel_by_name("incidents")["id"])) == 1
    with db.connect() as c:
        kinds = c.scalars(text("SELECT kind FROM timeline_events ORDER BY id")).all()
    assert len(kinds) == len(set(kinds)) == 8


def _incident(db: Engine, public_id: str) -> dict:
    with db.connect() as c:
        return dict(c.execute(text("SELECT * FROM incidents WHERE public_id = :p"), {"p": public_id}).one()._mapping)


def _setup_state(db: Engine, public_id: str) -> str:
    return str(_incident(db, public_id)["setup_state"])


@pytest.fixture
async def war_room(database_url: str, slack: FakeSlack) -> Iterator[WarRoom]:
    engine = create_db_engine(database_url)
    settings = Settings(slack_bot_token=slack.bot_token, slack_signing_secret="s", slack_api_url=slack.url)
    yield WarRoom(session_factory(engine), SlackRooms(create_client(settings), TeamConfig(), "incidents"),
                  lease=timedelta(seconds=0))
    await engine.dispose()


async def _declared_with_step_started(war_room: WarRoom, db: Engine, step: str) -> int:
    declared = await declare(war_room.sessions, war_room.rooms.config,
                             Declaration(title="Disk full on db-1", severity="SEV3", declared_by="U0DECLARER",
                                         source=Source.SLACK),
                             war_room=WarRoomLease("a-dead-process", timedelta(0)))
    with db.begin() as c:
        c.execute(text("INSERT INTO war_room_steps (incident_id, step, state, updated_at) "
                       "VALUES (:i, :s, 'started', CURRENT_TIMESTAMP)"), {"i": declared.incident.id, "s": step})
    return declared.incident.id


async def test_a_channel_created_just_before_a_crash_is_adopted_not_created_again(
    war_room: WarRoom, slack: FakeSlack, db: Engine
) -> None:
    incident_id = await _declared_with_step_started(war_room, db, "create_channel")
    public_id = _public_id(db, incident_id)
    # What the dead process managed: Slack made the channel, the database never heard.
    created = await war_room.rooms.client.conversations_create(name=public_id.lower() + "-disk-full-on-db-1")
    assert await war_room.resume_pending() == 1
    assert len(slack.calls_to("conversations.create")) == 1
    assert _incident(db, public_id)["channel_id"] == created["channel"]["id"]


async def test_a_card_posted_just_before_a_crash_is_not_posted_twice(
    war_room: WarRoom, slack: FakeSlack, db: Engine
) -> None:
    first = await war_room.rooms.client.conversations_create(name="inc-scratch")
    incident_id = await _declared_with_step_started(war_room, db, "post_card")
    public_id = _public_id(db, incident_id)
    channel_id = first["channel"]["id"]
    with db.begin() as c:
        c.execute(text("UPDATE incidents SET channel_id = :c WHERE id = :i"), {"c": channel_id, "i": incident_id})
        for step in ("create_channel", "invite_declarer", "set_topic", "set_purpose"):
            c.execute(text("INSERT INTO war_room_steps (incident_id, step, state, updated_at) "
                           "VALUES (:i, :s, 'done', CURRENT_TIMESTAMP)"), {"i": incident_id, "s": step})
    posted = await war_room.rooms.client.chat_postMessage(
        channel=channel_id, text="card",
        metadata={"event_type": "incident_card", "event_payload": {"incident_id": public_id}},
    )
    await war_room.resume_pending()
    assert len(slack.messages(channel_id)) == 1
    assert _incident(db, public_id)["card_ts"] == posted["ts"]
    assert slack.pins[channel_id] == [posted["ts"]]


def _public_id(db: Engine, incident_id: int) -> str:
    with db.connect() as c:
        return str(c.scalar(text("SELECT public_id FROM incidents WHERE id = :i"), {"i": incident_id}))


async def test_a_set_up_that_lost_its_lease_stops_without_repeating_work(
    war_room: WarRoom, slack: FakeSlack, db: Engine
) -> None:
    declared = await declare(war_room.sessions, war_room.rooms.config,
                             Declaration(title="Queue backlog", severity="SEV3", declared_by="U0DECLARER",
                                         source=Source.SLACK),
                             war_room=WarRoomLease(war_room.owner, timedelta(minutes=2)))
    slack.hang("conversations.setPurpose")
    running = asyncio.create_task(war_room.set_up(declared.incident.id))
    async with asyncio.timeout(15):  # the set-up reaches the hung call, or the test fails here saying so
        while not slack.calls_to("conversations.setPurpose"):
            await asyncio.sleep(0.01)
    with db.begin() as c:  # meanwhile another replica decided this one was dead and took over
        c.execute(text("UPDATE incidents SET setup_owner = 'another-replica' WHERE id = :i"),
                  {"i": declared.incident.id})
    slack.release("conversations.setPurpose")
    assert await running is None
    assert slack.calls_to("chat.postMessage") == []
    with db.connect() as c:
        steps = dict(c.execute(text("SELECT step, state FROM war_room_steps")).all())
    assert "set_purpose" not in steps and steps["create_channel"] == "done"
