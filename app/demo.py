"""`incidentbot demo`: the seed's Payment API incident of December 20, 2024, replayed end to end.

It runs on a throwaway SQLite file, with no Slack workspace, no LLM key and no telemetry, through the same
domain code and agents the service uses, and prints what each step would post in Slack, as Markdown.

The domain stamps every change with the wall clock; the demo gives each step its time in the story instead
(passing it as `now`, or moving what was stamped right after the step), so the incident reads as it happened,
14:15 - 15:15 UTC, and the agents reason over that record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from agents import runtime as agents
from agents.base import AgentAnswer
from app.action_items import service as action_items
from app.action_items.models import ActionItem, Priority
from app.db import migrate
from app.db.base import utcnow
from app.incidents import lifecycle, service
from app.incidents.card import build_card
from app.incidents.flows import Declaration, declare
from app.incidents.lifecycle import Actor
from app.incidents.models import Incident, RoleAssignment, Source, Status, TimelineEvent
from app.incidents.reminders import schedule_next_update
from app.incidents.render import card_markdown, plain
from app.runtime import Runtime
from app.settings import Settings

T = TypeVar("T")
Echo = Callable[[str], None]
Change = Callable[[AsyncSession, Incident], Awaitable[T]]


def _at(clock: str) -> datetime:
    hour, minute = clock.split(":")
    return datetime(2024, 12, 20, int(hour), int(minute), tzinfo=UTC)


# The story's clock (UTC, December 20, 2024): when each step happens. The seed's facts before the declaration
# (flag enabled 14:15, pool climbing 14:20, first timeouts 14:25) reach the record through the responders' notes.
DECLARED = _at("14:30")         # PaymentAPI5xxRate fires, the pool is at 95%: SEV2 declared
ROLES = _at("14:31")
NOTES = _at("14:32")
DECISION = _at("14:33")
FIRST_UPDATE = _at("14:34")
ALL_FAILING = _at("14:35")      # the pool is exhausted and every request fails: SEV1
STATUS_ASKED = _at("14:37")
RCA_ASKED = _at("14:40")
FLAG_DISABLED = _at("14:45")
RECOVERING = _at("14:50")       # connections begin releasing
RESOLVED = _at("15:15")         # full recovery confirmed
FOLLOW_UPS = _at("15:20")
POSTMORTEM_ASKED = _at("15:30")

LEAK_FIX_DUE, LOAD_TEST_DUE = date(2024, 12, 21), date(2024, 12, 22)
COMMANDER, COMMS, SCRIBE, EXPERT = "U0ALICE", "U0BOB", "U0DAVE", "U0CAROL"
TITLE = "Payment API returning 500 errors"
STEPS = 8
RULE = "=" * 100


@dataclasses.dataclass
class Demo:
    """One run: the runtime on the throwaway store, the incident, and where the output goes."""

    runtime: Runtime
    echo: Echo
    started: datetime  # anything stamped at or after this was stamped by the wall clock, not the story
    incident_id: int = 0
    public_id: str = ""

    def step(self, number: int, at: datetime, heading: str, explanation: str) -> None:
        self.echo(f"\n{RULE}\nStep {number}/{STEPS} - {at:%H:%M} UTC - {heading}\n{explanation}\n{RULE}\n")

    async def change(self, work: Change[T]) -> T:
        """Apply one change to the locked incident in its own transaction, as the Slack commands do."""
        async with self.runtime.sessions() as session, session.begin():
            incident = await service.get_incident_by_id(session, self.incident_id, lock=True)
            return await work(session, incident)

    async def replay(self, at: datetime) -> None:
        """Move what the domain stamped with the wall clock during this step to its time in the story."""
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(update(TimelineEvent).where(
                TimelineEvent.incident_id == self.incident_id, TimelineEvent.occurred_at >= self.started)
                .values(occurred_at=at))
            await session.execute(update(RoleAssignment).where(
                RoleAssignment.incident_id == self.incident_id, RoleAssignment.since >= self.started)
                .values(since=at))
            await session.execute(update(ActionItem).where(
                ActionItem.incident_id == self.incident_id, ActionItem.created_at >= self.started)
                .values(created_at=at))

    async def card(self) -> str:
        async with self.runtime.sessions() as session:
            incident = await service.get_incident_by_id(session, self.incident_id)
        announce = self.runtime.settings.incident_announce_channel
        return card_markdown(build_card(incident, self.runtime.config, announce))

    async def ask(self, agent: str, prompt: str, at: datetime) -> AgentAnswer:
        """Run an agent as `@incidentbot` would in the war room, with the story's time as its `now`."""
        request = await agents.load(self.runtime, prompt, incident_id=self.public_id)
        answer = await agents.run(self.runtime, agent, dataclasses.replace(request, now=at), author=COMMANDER)
        await self.replay(at)
        return answer


