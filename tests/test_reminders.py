"""Overdue status-update reminders: sent once per cadence, by one replica, from state kept only in the database."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text, update

from app.config import TeamConfig
from app.db.base import utcnow
from app.incidents import service
from app.incidents.flows import Declaration, declare
from app.incidents.models import Incident, RoleAssignment, Source, Status
from app.incidents.reminders import claim_reminder, due_reminders, schedule_next_update
from app.runtime import Runtime
from app.slack.reminders import remind_overdue_updates
from tests.conftest import make_runtime, wait_for
from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text

OVERDUE = ("<@U0DECLARER> a status update for {id} is overdue (SEV2 cadence: every 30 min). "
           "Post one with `/incident update <text>`.")


async def declared_with_war_room(runtime: Runtime, title: str = "Payment API returning 500 errors",
                                 severity: str = "SEV2") -> Incident:
    result = await declare(runtime.sessions, runtime.config,
                           Declaration(title=title, severity=severity, declared_by="U0DECLARER", source=Source.SLACK),
                           war_room=runtime.war_room_lease)
    assert runtime.war_room is not None
    await runtime.war_room.set_up(result.incident.id)
    async with runtime.sessions() as session:  # as the war room left it: with its channel
        incident = await service.get_incident_by_id(session, result.incident.id)
    assert incident.channel_id is not None
    return incident


def set_due(db: Engine, incident_id: int, due: datetime | None) -> None:
    """Through the column's type, so SQLite stores the time in the same format the app does."""
    with db.begin() as c:
        c.execute(update(Incident).where(Incident.id == incident_id).values(next_update_due=due))


def row(db: Engine, incident_id: int) -> dict:
    with db.connect() as c:
        return dict(c.execute(text("SELECT * FROM incidents WHERE id = :i"), {"i": incident_id}).one()._mapping)


def by_public_id(db: Engine, public_id: str) -> dict:
    """A fresh connection each time: one held open would keep reading the same SQLite snapshot."""
    with db.connect() as c:
        return dict(c.execute(text("SELECT * FROM incidents WHERE public_id = :p"), {"p": public_id}).one()._mapping)


def reminder_events(db: Engine) -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT text FROM timeline_events WHERE kind = 'reminder' ORDER BY id")))


def reminders_in(slack: FakeSlack, channel: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel) if "is overdue" in m["text"]]


