"""War-room set-up under Slack faults: passing failures are retried until they go through, refusals are
reported once, and an announcement cut short by a dead process is made exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, text

from app.config import TeamConfig
from app.db.engine import create_db_engine, session_factory
from app.incidents.flows import Declaration, declare
from app.incidents.models import Source
from app.incidents.service import WarRoomLease
from app.slack.warroom import SlackRooms
from app.warroom.flows import WarRoom
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text, free_socket, serve

# Retries and sweeps a few times a second, so a storm of a few seconds is several rounds of retries.
QUICK = {"INCIDENTBOT_SETUP_RETRY_SECONDS": "0.2", "INCIDENTBOT_SETUP_SWEEP_SECONDS": "0.2",
         "INCIDENTBOT_SETUP_LEASE_SECONDS": "2"}
POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def set_up_states(db: Engine) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT setup_state FROM incidents ORDER BY id")))


def events(db: Engine, kind: str) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT text FROM timeline_events WHERE kind = :k ORDER BY id"), {"k": kind}))


def step_rows(db: Engine) -> list[dict]:
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(text("SELECT * FROM war_room_steps ORDER BY incident_id"))]


def declared_id(sender: SlackSender, title: str) -> str:
    return ack_text(sender.command(f"declare SEV2 {title}")).split("*")[1]


@POSTGRES
@pytest.mark.parametrize("status", [429, 503])
def test_declares_during_a_slack_storm_all_get_their_war_room_once_it_ends(
    app_env: dict[str, str], slack: FakeSlack, db: Engine, status: int
) -> None:
    titles = [f"Checkout errors in region {n}" for n in range(6)]
    with AppServer({**app_env, **QUICK}) as server:
        sender = SlackSender(server.url, "test-signing-secret", slack)
        ack_text(sender.command("help"))  # a service already answering commands when the storm starts
        slack.storm(6, status=status)
        ids = [declared_id(sender, title) for title in titles]
        # Four set-ups run at once; each gives up on the channel within the storm and waits to retry.
        wait_for(lambda: len(events(db, "war_room.retrying")) >= 4, what="set-ups waiting for Slack")
        assert slack.channel_ids() == [slack.channel_by_name("incidents")["id"]]  # nothing made in the storm
        wait_for(lambda: set_up_states(db) == ["done"] * 6, timeout=60, what="every war room after the storm")

    rooms = [c for c in slack.channels.values() if c["name"].startswith("inc-")]
    assert sorted(r["purpose"].split(":")[0] for r in rooms) == sorted(ids)  # one room each, none twice
    for room in rooms:
        [card] = slack.messages(room["id"])
        assert slack.pins[room["id"]] == [card["ts"]] and "U0DECLARER" in room["members"]
    announcements = slack.messages(slack.channel_by_name("incidents")["id"])
    assert sorted(m["metadata"]["event_payload"]["incident_id"] for m in announcements) == sorted(ids)
    assert {r["state"] for r in step_rows(db)} == {"done"}
    assert events(db, "war_room.failed") == []
    # The declarer hears of each room once it is ready: in the reply, or by DM when it was retried later.
    told = [m["text"] for m in slack.responses + slack.direct_messages("U0DECLARER")]
    assert all(any(f"War room for {public_id} is ready" in t for t in told) for public_id in ids)


@POSTGRES
def test_a_refusal_after_a_storm_is_reported_once_and_not_retried(
    app_env: dict[str, str], slack: FakeSlack, db: Engine
) -> None:
    with AppServer({**app_env, **QUICK}) as server:
        sender = SlackSender(server.url, "test-signing-secret", slack)
        slack.server_error("conversations.create", 503, times=3)  # more than the client retries in the call
        slack.fail("pins.add", "missing_scope")
        public_id = declared_id(sender, "Search index stale")
        [first] = wait_for(lambda: [r["text"] for r in slack.responses if public_id in r["text"]],
                           what="the declarer's report")
        assert "retried until they go through" in first and "create the war-room channel (http_503)" in first
        wait_for(lambda: set_up_states(db) == ["done"], timeout=30, what="the set-up to finish")
        time.sleep(1.0)  # five more sweeps: the refused pin is not tried again

    assert len(slack.calls_to("pins.add")) == 1
    [refused] = events(db, "war_room.failed")
    assert refused.startswith("Could not pin the declaration card (missing_scope: the Slack app lacks a permission")
    told = [m["text"] for m in slack.direct_messages("U0DECLARER")]
    assert len(told) == 1 and public_id in told[0] and "Could not pin the declaration card (missing_scope" in told[0]
    assert {r["step"]: r["state"] for r in step_rows(db)}["pin_card"] == "failed"
    assert "war_room.announce" in _kinds(db)


def _kinds(db: Engine) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT kind FROM timeline_events ORDER BY id")))


@POSTGRES
@pytest.mark.parametrize("landed", [True, False], ids=["post-landed", "post-lost"])
def test_killed_while_announcing_the_incident_is_announced_exactly_once(
    app_env: dict[str, str], slack: FakeSlack, db: Engine, landed: bool
) -> None:
    # The app is not yet a member of the announcement channel, so its history is closed to the app until it
    # joins; a reconciliation that reads it without joining finds nothing and posts again.
    announce_id = slack.add_channel("announcements", bot_is_member=False)
    env = {**app_env, **QUICK, "INCIDENT_ANNOUNCE_CHANNEL": "announcements", "INCIDENTBOT_SETUP_LEASE_SECONDS": "1"}
    slack.hang("pins.add")
    with serve(env) as first:
        sender = SlackSender(first.url, "test-signing-secret", slack)  # type: ignore[attr-defined]
        public_id = declared_id(sender, "Payments failing")
        wait_for(lambda: slack.calls_to("pins.add"), what="set-up to reach the pin")
        slack.hang("chat.postMessage")
        slack.release("pins.add")
        wait_for(lambda: [c for c in slack.calls_to("chat.postMessage") if c.get("channel") == announce_id],
                 what="the announcement in flight")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    if not landed:
        slack.fail("chat.postMessage", "internal_error")  # the held post answers this, and posts nothing
    slack.release("chat.postMessage")
    if landed:  # Slack made the post; the app died before it heard back
        wait_for(lambda: slack.messages(announce_id), what="the held post to land")
    else:
        time.sleep(0.5)
        assert slack.messages(announce_id) == []

    with serve(env):
        wait_for(lambda: set_up_states(db) == ["done"], timeout=30, what="the resumed set-up")

    [announcement] = slack.messages(announce_id)
    assert announcement["metadata"]["event_payload"]["incident_id"] == public_id
    with db.connect() as c:
        stored = c.execute(text("SELECT announcement_channel_id, announcement_ts FROM incidents")).one()
    assert tuple(stored) == (announce_id, announcement["ts"])
    assert len(events(db, "war_room.announce")) == 1


@pytest.fixture
async def impatient_war_room(database_url: str, slack: FakeSlack) -> AsyncIterator[WarRoom]:
    """A process whose Slack client gives up on a call after half a second (the service's waits ten)."""
    engine = create_db_engine(database_url)
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.url, timeout=0.5)
    yield WarRoom(session_factory(engine), SlackRooms(client, TeamConfig(), "incidents"),
                  retry=timedelta(0))
    await engine.dispose()


