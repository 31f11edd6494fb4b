"""Setting up an incident's war room in Slack, one recorded step at a time.

Each step is recorded as done (with a timeline event) after its Slack call; steps that would
leave a duplicate if redone are also marked started before it. A process that dies mid-way
leaves the incident pending; the next start (or another replica, once the lease runs out)
finishes the remaining steps. A step left "started" may have happened, so it first looks in
Slack for its own result (the channel, the card) before redoing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import TeamConfig
from app.db.base import utcnow
from app.incidents import service
from app.incidents.card import build_card
from app.incidents.models import Incident, Role, SetupState
from app.incidents.render import SLACK_USER_ID
from app.metrics import war_room_steps, war_room_steps_failed
from app.slack.blocks import announcement_blocks, card_blocks, card_fallback_text, mention
from app.warroom.models import Step, StepState, WarRoomStep
from app.warroom.naming import belongs_to, channel_name

log = logging.getLogger(__name__)

MAX_NAME_ATTEMPTS = 20
CARD_EVENT = "incident_card"
ANNOUNCEMENT_EVENT = "incident_announcement"
# A step that needs another one done first is skipped when that one failed.
NEEDS = {
    Step.INVITE_DECLARER: Step.CREATE_CHANNEL,
    Step.SET_TOPIC: Step.CREATE_CHANNEL,
    Step.SET_PURPOSE: Step.CREATE_CHANNEL,
    Step.POST_CARD: Step.CREATE_CHANNEL,
    Step.PIN_CARD: Step.POST_CARD,
}
# Steps that would make a second channel or message if redone; the others are simply run again.
NOT_IDEMPOTENT = {Step.CREATE_CHANNEL, Step.POST_CARD, Step.ANNOUNCE}
LABELS = {
    Step.CREATE_CHANNEL: "create the war-room channel",
    Step.INVITE_DECLARER: "invite the declarer",
    Step.SET_TOPIC: "set the channel topic",
    Step.SET_PURPOSE: "set the channel purpose",
    Step.POST_CARD: "post the declaration card",
    Step.PIN_CARD: "pin the declaration card",
    Step.ANNOUNCE: "announce the incident",
}
HINTS = {
    "missing_scope": "the Slack app lacks a permission; reinstall it from slack-app-manifest.yml",
    "channel_not_found": "the channel does not exist or the app cannot see it",
    "not_in_channel": "the app is not a member of the channel; invite @incidentbot to it",
    "restricted_action": "a workspace setting stops the app from doing this",
    "user_not_found": "that user is not in this workspace",
    "is_archived": "the channel is archived",
    "invalid_auth": "the Slack bot token is not valid",
    "account_inactive": "the Slack bot token belongs to a deactivated app",
}


class LeaseLost(Exception):
    """Another process took over this set-up (this one stalled past its lease); stop quietly."""


@dataclass(frozen=True)
class StepReport:
    step: Step
    state: StepState
    error: str | None = None

    def describe(self) -> str:
        reason = f"{self.error}: {HINTS[self.error]}" if self.error in HINTS else self.error
        verb = "Could not" if self.state == StepState.FAILED else "Skipped: could not"
        return f"{verb} {LABELS[self.step]} ({reason})"


@dataclass
class Outcome:
    """What a step changed: incident columns to store and the timeline line to add."""

    text: str
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass
class WarRoom:
    """Opens war rooms. One per process; `owner` names this process in set-up leases."""

    sessions: async_sessionmaker[AsyncSession]
    client: AsyncWebClient
    config: TeamConfig
    announce_channel: str
    lease: timedelta = timedelta(minutes=2)
    # Set-ups run a few at a time so a burst of declarations does not starve the acks.
    concurrency: int = 4
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _bot_user_id: str | None = None
    _slots: asyncio.Semaphore = field(init=False)
    _active: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    async def set_up(self, incident_id: int) -> list[StepReport] | None:
        """Run every step not yet finished; None when another process holds the set-up."""
        self._active.add(incident_id)
        try:
            async with self._slots:
                if not await self._claim(incident_id):
                    return None
                reports = await self._run_steps(incident_id)
                await self._finish(incident_id)
                return reports
        except LeaseLost:
            log.warning("war-room set-up for incident %s was taken over by another process", incident_id)
            return None
        finally:
            self._active.discard(incident_id)

    async def resume_pending(self) -> int:
        """Finish set-ups whose lease ran out (their process died); returns how many were taken."""
        async with self.sessions() as session:
            pending = (await session.scalars(
                select(Incident.id).where(Incident.setup_state == SetupState.PENDING, self._lease_expired())
            )).all()
        taken = 0
        for incident_id in pending:
            if incident_id not in self._active:
                log.info("resuming war-room set-up for incident %s", incident_id)
                taken += await self.set_up(incident_id) is not None
        return taken

    def _lease_expired(self) -> ColumnElement[bool]:
        return or_(Incident.setup_lease_until.is_(None), Incident.setup_lease_until < utcnow())

    async def _claim(self, incident_id: int) -> bool:
        """Take (or renew) the set-up lease: ours already, or expired because its holder died."""
        async with self.sessions() as session, session.begin():
            claimed = await session.execute(
                update(Incident)
                .where(
                    Incident.id == incident_id,
                    Incident.setup_state == SetupState.PENDING,
                    or_(Incident.setup_owner == self.owner, self._lease_expired()),
                )
                .values(setup_owner=self.owner, setup_lease_until=utcnow() + self.lease)
            )
        return claimed.rowcount == 1  # type: ignore[attr-defined]

    async def _run_steps(self, incident_id: int) -> list[StepReport]:
        states = await self._states(incident_id)
        steps: dict[Step, Callable[[Incident], Awaitable[Outcome]]] = {
            Step.CREATE_CHANNEL: self._create_channel,
            Step.INVITE_DECLARER: self._invite_declarer,
            Step.SET_TOPIC: self._set_topic,
            Step.SET_PURPOSE: self._set_purpose,
            Step.POST_CARD: self._post_card,
            Step.PIN_CARD: self._pin_card,
            Step.ANNOUNCE: self._announce,
        }
        reports: list[StepReport] = []
        for step, run in steps.items():
            state, error = states.get(step, (None, None))
            if state in (StepState.STARTED, None):
                state, error = await self._run_step(incident_id, step, run, states, resumed=state is not None)
                states[step] = (state, error)
            reports.append(StepReport(step, state, error))
        return reports

    async def _states(self, incident_id: int) -> dict[Step, tuple[StepState, str | None]]:
        async with self.sessions() as session:
            rows = await session.scalars(select(WarRoomStep).where(WarRoomStep.incident_id == incident_id))
            return {Step(r.step): (StepState(r.state), r.error) for r in rows}

    async def _run_step(
        self,
        incident_id: int,
        step: Step,
        run: Callable[[Incident], Awaitable[Outcome]],
        states: dict[Step, tuple[StepState, str | None]],
        *,
        resumed: bool,
    ) -> tuple[StepState, str | None]:
        needed = NEEDS.get(step)
        if needed is not None and states.get(needed, (None,))[0] != StepState.DONE:
            await self._record(incident_id, step, StepState.SKIPPED, error=f"could not {LABELS[needed]}")
            war_room_steps.labels(step, StepState.SKIPPED).inc()
            return StepState.SKIPPED, f"could not {LABELS[needed]}"
        async with self.sessions() as session:
            incident = await service.get_incident_by_id(session, incident_id)
        try:
            outcome = await self._reconcile(step, incident) if resumed else None
            if outcome is None:
                if step in NOT_IDEMPOTENT:
                    await self._record(incident_id, step, StepState.STARTED)
                outcome = await run(incident)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            await self._record(incident_id, step, StepState.FAILED, error=error)
            war_room_steps.labels(step, StepState.FAILED).inc()
            war_room_steps_failed.labels(step, error).inc()
            return StepState.FAILED, error
        await self._record(incident_id, step, StepState.DONE, outcome=outcome)
        war_room_steps.labels(step, StepState.DONE).inc()
        return StepState.DONE, None

    async def _record(
        self, incident_id: int, step: Step, state: StepState, *, outcome: Outcome | None = None,
        error: str | None = None,
    ) -> None:
        """Store a step's state, its effect on the incident and its timeline line, in one commit."""
        async with self.sessions() as session, session.begin():
            incident = await session.get_one(Incident, incident_id, with_for_update=True)
            if incident.setup_owner != self.owner:
                raise LeaseLost(incident_id)
            row = await session.get(WarRoomStep, (incident_id, step))
            if row is None:
                row = WarRoomStep(incident_id=incident_id, step=step, state=state)
                session.add(row)
            row.state, row.error = state, error
            incident.setup_lease_until = utcnow() + self.lease
            if outcome is not None:
                for column, value in outcome.updates.items():
                    setattr(incident, column, value)
                await service.add_event(session, incident, kind=f"war_room.{step}", text=outcome.text,
                                        dedup_key=f"war_room:{step}")
            elif state in (StepState.FAILED, StepState.SKIPPED):
                report = StepReport(step, state, error)
                await service.add_event(session, incident, kind="war_room.failed", text=report.describe(),
                                        dedup_key=f"war_room:{step}")

    async def _finish(self, incident_id: int) -> None:
        async with self.sessions() as session, session.begin():
            incident = await session.get_one(Incident, incident_id, with_for_update=True)
            if incident.setup_owner != self.owner:
                raise LeaseLost(incident_id)
            incident.setup_state, incident.setup_lease_until, incident.setup_owner = SetupState.DONE, None, None

    # --- steps ---------------------------------------------------------------------------------

    async def _create_channel(self, incident: Incident) -> Outcome:
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            name = channel_name(incident.public_id, incident.title, attempt)
            try:
                response = await self.client.conversations_create(name=name, is_private=incident.is_private)
            except SlackApiError as exc:
                if exc.response.get("error") == "name_taken":
                    continue
                raise
            return self._channel_created(response["channel"])
        raise SlackApiError("no free channel name", {"ok": False, "error": "name_taken"})

    def _channel_created(self, channel: dict[str, Any]) -> Outcome:
        return Outcome(f"War room created: #{channel['name']}",
                       {"channel_id": channel["id"], "channel_name": channel["name"]})

    async def _invite_declarer(self, incident: Incident) -> Outcome:
        if not SLACK_USER_ID.match(incident.declared_by):
            return Outcome("Declared outside Slack: nobody to invite")
        try:
            await self.client.conversations_invite(channel=incident.channel_id, users=incident.declared_by)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_in_channel":
                raise
        return Outcome(f"{mention(incident.declared_by)} joined the war room")

    async def _set_topic(self, incident: Incident) -> Outcome:
        topic = topic_for(incident)
        await self.client.conversations_setTopic(channel=incident.channel_id, topic=topic)
        return Outcome(f"Channel topic set: {topic}")

    async def _set_purpose(self, incident: Incident) -> Outcome:
        purpose = f"{incident.public_id}: {incident.title}"[:250]
        await self.client.conversations_setPurpose(channel=incident.channel_id, purpose=purpose)
        return Outcome("Channel purpose set")

    async def _post_card(self, incident: Incident) -> Outcome:
        card = build_card(incident, self.config, self.announce_channel)
        response = await self.client.chat_postMessage(
            channel=incident.channel_id, text=card_fallback_text(card), blocks=card_blocks(card),
            metadata=_metadata(CARD_EVENT, incident), unfurl_links=False,
        )
        return Outcome("Declaration card posted", {"card_ts": response["ts"]})

    async def _pin_card(self, incident: Incident) -> Outcome:
        try:
            await self.client.pins_add(channel=incident.channel_id, timestamp=incident.card_ts)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_pinned":
                raise
        return Outcome("Declaration card pinned")

    async def _announce(self, incident: Incident) -> Outcome:
        if incident.is_private:
            # A private war room's title is not for the whole company's announcement channel.
            return Outcome("Private incident: not announced")
        card = build_card(incident, self.config, self.announce_channel)
        post = {
            "channel": self.announce_channel, "text": card_fallback_text(card),
            "blocks": announcement_blocks(card), "metadata": _metadata(ANNOUNCEMENT_EVENT, incident),
        }
        try:
            response = await self.client.chat_postMessage(**post)
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel":
                raise
            # A public announcement channel the app has not joined yet: join it once, then post.
            joined = await self.client.conversations_join(channel=await self._announce_channel_id())
            response = await self.client.chat_postMessage(**{**post, "channel": joined["channel"]["id"]})
        return self._announced(response["channel"], response["ts"])

    def _announced(self, channel_id: str, ts: str) -> Outcome:
        return Outcome(f"Announced in #{self.announce_channel.lstrip('#')}",
                       {"announcement_channel_id": channel_id, "announcement_ts": ts})

    # --- finding what a dead process already did -------------------------------------------------

    async def _reconcile(self, step: Step, incident: Incident) -> Outcome | None:
        if step == Step.CREATE_CHANNEL:
            bot = await self._bot_user()
            channel = await self._find_channel(
                lambda c: belongs_to(c["name"], incident.public_id) and c.get("creator") == bot
            )
            return self._channel_created(channel) if channel else None
        if step == Step.POST_CARD and incident.channel_id:
            ts = await self._find_posted(incident.channel_id, CARD_EVENT, incident)
            return Outcome("Declaration card posted", {"card_ts": ts}) if ts else None
        if step == Step.ANNOUNCE:
            channel_id = await self._announce_channel_id()
            ts = await self._find_posted(channel_id, ANNOUNCEMENT_EVENT, incident) if channel_id else None
            return self._announced(channel_id, ts) if channel_id and ts else None
        return None  # the other steps are idempotent: just run them again

    async def _find_posted(self, channel_id: str, event_type: str, incident: Incident) -> str | None:
        try:
            history = await self.client.conversations_history(
                channel=channel_id, limit=200, include_all_metadata=True
            )
        except SlackApiError:
            return None
        for message in history["messages"]:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and payload.get("incident_id") == incident.public_id:
                return str(message["ts"])
        return None

    async def _find_channel(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        cursor = None
        while True:
            page = await self.client.conversations_list(
                types="public_channel,private_channel", limit=200, cursor=cursor, exclude_archived=True
            )
            found = next((c for c in page["channels"] if matches(c)), None)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if found or not cursor:
                return found

    async def _announce_channel_id(self) -> str | None:
        wanted = self.announce_channel.lstrip("#")
        if wanted[:1] in ("C", "G") and wanted.upper() == wanted:
            return wanted
        channel = await self._find_channel(lambda c: c["name"] == wanted)
        if channel is None:
            raise SlackApiError("announcement channel not found", {"ok": False, "error": "channel_not_found"})
        return str(channel["id"])

    async def _bot_user(self) -> str:
        if self._bot_user_id is None:
            self._bot_user_id = str((await self.client.auth_test())["user_id"])
        return self._bot_user_id


def topic_for(incident: Incident) -> str:
    return f"{incident.severity} | {incident.status} | IC {mention(incident.active_holder(Role.INCIDENT_COMMANDER))}"


def _metadata(event_type: str, incident: Incident) -> dict[str, Any]:
    return {"event_type": event_type, "event_payload": {"incident_id": incident.public_id}}


async def refresh(war_room: WarRoom, incident_id: int) -> list[str]:
    """Bring the pinned card, the channel topic and the announcement in line with the incident.

    Returns what Slack refused or could not be reached for (as "what: error"), for the person who
    made the change; the change itself is already recorded.
    """
    async with war_room.sessions() as session:
        incident = await service.get_incident_by_id(session, incident_id)
    card = build_card(incident, war_room.config, war_room.announce_channel)
    client = war_room.client
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    if incident.channel_id and incident.card_ts:
        calls.append(("card", lambda: client.chat_update(
            channel=incident.channel_id, ts=incident.card_ts, text=card_fallback_text(card),
            blocks=card_blocks(card))))
        calls.append(("topic", lambda: _set_topic_if_changed(client, incident)))
    if incident.announcement_channel_id and incident.announcement_ts:
        calls.append(("announcement", lambda: client.chat_update(
            channel=incident.announcement_channel_id, ts=incident.announcement_ts,
            text=card_fallback_text(card), blocks=announcement_blocks(card))))
    problems = []
    for what, call in calls:
        try:
            await call()
        except SlackApiError as exc:
            problems.append(f"{what}: {exc.response.get('error')}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            problems.append(f"{what}: Slack unreachable ({type(exc).__name__})")
    if problems:
        log.warning("refreshing %s in Slack: %s", incident.public_id, "; ".join(problems))
    return problems


async def _set_topic_if_changed(client: AsyncWebClient, incident: Incident) -> None:
    """Slack posts a notice in the channel for every topic change, so only change it when needed."""
    topic = topic_for(incident)
    info = await client.conversations_info(channel=incident.channel_id)
    if (info["channel"].get("topic") or {}).get("value") != topic:
        await client.conversations_setTopic(channel=incident.channel_id, topic=topic)