def as_utc(value: datetime | str) -> datetime:
    """What a raw SELECT gives back: a string on SQLite, an aware datetime on Postgres."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def test_the_next_update_is_due_one_cadence_after_now() -> None:
    config = TeamConfig()
    now = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    sev1 = Incident(severity="SEV1", status=Status.INVESTIGATING)
    assert schedule_next_update(sev1, config, now) == now + timedelta(minutes=15) == sev1.next_update_due
    sev2 = Incident(severity="SEV2", status=Status.MONITORING)
    assert schedule_next_update(sev2, config, now) == now + timedelta(minutes=30)
    resolved = Incident(severity="SEV2", status=Status.RESOLVED, next_update_due=now)
    assert schedule_next_update(resolved, config, now) is None and resolved.next_update_due is None
    uncadenced = Incident(severity="SEV2", status=Status.INVESTIGATING)
    assert schedule_next_update(uncadenced, TeamConfig(update_cadence_minutes={}), now) is None


async def test_an_overdue_update_is_reminded_in_the_war_room_once(runtime: Runtime, slack: FakeSlack,
                                                                  db: Engine) -> None:
    incident = await declared_with_war_room(runtime)
    due = as_utc(row(db, incident.id)["next_update_due"])
    assert timedelta(minutes=29) < due - incident.declared_at <= timedelta(minutes=30)  # set at declaration
    assert await remind_overdue_updates(runtime) == 0  # not due yet

    set_due(db, incident.id, utcnow() - timedelta(minutes=1))
    before = utcnow()
    assert await remind_overdue_updates(runtime) == 1
    expected = OVERDUE.format(id=incident.public_id)
    assert reminders_in(slack, incident.channel_id) == [expected]
    assert reminder_events(db) == [expected]
    moved = as_utc(row(db, incident.id)["next_update_due"])
    assert before + timedelta(minutes=30) <= moved <= utcnow() + timedelta(minutes=30)

    assert await remind_overdue_updates(runtime) == 0  # the next one is a cadence away
    assert len(reminders_in(slack, incident.channel_id)) == 1


async def test_communications_is_reminded_rather_than_the_commander(runtime: Runtime, slack: FakeSlack,
                                                                   db: Engine) -> None:
    incident = await declared_with_war_room(runtime, "Search down", "SEV1")
    async with runtime.sessions() as session, session.begin():
        session.add(RoleAssignment(incident_id=incident.id, role="Communications", user_id="U0BOB",
                                   since=utcnow()))
    set_due(db, incident.id, utcnow() - timedelta(seconds=5))
    assert await remind_overdue_updates(runtime) == 1
    [reminder] = reminders_in(slack, incident.channel_id)
    assert reminder.startswith(f"<@U0BOB> a status update for {incident.public_id} is overdue (SEV1 cadence: "
                               "every 15 min)")


async def test_resolved_incidents_and_incidents_without_a_war_room_are_not_reminded(runtime: Runtime,
                                                                                   db: Engine) -> None:
    resolved = await declared_with_war_room(runtime)
    no_room = await declare(runtime.sessions, runtime.config,
                            Declaration(title="CLI-declared", severity="SEV2", declared_by="cli:alice",
                                        source=Source.CLI))
    with db.begin() as c:
        c.execute(text("UPDATE incidents SET status = 'RESOLVED' WHERE id = :i"), {"i": resolved.id})
    past = utcnow() - timedelta(minutes=5)
    set_due(db, resolved.id, past)
    set_due(db, no_room.incident.id, past)
    async with runtime.sessions() as session:
        assert await due_reminders(session, utcnow()) == []
    assert await remind_overdue_updates(runtime) == 0
    assert reminder_events(db) == []


async def test_a_reminder_is_claimed_by_exactly_one_caller(runtime: Runtime, db: Engine) -> None:
    incident = await declared_with_war_room(runtime)
    due = utcnow() - timedelta(minutes=1)
    set_due(db, incident.id, due)
    async with runtime.sessions() as session:
        [loaded] = await due_reminders(session, utcnow())
    expected = loaded.next_update_due
    assert expected is not None
    async with runtime.sessions() as session, session.begin():
        assert await claim_reminder(session, incident.id, expected, expected + timedelta(minutes=30))
    async with runtime.sessions() as session, session.begin():
        assert not await claim_reminder(session, incident.id, expected, expected + timedelta(minutes=30))


async def test_two_replicas_send_one_reminder(runtime: Runtime, database_url: str, slack: FakeSlack,
                                              db: Engine) -> None:
    incident = await declared_with_war_room(runtime)
    other = make_runtime(database_url, slack)  # a second process: its own engine and client
    try:
        for round_ in range(1, 6):
            set_due(db, incident.id, utcnow() - timedelta(seconds=1))
            sent = await asyncio.gather(remind_overdue_updates(runtime), remind_overdue_updates(other))
            assert sorted(sent) == [0, 1]
            assert len(reminders_in(slack, incident.channel_id)) == round_
        assert len(reminder_events(db)) == 5
    finally:
        await other.close()


async def test_two_running_loops_send_one_reminder(runtime: Runtime, database_url: str, slack: FakeSlack,
                                                   db: Engine) -> None:
    incident = await declared_with_war_room(runtime)
    other = make_runtime(database_url, slack)
    loops = [asyncio.create_task(runtime.remind_loop()), asyncio.create_task(other.remind_loop())]
    try:
        # The test's own (blocking) SQLite calls run off the event loop: on it, a wait for the lock would stall
        # the very loops that hold it.
        await asyncio.to_thread(set_due, db, incident.id, utcnow() - timedelta(seconds=1))
        for _ in range(200):
            if reminders_in(slack, incident.channel_id):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # ten more cycles of each loop
        assert len(reminders_in(slack, incident.channel_id)) == 1
        assert len(await asyncio.to_thread(reminder_events, db)) == 1
    finally:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await other.close()


def test_the_schedule_survives_a_restart(app_env: dict[str, str], slack: FakeSlack, db: Engine) -> None:
    env = {**app_env, "INCIDENTBOT_REMINDER_CHECK_SECONDS": "0.1"}
    with AppServer(env) as first:
        sender = SlackSender(first.url, "test-signing-secret", slack)
        public_id = ack_text(sender.command("declare SEV2 Payment API returning 500 errors")).split("*")[1]
        wait_for(lambda: by_public_id(db, public_id)["setup_state"] == "done", what="war room")
        incident_id, room = by_public_id(db, public_id)["id"], by_public_id(db, public_id)["channel_id"]
    # Nothing runs now; the overdue update is only a row in the database.
    set_due(db, incident_id, utcnow() - timedelta(minutes=2))
    assert reminders_in(slack, room) == []

    with AppServer(env):
        wait_for(lambda: reminders_in(slack, room), what="reminder after the restart")
        assert reminders_in(slack, room) == [OVERDUE.format(id=public_id)]
    assert reminder_events(db) == [OVERDUE.format(id=public_id)]


async def test_a_loop_stops_when_cancelled_even_if_a_library_turns_the_cancel_into_its_own_error(
        runtime: Runtime) -> None:
    """aiohttp and database drivers can answer a cancellation with an error of their own (a closed connection); a
    periodic loop that took that for a failed round would keep the process from ever shutting down."""
    started = asyncio.Event()

    async def a_call_that_hides_its_cancellation() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise ConnectionResetError("connection closed while cancelled") from None

    loop = asyncio.create_task(runtime._every(0.01, "calls", a_call_that_hides_its_cancellation))
    await asyncio.wait_for(started.wait(), 5)
    loop.cancel()
    done, _ = await asyncio.wait({loop}, timeout=5)
    assert done == {loop} and loop.cancelled()