def demo_settings(database_url: str) -> Settings:
    """Slack, LLM and telemetry off whatever the environment or `.env` says: the demo is deterministic."""
    return Settings(
        database_url=database_url, _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=None, slack_signing_secret=None, slack_app_token=None, incidentbot_config=None,
        anthropic_api_key=None, prometheus_url=None, grafana_url=None, grafana_token=None, loki_url=None,
        datadog_api_key=None, datadog_app_key=None, kubeconfig=None,
    )


def _said(user: str, text: str) -> str:
    """A note as Markdown: the store keeps Slack mentions (<@U123>), a reader sees @U123."""
    return f"- **@{user}**: {plain(text)}"


# --- the steps ---------------------------------------------------------------------------------------------------

async def declare_incident(demo: Demo) -> None:
    demo.step(1, DECLARED, "Declare the incident",
              f"On-call @{COMMANDER} runs `/incident declare` as PaymentAPI5xxRate fires. Slack would open the "
              "war room and post this card there and in #incidents.")
    runtime = demo.runtime
    declared = await declare(runtime.sessions, runtime.config, Declaration(
        title=TITLE, severity="SEV2", affected_service="payment-api", source=Source.SLACK, declared_by=COMMANDER,
        description="PaymentAPI5xxRate alert fired at 14:30: checkout requests to payment-api fail with 500s.",
    ))
    demo.incident_id = declared.incident.id
    demo.public_id = await demo.change(lambda session, incident: _on_the_day(demo, incident))
    await demo.replay(DECLARED)
    demo.echo(await demo.card())


async def _on_the_day(demo: Demo, incident: Incident) -> str:
    """Date the declaration December 20 at 14:30 (so numbered as that day's first incident), with its impact."""
    incident.declared_at, incident.day, incident.seq = DECLARED, DECLARED.strftime("%Y%m%d"), 1
    incident.public_id = service.format_public_id(incident.day, incident.seq)
    schedule_next_update(incident, demo.runtime.config, DECLARED)
    # No declaration field or command records the impact figures yet, so they are set on the row directly.
    incident.user_impact = "15% checkout failure rate"
    incident.customers_affected = 12000
    incident.revenue_impact = "$45,000 estimated"
    return incident.public_id


async def assign_roles_and_take_notes(demo: Demo) -> None:
    demo.step(2, ROLES, "Assign roles, take notes",
              "`/incident assign <role> @user` and `/incident note <text>`: each one lands on the timeline.")
    config, actor = demo.runtime.config, Actor(COMMANDER, Source.SLACK)
    for name, user in (("Communications", COMMS), ("Scribe", SCRIBE), ("Subject Expert", EXPERT)):
        role = config.role(name)
        assert role is not None, f"the default team config has a {name} role"
        await demo.change(lambda s, i, role=role, user=user: lifecycle.assign_role(s, i, role, user, actor, ROLES))
        demo.echo(f"- @{user} is now **{role.name}**")
    notes = [
        (EXPERT, NOTES, "Feature flag async-payment-processing enabled for 100% of traffic at 14:15"),
        (EXPERT, NOTES, "Connection pool usage climbing since 14:20 (50% -> 70%); first timeout errors at 14:25"),
        (SCRIBE, NOTES, "Connection pool at 95% at 14:30"),
        (COMMANDER, DECISION, f"Decision: turn the async-payment-processing flag off; <@{EXPERT}> makes the change"),
    ]
    for user, at, text in notes:
        await demo.change(lambda s, i, user=user, at=at, text=text:
                          lifecycle.add_note(s, i, text, Actor(user, Source.SLACK), at))
        demo.echo(_said(user, text))


