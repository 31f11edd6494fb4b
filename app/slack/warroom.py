"""The war room in Slack: the channel, its topic and purpose, the pinned card and the announcement.

Each set-up step is one or two Web API calls. A failure is turned into a StepFailed that says whether
Slack may take the same call later (app/slack/failures.py: 429, 5xx, timeouts, dropped connections,
Slack's own "try again" errors): short waits are retried inside the call by slack_sdk's retry
handlers (app/slack/client.py); the set-up flow (app/warroom/flows.py) retries the rest from its
step table.

What a cut-short attempt left behind is found by the message metadata the app posts with (the
incident id and the attempt's intent key) and by the channel's creator. The announcement channel is
joined before posting, so that history can always be read there when looking for what was posted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.config import TeamConfig
from app.incidents import service
from app.incidents.card import build_card
from app.incidents.models import Incident, Role
from app.incidents.render import SLACK_USER_ID
from app.slack.blocks import announcement_blocks, card_blocks, card_fallback_text, mention
from app.slack.failures import is_transient, retry_after
from app.warroom.models import Step, StepState
from app.warroom.naming import belongs_to, channel_name
from app.warroom.steps import Outcome, StepFailed

if TYPE_CHECKING:
    from app.warroom.flows import StepReport, WarRoom

log = logging.getLogger(__name__)

MAX_NAME_ATTEMPTS = 20
CARD_EVENT = "incident_card"
ANNOUNCEMENT_EVENT = "incident_announcement"
# How far back, and how many pages, to look for a message an earlier attempt may have posted.
LOOK_BACK = timedelta(minutes=5)
MAX_HISTORY_PAGES = 10
HINTS = {
    "missing_scope": "the Slack app lacks a permission; reinstall it from slack-app-manifest.yml",
    "channel_not_found": "the channel does not exist or the app cannot see it",
    "not_in_channel": "the app is not a member of the channel; invite @incidentbot to it",
    "restricted_action": "a workspace setting stops the app from doing this",
    "user_not_found": "that user is not in this workspace",
    "is_archived": "the channel is archived",
    "invalid_auth": "the Slack bot token is not valid",
    "not_authed": "no Slack bot token was sent",
    "account_inactive": "the Slack bot token belongs to a deactivated app",
    "method_not_supported_for_channel_type": "the announcement channel is private; invite @incidentbot to it",
}


def step_failure(exc: Exception) -> StepFailed:
    """What a failed Web API call means for the step that made it."""
    if isinstance(exc, SlackApiError):
        error = _error(exc) or f"http_{exc.response.status_code}"
        return StepFailed(error, transient=is_transient(exc), retry_after=retry_after(exc), hint=HINTS.get(error))
    return StepFailed(f"Slack unreachable ({type(exc).__name__})", transient=True)


@asynccontextmanager
async def slack_calls() -> AsyncIterator[None]:
    try:
        yield
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        raise step_failure(exc) from exc


def _error(exc: SlackApiError) -> str | None:
    data = exc.response.data
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


@dataclass
class SlackRooms:
    """The Slack side of each war-room set-up step (the Rooms port of app/warroom/steps.py)."""

    client: AsyncWebClient
    config: TeamConfig
    announce_channel: str
    _bot_user_id: str | None = None

    async def run(self, step: Step, incident: Incident, intent: str) -> Outcome:
        steps: dict[Step, Callable[[Incident, str], Awaitable[Outcome]]] = {
            Step.CREATE_CHANNEL: self._create_channel,
            Step.INVITE_DECLARER: self._invite_declarer,
            Step.SET_TOPIC: self._set_topic,
            Step.SET_PURPOSE: self._set_purpose,
            Step.POST_CARD: self._post_card,
            Step.PIN_CARD: self._pin_card,
            Step.ANNOUNCE: self._announce,
        }
        async with slack_calls():
            return await steps[step](incident, intent)

    async def find(self, step: Step, incident: Incident, intent: str) -> Outcome | None:
        async with slack_calls():
            if step == Step.CREATE_CHANNEL:
                bot = await self._bot_user()
                channel = await self._find_channel(
                    lambda c: belongs_to(c["name"], incident.public_id) and c.get("creator") == bot
                )
                return self._channel_created(channel) if channel else None
            if step == Step.POST_CARD and incident.channel_id:
                ts = await self._find_posted(incident.channel_id, CARD_EVENT, incident)
                return Outcome("Declaration card posted", {"card_ts": ts}) if ts else None
            if step == Step.ANNOUNCE and not incident.is_private:
                channel_id = await self._joined_announcement_channel()
                ts = await self._find_posted(channel_id, ANNOUNCEMENT_EVENT, incident)
                return self._announced(channel_id, ts) if ts else None
            return None  # the other steps are idempotent: just run them again

    async def tell(self, incident: Incident, reports: list[StepReport]) -> None:
        """A direct message to the incident commander (when a Slack user) with the set-up's summary."""
        commander = incident.active_holder(Role.INCIDENT_COMMANDER)
        if not commander or not SLACK_USER_ID.match(commander):
            return
        async with slack_calls():
            await self.client.chat_postMessage(
                channel=commander, text=setup_summary(incident.public_id, incident.channel_id, reports))

    # --- steps ---------------------------------------------------------------------------------

    async def _create_channel(self, incident: Incident, _intent: str) -> Outcome:
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            name = channel_name(incident.public_id, incident.title, attempt)
            try:
                response = await self.client.conversations_create(name=name, is_private=incident.is_private)
            except SlackApiError as exc:
                if _error(exc) == "name_taken":
                    continue
                raise
            return self._channel_created(response["channel"])
        raise StepFailed("name_taken", transient=False, hint="every channel name tried is taken")

    def _channel_created(self, channel: dict[str, Any]) -> Outcome:
        return Outcome(f"War room created: #{channel['name']}",
                       {"channel_id": channel["id"], "channel_name": channel["name"]})

    async def _invite_declarer(self, incident: Incident, _intent: str) -> Outcome:
        if not SLACK_USER_ID.match(incident.declared_by):
            return Outcome("Declared outside Slack: nobody to invite")
        try:
            await self.client.conversations_invite(channel=incident.channel_id, users=incident.declared_by)
        except SlackApiError as exc:
            if _error(exc) != "already_in_channel":
                raise
        return Outcome(f"{mention(incident.declared_by)} joined the war room")

    async def _set_topic(self, incident: Incident, _intent: str) -> Outcome:
        topic = topic_for(incident)
        await self.client.conversations_setTopic(channel=incident.channel_id, topic=topic)
        return Outcome(f"Channel topic set: {topic}")

    async def _set_purpose(self, incident: Incident, _intent: str) -> Outcome:
        purpose = f"{incident.public_id}: {incident.title}"[:250]
        await self.client.conversations_setPurpose(channel=incident.channel_id, purpose=purpose)
        return Outcome("Channel purpose set")

    async def _post_card(self, incident: Incident, intent: str) -> Outcome:
        card = build_card(incident, self.config, self.announce_channel)
        response = await self.client.chat_postMessage(
            channel=incident.channel_id, text=card_fallback_text(card), blocks=card_blocks(card),
            metadata=_metadata(CARD_EVENT, incident, intent), unfurl_links=False,
        )
        return Outcome("Declaration card posted", {"card_ts": response["ts"]})

    async def _pin_card(self, incident: Incident, _intent: str) -> Outcome:
        try:
            await self.client.pins_add(channel=incident.channel_id, timestamp=incident.card_ts)
        except SlackApiError as exc:
            if _error(exc) != "already_pinned":
                raise
        return Outcome("Declaration card pinned")

    async def _announce(self, incident: Incident, intent: str) -> Outcome:
        if incident.is_private:
            # A private war room's title is not for the whole company's announcement channel.
            return Outcome("Private incident: not announced")
        channel_id = await self._joined_announcement_channel()
        card = build_card(incident, self.config, self.announce_channel)
        response = await self.client.chat_postMessage(
            channel=channel_id, text=card_fallback_text(card), blocks=announcement_blocks(card),
            metadata=_metadata(ANNOUNCEMENT_EVENT, incident, intent),
        )
        return self._announced(response["channel"], response["ts"])

    def _announced(self, channel_id: str, ts: str) -> Outcome:
        return Outcome(f"Announced in #{self.announce_channel.lstrip('#')}",
                       {"announcement_channel_id": channel_id, "announcement_ts": ts})

    # --- finding channels and what an earlier attempt posted -------------------------------------

    async def _joined_announcement_channel(self) -> str:
        """The announcement channel's id, the app a member of it.

        Posting where the app is not a member (chat:write.public) would leave it unable to read the channel's
        history to find an announcement a crashed attempt already made; so it joins first (only when not a
        member; a private channel needs an invitation, and says so).
        """
        wanted = self.announce_channel.lstrip("#")
        if wanted[:1] in ("C", "G") and wanted.upper() == wanted:
            channel = (await self.client.conversations_info(channel=wanted))["channel"]
        else:
            found = await self._find_channel(lambda c: c["name"] == wanted)
            if found is None:
                raise StepFailed("channel_not_found", transient=False, hint=HINTS["channel_not_found"])
            channel = found
        if not channel.get("is_member"):
            await self.client.conversations_join(channel=channel["id"])
        return str(channel["id"])

    async def _find_posted(self, channel_id: str, event_type: str, incident: Incident) -> str | None:
        """The ts of the app's message of this kind for this incident, posted since it was declared."""
        oldest = f"{(incident.declared_at - LOOK_BACK).timestamp():.6f}"
        cursor = None
        for _ in range(MAX_HISTORY_PAGES):
            page = await self.client.conversations_history(
                channel=channel_id, oldest=oldest, limit=200, include_all_metadata=True, cursor=cursor
            )
            for message in page["messages"]:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == event_type and payload.get("incident_id") == incident.public_id:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        # Not found in what was read: say so rather than post a second one.
        raise StepFailed("history_too_long", transient=False,
                         hint="too many messages to look through for an earlier post")

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

    async def _bot_user(self) -> str:
        if self._bot_user_id is None:
            self._bot_user_id = str((await self.client.auth_test())["user_id"])
        return self._bot_user_id