async def _declared(war_room: WarRoom) -> int:
    rooms = war_room.rooms
    assert isinstance(rooms, SlackRooms)
    declared = await declare(war_room.sessions, rooms.config,
                             Declaration(title="Disk full on db-1", severity="SEV3", declared_by="U0DECLARER",
                                         source=Source.SLACK),
                             war_room=WarRoomLease(war_room.owner, war_room.lease))
    return declared.incident.id


@POSTGRES
async def test_a_timed_out_channel_create_that_happened_is_adopted_on_the_retry(
    impatient_war_room: WarRoom, slack: FakeSlack, db: Engine
) -> None:
    slack.delay("conversations.create", 1.0)  # Slack makes the channel, but answers after the client gave up
    incident_id = await _declared(impatient_war_room)
    reports = await impatient_war_room.set_up(incident_id)
    assert reports is not None
    states = {r.step: r.state for r in reports}
    assert states["create_channel"] == "retrying" and states["announce"] == "pending"
    assert "Slack unreachable (TimeoutError)" in events(db, "war_room.retrying")[0]
    assert set_up_states(db) == ["pending"]
    slack.delay("conversations.create", 0)
    await asyncio.sleep(1.0)  # the first call lands in the fake meanwhile

    assert await impatient_war_room.resume_pending() == 1
    assert set_up_states(db) == ["done"]
    [room] = [c for c in slack.channels.values() if c["name"].startswith("inc-")]
    assert not room["name"].endswith("-2")  # adopted, not made again under the next free name
    assert len(slack.calls_to("conversations.create")) == 1


@POSTGRES
async def test_an_unreachable_slack_leaves_the_set_up_pending_and_lets_go_until_the_retry(
    database_url: str, slack: FakeSlack, db: Engine
) -> None:
    dead = free_socket()  # bound, never listening: connections are refused
    engine = create_db_engine(database_url)
    client = AsyncWebClient(token=slack.bot_token, base_url=f"http://127.0.0.1:{dead.getsockname()[1]}/api/")
    war_room = WarRoom(session_factory(engine), SlackRooms(client, TeamConfig(), "incidents"),
                       retry=timedelta(minutes=1))
    try:
        incident_id = await _declared(war_room)
        reports = await war_room.set_up(incident_id)
        assert reports is not None and {r.state for r in reports} == {"retrying", "pending"}
        with db.connect() as c:
            owner, until = c.execute(text("SELECT setup_owner, setup_lease_until FROM incidents")).one()
        assert owner is None and until is not None  # free for any process's sweep once the retry is due
        assert await war_room.resume_pending() == 0  # not yet due
        assert "Slack unreachable (ClientConnectorError)" in events(db, "war_room.retrying")[0]
    finally:
        dead.close()
        await engine.dispose()


@POSTGRES
def test_a_cli_declare_during_an_outage_is_finished_by_the_service(
    app_env: dict[str, str], slack: FakeSlack, db: Engine
) -> None:
    from tests.test_cli import run

    slack.server_error("conversations.create", 503, times=3)  # as many as the CLI's client tries in one call
    declared = run("declare", "-s", "SEV2", "--by", "U0DECLARER", "Checkout latency", env={**app_env, **QUICK})
    assert declared.returncode == 0, declared.stderr
    assert "warning: Not yet: could not create the war-room channel (http_503); retrying automatically" in (
        declared.stdout)
    assert set_up_states(db) == ["pending"]

    with AppServer({**app_env, **QUICK}):
        wait_for(lambda: set_up_states(db) == ["done"], timeout=30, what="the service to finish the war room")
    [room] = [c for c in slack.channels.values() if c["name"].startswith("inc-")]
    assert "U0DECLARER" in room["members"] and len(slack.messages(room["id"])) == 1
    assert len(slack.messages(slack.channel_by_name("incidents")["id"])) == 1