async def post_first_update(demo: Demo) -> None:
    every = demo.runtime.config.update_cadence("SEV2")
    demo.step(3, FIRST_UPDATE, "Post a status update",
              f"Communications (@{COMMS}) runs `/incident update identified <text>`; the war room, #incidents "
              f"and the card show it, and the next one is due in {every} minutes (the SEV2 cadence).")
    text = ("About 15% of checkouts are failing with 500s. Likely cause: database connection pool exhaustion "
            "since the async-payment-processing flag went on; the flag is being turned off.")
    await demo.change(lambda s, i: lifecycle.post_update(s, i, text, Status.IDENTIFIED,
                                                         Actor(COMMS, Source.SLACK), demo.runtime.config,
                                                         FIRST_UPDATE))
    demo.echo(f"**Status update** ({FIRST_UPDATE:%H:%M}, IDENTIFIED): {text}")


async def raise_severity(demo: Demo) -> None:
    demo.step(4, ALL_FAILING, "Raise the severity",
              "The pool is exhausted and every payment fails: `/incident severity SEV1 all requests failing`.")
    previous = await demo.change(lambda s, i: lifecycle.change_severity(
        s, i, "SEV1", "all requests failing", Actor(COMMANDER, Source.SLACK), demo.runtime.config, ALL_FAILING))
    every = demo.runtime.config.update_cadence("SEV1")
    demo.echo(f"Severity raised {previous} -> SEV1: all requests failing (status updates now due every {every} "
              "minutes)")


async def ask_commander(demo: Demo) -> None:
    demo.step(5, STATUS_ASKED, "Ask the incident commander agent",
              "Someone joining the war room asks `@incidentbot what's the status?`")
    answer = await demo.ask("incident-commander", "what's the status?", STATUS_ASKED)
    demo.echo(answer.text_markdown)


async def ask_rca(demo: Demo) -> None:
    demo.step(6, RCA_ASKED, "Ask the rca-agent",
              "`@incidentbot why are payments failing?` With no Prometheus, Grafana, Loki, Datadog or Kubernetes "
              "connected, it reasons from the timeline alone and lists the tools it could not use.")
    answer = await demo.ask("rca-agent", "why are payments failing?", RCA_ASKED)
    demo.echo(answer.text_markdown)


async def mitigate_and_resolve(demo: Demo) -> None:
    demo.step(7, FLAG_DISABLED, "Mitigate, resolve, record follow-ups",
              "The flag goes off, the pool drains, the incident is resolved; the action items and a follow-up "
              "said in the war room are recorded for the postmortem.")
    await mitigate(demo)
    summary = ("Full recovery confirmed at 15:15. Connection pool exhausted after the async-payment-processing "
               "flag was enabled; mitigated by turning the flag off at 14:45")
    await demo.change(lambda s, i: lifecycle.resolve(s, i, summary, Actor(COMMANDER, Source.SLACK), RESOLVED))
    demo.echo("\n" + await demo.card())
    await record_follow_ups(demo)


async def mitigate(demo: Demo) -> None:
    """The flag turned off at 14:45, and the update that the service is recovering, at 14:50."""
    disabled = "Feature flag async-payment-processing disabled at 14:45"
    await demo.change(lambda s, i: lifecycle.add_note(s, i, disabled, Actor(EXPERT, Source.SLACK), FLAG_DISABLED))
    demo.echo(_said(EXPERT, disabled))
    text = "Flag off; connections releasing since 14:50 and checkouts recovering. Monitoring."
    await demo.change(lambda s, i: lifecycle.post_update(s, i, text, Status.MONITORING, Actor(COMMS, Source.SLACK),
                                                         demo.runtime.config, RECOVERING))
    demo.echo(f"**Status update** ({RECOVERING:%H:%M}, MONITORING): {text}")