def topic_for(incident: Incident) -> str:
    return f"{incident.severity} | {incident.status} | IC {mention(incident.active_holder(Role.INCIDENT_COMMANDER))}"


def _metadata(event_type: str, incident: Incident, intent: str) -> dict[str, Any]:
    return {"event_type": event_type, "event_payload": {"incident_id": incident.public_id, "intent": intent}}


def setup_summary(public_id: str, channel_id: str | None, reports: list[StepReport]) -> str:
    """What the declarer (or, after a resumed set-up, the incident commander) reads about the war room."""
    problems = [r.describe() for r in reports if r.is_problem]
    waiting = [r.describe() for r in reports if r.state == StepState.RETRYING]
    room = f"<#{channel_id}>" if channel_id else "no war room"
    if not problems and not waiting:
        return (f":white_check_mark: War room for {public_id} is ready: {room}. You are the Incident "
                "Commander until someone else takes the role.")
    text = ""
    if problems:
        lines = "\n".join(f"• {p}" for p in problems)
        text = f":warning: {public_id} is recorded ({room}), but some war-room steps failed:\n{lines}"
    if waiting:
        lines = "\n".join(f"• {w}" for w in waiting)
        text += ("\n" if text else f":hourglass_flowing_sand: {public_id} is recorded ({room}). ") + (
            f"Slack is not answering every call yet; these are retried until they go through:\n{lines}")
    return text


async def refresh(war_room: WarRoom, incident_id: int) -> list[str]:
    """Bring the pinned card, the channel topic and the announcement in line with the incident.

    Returns what Slack refused or could not be reached for (as "what: error"), for the person who
    made the change; the change itself is already recorded.
    """
    rooms = war_room.rooms
    assert isinstance(rooms, SlackRooms)
    async with war_room.sessions() as session:
        incident = await service.get_incident_by_id(session, incident_id)
    card = build_card(incident, rooms.config, rooms.announce_channel)
    client = rooms.client
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
            problems.append(f"{what}: {_error(exc) or step_failure(exc).error}")
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
