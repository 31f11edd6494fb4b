"""The escalation clock on SQLite and Postgres: levels fire on time and once, acknowledgements pause the chain,
resolving cancels it, and PagerDuty faults keep the page until it is delivered. Time is the tests' clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text

from app.db.base import utcnow
from app.escalations import flows
from app.escalations import service as escalations
from app.escalations.models import EscalationNotification
from app.incidents import lifecycle
from app.incidents import service as incidents
from app.incidents.flows import Declaration, declare
from app.incidents.lifecycle import Actor
from app.incidents.models import Incident, Source
from app.runtime import Runtime
from tests.escalation_support import Clock, add_people, paging_runtime, write_config
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack

IC = Actor("U0DECLARER", Source.SLACK)


async def declared(runtime: Runtime, severity: str = "SEV2", title: str = "Payment API returning 500 errors",
                   war_room: bool = True) -> Incident:
    result = await declare(runtime.sessions, runtime.config,
                           Declaration(title=title, severity=severity, declared_by="U0DECLARER", source=Source.SLACK),
                           war_room=runtime.war_room_lease if war_room else None)
    if war_room:
        assert runtime.war_room is not None
        await runtime.war_room.set_up(result.incident.id)
    async with runtime.sessions() as session:
        return await incidents.get_incident_by_id(session, result.incident.id)


def steps(db: Engine, incident_id: int) -> dict[str, tuple[str, str | None]]:
    with db.connect() as c:
        rows = c.execute(text("SELECT name, state, reason FROM escalation_steps WHERE incident_id = :i"),
                         {"i": incident_id})
        return {name: (state, reason) for name, state, reason in rows}


def timeline(db: Engine, incident_id: int, prefix: str = "escalation") -> list[str]:
    with db.connect() as c:
        return list(c.scalars(text("SELECT text FROM timeline_events WHERE incident_id = :i AND kind LIKE :k "
                                   "ORDER BY id"), {"i": incident_id, "k": f"{prefix}%"}))


def room_lines(slack: FakeSlack, channel: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel)]


def dms(slack: FakeSlack, user: str) -> list[dict]:
    return slack.direct_messages(user)


async def test_levels_fire_at_their_thresholds_once_and_say_who_was_told(
        database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path, db: Engine) -> None:
    add_people(slack)
    clock = Clock()
    runtime = paging_runtime(database_url, slack, pagerduty, write_config(tmp_path), clock)
    try:
        incident = await declared(runtime)
        clock.now = incident.declared_at
        assert (await runtime.escalations.run_once())[0] == 1
        [trigger] = pagerduty.triggers()
        assert trigger["dedup_key"] == incident.public_id
        assert trigger["payload"]["severity"] == "error" and incident.public_id in trigger["payload"]["summary"]
        assert steps(db, incident.id)["L1"][0] == "fired" and steps(db, incident.id)["L2"][0] == "pending"
        assert "PagerDuty paged Alice Oncall for L1 On-Call Engineer" in timeline(db, incident.id)

        clock.advance(minutes=14, seconds=59)
        assert (await runtime.escalations.run_once())[0] == 0  # not yet
        clock.advance(seconds=1)
        assert (await runtime.escalations.run_once())[0] == 1
        [dm] = dms(slack, "U0LEAD")
        assert incident.public_id in dm["text"] and "Team Lead" in dm["text"]
        button = dm["blocks"][1]["elements"][0]
        assert button["text"]["text"] == "Acknowledge" and button["action_id"] == "escalation_acknowledge"
        assert "L2 Team Lead escalated (15m threshold)" in timeline(db, incident.id)
        assert any("L2 Team Lead escalated (15m threshold)" in line for line in room_lines(slack, incident.channel_id))

        clock.advance(minutes=15)
        await runtime.escalations.run_once()
        assert len(dms(slack, "U0EM")) == 1
        assert "Customer Success" not in steps(db, incident.id)  # SEV1 only
        clock.advance(minutes=30)
        await runtime.escalations.run_once()
        assert steps(db, incident.id)["L4"] == ("skipped", "no revenue impact recorded")
        assert dms(slack, "U0VP") == []
        for _ in range(3):  # nothing fires twice
            await runtime.escalations.run_once()
        assert len(pagerduty.triggers()) == 1 and len(dms(slack, "U0LEAD")) == 1 and len(dms(slack, "U0EM")) == 1
    finally:
        await runtime.close()


async def test_acknowledging_the_current_level_pauses_and_resolving_cancels(
        database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path, db: Engine) -> None:
    add_people(slack)
    clock = Clock()
    runtime = paging_runtime(database_url, slack, pagerduty, write_config(tmp_path), clock)
    try:
        incident = await declared(runtime)
        clock.now = incident.declared_at + timedelta(minutes=15)
        await runtime.escalations.run_once()  # L1 and L2
        async with runtime.sessions() as session, session.begin():
            lead = await session.scalar(select(EscalationNotification).where(
                EscalationNotification.slack_user == "U0LEAD"))
            stored = await incidents.get_incident_by_id(session, incident.id, lock=True)
            assert await escalations.acknowledge(session, stored, lead, via="slack", now=clock())
        assert steps(db, incident.id)["L3"][0] == "paused"
        clock.advance(hours=2)
        assert (await runtime.escalations.run_once())[0] == 0  # paused: nothing more
        assert dms(slack, "U0EM") == []
        assert ("acknowledge", incident.public_id) in pagerduty.actions()  # the PagerDuty alert too

        # Resuming counts from now: L3 is 15 minutes after L2.
        async with runtime.sessions() as session, session.begin():
            stored = await incidents.get_incident_by_id(session, incident.id, lock=True)
            assert await escalations.resume(session, stored, clock(), "test")
        clock.advance(minutes=15)
        assert (await runtime.escalations.run_once())[0] == 1 and len(dms(slack, "U0EM")) == 1

        async with runtime.sessions() as session, session.begin():
            stored = await incidents.get_incident_by_id(session, incident.id, lock=True)
            await lifecycle.resolve(session, stored, "fixed", IC, clock())
        assert steps(db, incident.id)["L4"][0] == "cancelled"
        clock.advance(hours=3)
        await runtime.escalations.run_once()
        assert dms(slack, "U0VP") == [] and ("resolve", incident.public_id) in pagerduty.actions()
    finally:
        await runtime.close()


async def test_escalating_by_hand_raises_severity_and_reaches_the_named_role(
        database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path, db: Engine) -> None:
    add_people(slack)
    clock = Clock()
    runtime = paging_runtime(database_url, slack, pagerduty, write_config(tmp_path), clock)
    try:
        incident = await declared(runtime)
        done = await flows.escalate(runtime.sessions, runtime.config, incident.id, actor=IC, severity="SEV1",
                                    reason="revenue impact growing, need VP Engineering")
        assert [s.name for s in done.notified] == ["L1", "L2", "L3", "L4"] and done.previous_severity == "SEV2"
        clock.now = done.notified[-1].fired_at
        await runtime.escalations.run_once()
        assert len(dms(slack, "U0VP")) == 1 and len(pagerduty.triggers()) == 1
        assert "Customer Success" in steps(db, incident.id)  # SEV1 brought the stakeholder in
        with db.connect() as c:
            assert c.scalar(text("SELECT severity FROM incidents WHERE id = :i"), {"i": incident.id}) == "SEV1"
        # De-escalating holds what is left (nothing), and says so.
        await flows.deescalate(runtime.sessions, runtime.config, incident.id, actor=IC, severity="SEV2",
                               reason="mitigated")
        assert steps(db, incident.id)["Customer Success"][0] == "cancelled"
        assert any(t.startswith("De-escalated to SEV2 by <@U0DECLARER>: mitigated") for t in timeline(db, incident.id))
    finally:
        await runtime.close()


async def test_pagerduty_rate_limiting_and_outage_delay_the_page_but_lose_nothing(
        database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path, db: Engine) -> None:
    clock = Clock()
    runtime = paging_runtime(database_url, slack, pagerduty, write_config(tmp_path), clock)
    try:
        # 3 answers per delivery (the client's quick retries): two rounds of 429s, then 503s, then it works.
        pagerduty.fail_next(429, "", times=6)
        pagerduty.fail_next(503, {"status": "unavailable"}, times=2)
        incident = await declared(runtime)
        clock.now = incident.declared_at
        for _ in range(6):
            await runtime.escalations.run_once()
            clock.advance(minutes=5)
        assert len(pagerduty.triggers()) == 1
        lines = room_lines(slack, incident.channel_id)
        delayed = [t for t in lines if t.startswith(":hourglass: Paging is delayed")]
        assert len(delayed) == 1 and "the page for L1 On-Call Engineer" in delayed[0] and "429" in delayed[0]
        assert any("went through after" in t for t in lines)
        with db.connect() as c:
            state, attempts = c.execute(text(
                "SELECT state, attempts FROM escalation_outbox WHERE kind = 'pagerduty.page'")).one()
        assert state == "delivered" and attempts >= 3
    finally:
        await runtime.close()


async def test_a_wrong_routing_key_is_said_in_the_war_room_and_the_page_kept(
        database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path, db: Engine) -> None:
    clock = Clock()
    config = write_config(tmp_path)
    wrong = paging_runtime(database_url, slack, pagerduty, config, clock, PAGERDUTY_ROUTING_KEY="wrong-key")
    try:
        incident = await declared(wrong)
        clock.now = incident.declared_at
        await wrong.escalations.run_once()
        assert pagerduty.triggers() == []
        [refused] = [t for t in room_lines(slack, incident.channel_id) if "PagerDuty refused" in t]
        assert "Invalid routing key" in refused and "Nothing is lost" in refused
    finally:
        await wrong.close()
    fixed = paging_runtime(database_url, slack, pagerduty, config, clock)  # restarted with the right key
    try:
        clock.advance(minutes=10)
        await fixed.escalations.run_once()
        assert [t["dedup_key"] for t in pagerduty.triggers()] == [incident.public_id]
    finally:
        await fixed.close()


async def test_a_refused_api_key_costs_the_name_not_the_page(
        database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path, db: Engine) -> None:
    clock = Clock()
    runtime = paging_runtime(database_url, slack, pagerduty, write_config(tmp_path), clock,
                             PAGERDUTY_API_KEY="not-the-key")
    try:
        incident = await declared(runtime)
        clock.now = incident.declared_at
        await runtime.escalations.run_once()
        assert len(pagerduty.triggers()) == 1
        assert "PagerDuty paged whoever is on call for L1 On-Call Engineer" in timeline(db, incident.id)
        [said] = [t for t in room_lines(slack, incident.channel_id) if "Could not see who is on call" in t]
        assert "refused the credentials (401" in said
    finally:
        await runtime.close()


async def test_two_processes_on_one_database_fire_each_step_once(
        database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path, db: Engine) -> None:
    config = write_config(tmp_path)
    clock = Clock()
    first = paging_runtime(database_url, slack, pagerduty, config, clock)
    second = paging_runtime(database_url, slack, pagerduty, config, clock)
    try:
        ids = [(await declared(first, title=f"Outage {n}", war_room=False)).public_id for n in range(40)]
        clock.now = utcnow()
        await asyncio.gather(first.escalations.run_once(), second.escalations.run_once())
        await asyncio.gather(first.escalations.run_once(), second.escalations.run_once())
        assert sorted(t["dedup_key"] for t in pagerduty.triggers()) == sorted(ids)
        with db.connect() as c:
            assert c.scalar(text("SELECT count(*) FROM escalation_steps WHERE state = 'fired'")) == 40
            assert c.scalar(text("SELECT count(*) FROM escalation_notifications")) == 40
    finally:
        await first.close()
        await second.close()