async def record_follow_ups(demo: Demo) -> None:
    """Two action items through `/incident action`, and a follow-up only said in a note."""
    items = [("Fix the connection leak in the async payment handler's error path", Priority.P0, LEAK_FIX_DUE),
             ("Load test the async payment path at production connection concurrency", Priority.P1, LOAD_TEST_DUE)]
    for text, priority, due in items:
        await demo.change(lambda s, i, text=text, priority=priority, due=due: action_items.add(
            s, i, text=text, owner=EXPERT, priority=priority, due_on=due, source="slack", created_by=COMMANDER))
        demo.echo(f"- Action item ({priority}, @{EXPERT}, due {due.isoformat()}): {text}")
    note = "We should add an alert on connection pool usage at 80%"
    await demo.change(lambda s, i: lifecycle.add_note(s, i, note, Actor(SCRIBE, Source.SLACK), FOLLOW_UPS))
    demo.echo(_said(SCRIBE, note))
    await demo.replay(FOLLOW_UPS)


async def write_postmortem(demo: Demo) -> None:
    demo.step(8, POSTMORTEM_ASKED, "Ask the postmortem-writer",
              f"`@incidentbot Generate postmortem for {demo.public_id}`: the draft is kept as version 1, and the "
              "follow-ups it suggests become numbered action items.")
    answer = await demo.ask("postmortem-writer", f"Generate postmortem for {demo.public_id}", POSTMORTEM_ASKED)
    demo.echo(answer.text_markdown)


def next_steps(demo: Demo) -> None:
    demo.echo(f"\n{RULE}\nWhat next\n{RULE}\n"
              f"That was a throwaway database: {demo.public_id} is gone now, and your own incidents were not touched.\n"
              "- `make run` serves the bot; README.md, \"Install in Slack\", connects it to a workspace, where "
              "`/incident declare` opens a war room.\n"
              "- `incidentbot declare \"Checkout latency\" -s SEV3` records an incident from the shell; "
              "`incidentbot list` and `incidentbot show <id>` read it back.\n"
              "- `incidentbot agent run rca-agent --incident <id> -p \"why is it failing?\"` and "
              "`incidentbot postmortem generate <id>` run the agents on it.\n"
              "- Set PROMETHEUS_URL / LOKI_URL (README.md, \"Root-cause analysis\") so the rca-agent reads telemetry, "
              "and ANTHROPIC_API_KEY for LLM-written prose.")


# --- running -----------------------------------------------------------------------------------------------------

STORY = [declare_incident, assign_roles_and_take_notes, post_first_update, raise_severity, ask_commander, ask_rca,
         mitigate_and_resolve, write_postmortem]


async def play(database_url: str, echo: Echo) -> None:
    """Migrate the throwaway store, then play the story on it, step by step."""
    migrate.upgrade(database_url)
    runtime = Runtime.create(demo_settings(database_url))
    demo = Demo(runtime, echo, started=utcnow())
    try:
        for step in STORY:
            await step(demo)
        next_steps(demo)
    finally:
        await runtime.close()


def run_demo(echo: Callable[[str], None]) -> None:
    """Replay the seed's Payment API incident on a temporary SQLite file, removed afterwards."""
    echo(f"incidentbot demo: the Payment API incident of December 20, 2024 ({TITLE}), replayed on a throwaway "
         "database.\nNo Slack workspace, no LLM key, no telemetry: each step prints what the bot would post.")
    with tempfile.TemporaryDirectory(prefix="incidentbot-demo-") as directory:
        asyncio.run(play(f"sqlite:///{Path(directory) / 'demo.db'}", echo))
