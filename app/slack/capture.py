"""War-room events: pushpin reactions and pins put messages on the timeline, every message goes into the
transcript, and people joining mid-incident are caught up privately.

Listeners only parse the event, talk to Slack and call `app.incidents.capture` in a transaction.
They run from the inbox, whose claim on the event id (recorded with the change) keeps Slack's retries
from recording anything twice. Events from channels that are not war rooms are ignored without a word.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents import capture, service
from app.incidents.capture import VIA_PIN, VIA_REACTION, CatchUp, WarRoomMessage, message_time
from app.incidents.models import Incident
from app.incidents.render import clock
from app.runtime import Runtime
from app.slack.blocks import escape, mention, unescape
from app.slack.failures import is_transient
from app.slack.warroom import HINTS

log = logging.getLogger(__name__)

# Message subtypes that are something someone said; joins, topic changes and the like are not.
SPOKEN_SUBTYPES = {None, "bot_message", "thread_broadcast", "file_share", "me_message"}
UNREADABLE = "I couldn't read that message ({reason}), so it isn't on the {public_id} timeline."
MAX_LINE = 300  # a long pinned message is cut in the catch-up; the timeline keeps all of it

Change = Callable[[AsyncSession, Incident], Awaitable[None]]


@dataclass(frozen=True)
class Mark:
    """Someone reacted to or pinned a message in a channel."""

    channel: str
    ts: str
    user: str
    via: str


class Unreadable(Exception):
    """The bot could not read the marked message; `error` is Slack's error code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("reaction_added")
    async def reaction_added(event: dict[str, Any], client: AsyncWebClient) -> None:
        mark = _reaction_mark(runtime, event)
        if mark is not None and await _in_a_war_room(runtime, mark.channel):
            await _mark(runtime, client, mark)

    @app.event("reaction_removed")
    async def reaction_removed(event: dict[str, Any]) -> None:
        mark = _reaction_mark(runtime, event)
        if mark is not None and await _in_a_war_room(runtime, mark.channel):
            await _unmark(runtime, mark, user_id=mark.user)

    @app.event("pin_added")
    async def pin_added(event: dict[str, Any], context: AsyncBoltContext,
                        client: AsyncWebClient) -> None:
        mark = _pin_mark(event, context)
        if mark is not None and await _in_a_war_room(runtime, mark.channel):
            await _mark(runtime, client, mark)

    @app.event("pin_removed")
    async def pin_removed(event: dict[str, Any], context: AsyncBoltContext) -> None:
        mark = _pin_mark(event, context)
        if mark is not None and await _in_a_war_room(runtime, mark.channel):
            await _unmark(runtime, mark, user_id=None)  # one pin per message, whoever removes it

    @app.event("message")
    async def message(event: dict[str, Any], context: AsyncBoltContext) -> None:
        channel = str(event.get("channel") or "")
        change = transcript_change(event, context)
        if change is not None:
            await _in_war_room(runtime, channel, change)

    @app.event("member_joined_channel")
    async def member_joined(event: dict[str, Any], context: AsyncBoltContext,
                            client: AsyncWebClient) -> None:
        user, channel = event.get("user"), str(event.get("channel") or "")
        if user and user != context.bot_user_id and await _in_a_war_room(runtime, channel):
            await _joined(runtime, client, channel, str(user))


async def _in_a_war_room(runtime: Runtime, channel: str) -> bool:
    """Only war rooms are recorded; the bot's other channels cost a read per message, never a write."""
    async with runtime.sessions() as session:
        return await service.is_war_room(session, channel)


# --- marks ------------------------------------------------------------------------------------


def _reaction_mark(runtime: Runtime, event: dict[str, Any]) -> Mark | None:
    """Only the configured emoji (any skin tone) on a message counts; files and other emoji don't."""
    item = event.get("item") or {}
    emoji = str(event.get("reaction") or "").split("::")[0]
    if emoji != runtime.config.timeline_reaction.strip(":") or item.get("type") != "message":
        return None
    if not (item.get("channel") and item.get("ts") and event.get("user")):
        return None
    return Mark(str(item["channel"]), str(item["ts"]), str(event["user"]), VIA_REACTION)


def _pin_mark(event: dict[str, Any], context: AsyncBoltContext) -> Mark | None:
    """pin_added/pin_removed name the channel as `channel_id` and carry the message in `item`."""
    item = event.get("item") or {}
    channel = event.get("channel_id") or item.get("channel")
    ts = (item.get("message") or {}).get("ts") or item.get("ts")
    user = event.get("user")
    if item.get("type") != "message" or not (channel and ts and user) or user == context.bot_user_id:
        return None
    return Mark(str(channel), str(ts), str(user), VIA_PIN)


async def _war_room(runtime: Runtime, channel: str) -> Incident | None:
    """The channel's incident, its row only: a message or a mark needs none of its timeline or roles."""
    async with runtime.sessions() as session:
        return await session.scalar(select(Incident).where(Incident.channel_id == channel)
                                    .order_by(Incident.id.desc()).limit(1))


def _is_card(incident: Incident, mark: Mark) -> bool:
    """The bot pins its own declaration card; that pin is not someone marking a message."""
    return mark.via == VIA_PIN and mark.ts == incident.card_ts


async def _mark(runtime: Runtime, client: AsyncWebClient, mark: Mark) -> None:
    """Read the message first (no transaction held across Slack calls), then record the mark."""
    incident = await _war_room(runtime, mark.channel)
    if incident is None or _is_card(incident, mark):
        return
    try:
        message = await read_message(client, mark.channel, mark.ts)
    except Unreadable as exc:
        await _explain_unreadable(client, mark, incident.public_id, exc.error)
        return
    async with runtime.sessions() as session, session.begin():
        current = await session.get_one(Incident, incident.id)
        await capture.mark_message(session, current, message, user_id=mark.user, via=mark.via)


async def _unmark(runtime: Runtime, mark: Mark, *, user_id: str | None) -> None:
    async with runtime.sessions() as session, session.begin():
        incident = await service.incident_for_channel(session, mark.channel)
        if incident is None or _is_card(incident, mark):
            return
        await capture.unmark_message(session, incident, mark.ts, via=mark.via, user_id=user_id)


async def read_message(client: AsyncWebClient, channel: str, ts: str) -> WarRoomMessage:
    """The message as it reads now, with its permalink. History lists only top-level messages, so a
    thread reply is looked up with conversations.replies (which accepts a reply's own ts)."""
    window = {"channel": channel, "latest": ts, "oldest": ts, "inclusive": True}
    try:
        found = _with_ts((await client.conversations_history(**window, limit=1))["messages"], ts)
        if found is None:  # limit 2: Slack may put the thread's parent first, before the reply asked for
            found = _with_ts((await client.conversations_replies(**window, ts=ts, limit=2))["messages"], ts)
    except SlackApiError as exc:
        if is_transient(exc):
            raise  # ratelimited or Slack's 5xx: the inbox tries again after Retry-After
        error = str(exc.response.get("error") or "unknown_error")
        raise Unreadable("message_not_found" if error == "thread_not_found" else error) from exc
    if found is None:
        raise Unreadable("message_not_found")
    return WarRoomMessage(ts=ts, author=found.get("user") or found.get("bot_id"),
                          text=unescape(str(found.get("text") or "")),
                          thread_ts=found.get("thread_ts"), permalink=await _permalink(client, channel, ts))


def _with_ts(messages: list[dict[str, Any]], ts: str) -> dict[str, Any] | None:
    return next((m for m in messages if m.get("ts") == ts), None)


async def _permalink(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    """A missing link should not keep the message off the timeline."""
    try:
        return str((await client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
    except SlackApiError as exc:
        log.warning("no permalink for %s in %s: %s", ts, channel, exc.response.get("error"))
        return None


async def _explain_unreadable(client: AsyncWebClient, mark: Mark, public_id: str, error: str) -> None:
    """Tell the person who marked it why nothing happened; if Slack won't let us, the log says so."""
    reason = f"{error}: {HINTS[error]}" if error in HINTS else error
    text = UNREADABLE.format(reason=reason, public_id=public_id)
    try:
        await client.chat_postEphemeral(channel=mark.channel, user=mark.user, text=text)
    except SlackApiError as exc:
        log.warning("could not tell %s that %s in %s is unreadable (%s): %s",
                    mark.user, mark.ts, mark.channel, error, exc.response.get("error"))


# --- transcript -------------------------------------------------------------------------------


def transcript_change(event: dict[str, Any], context: AsyncBoltContext) -> Change | None:
    """What a message event does to the transcript, or None for the bot's own messages and for
    channel housekeeping (joins, topic changes)."""
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return _edit(event, context)
    if subtype == "message_deleted":
        previous = {**(event.get("previous_message") or {}), "ts": event.get("deleted_ts")}
        if not previous["ts"] or _from_bot_itself(previous, context):
            return None
        return partial(capture.record_deletion, message=_said(previous), deleted_at=message_time(str(event["ts"])))
    if subtype not in SPOKEN_SUBTYPES or not event.get("ts") or _from_bot_itself(event, context):
        return None
    return partial(capture.record_message, message=_said(event))


def _edit(event: dict[str, Any], context: AsyncBoltContext) -> Change | None:
    """Slack also sends message_changed for link unfurls; only a change of text is an edit."""
    now, before = event.get("message") or {}, event.get("previous_message") or {}
    if not now.get("ts") or _from_bot_itself(now, context) or ("text" in before and before["text"] == now.get("text")):
        return None
    edited_ts = (now.get("edited") or {}).get("ts") or event["ts"]
    return partial(capture.record_edit, message=_said(now), edited_at=message_time(str(edited_ts)))


def _said(message: dict[str, Any]) -> WarRoomMessage:
    return WarRoomMessage(ts=str(message["ts"]), author=message.get("user") or message.get("bot_id"),
                          text=unescape(str(message.get("text") or "")), thread_ts=message.get("thread_ts"))


def _from_bot_itself(message: dict[str, Any], context: AsyncBoltContext) -> bool:
    """Other bots' messages belong in the transcript; ours (cards, replies) are already recorded."""
    user, bot_id = message.get("user"), message.get("bot_id")
    return bool((user and user == context.bot_user_id) or (bot_id and bot_id == context.bot_id))


async def _in_war_room(runtime: Runtime, channel: str, change: Change) -> None:
    incident = await _war_room(runtime, channel)
    if incident is None:
        return
    async with runtime.sessions() as session, session.begin():
        await change(session, await session.get_one(Incident, incident.id))


# --- joining ----------------------------------------------------------------------------------


async def _joined(runtime: Runtime, client: AsyncWebClient, channel: str, user: str) -> None:
    """Record the participant; the first time they join (and did not declare it), catch them up."""
    async with runtime.sessions() as session, session.begin():
        incident = await service.incident_for_channel(session, channel)
        if incident is None:
            return
        first = await capture.record_join(session, incident, user)
        if not first or user == incident.declared_by:
            return
        summary = await capture.catch_up(session, incident, runtime.config)
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=catch_up_text(summary))
    except SlackApiError as exc:
        log.warning("could not catch %s up on %s: %s", user, summary.public_id, exc.response.get("error"))


def catch_up_text(summary: CatchUp) -> str:
    """Plain mrkdwn: it is read once, privately, by someone who just arrived."""
    roles = [f"• {role}: {mention(user)}" + ("" if status == "Active" else f" ({status})")
             for role, user, status in summary.roles]
    spans_days = len({e.occurred_at.date() for e in summary.recent}) > 1
    events = [f"• `{clock(e.occurred_at, spans_days)}` {_line(e.text)}" + (f" ({mention(e.actor)})" if e.actor else "")
              for e in summary.recent]
    actions = [f"• {escape(text)}" for text in summary.open_actions]
    return "\n".join([
        f":wave: Welcome to the war room for *{summary.public_id}*: {escape(summary.title)}",
        f"*Severity:* {summary.severity} ({escape(summary.severity_meaning)}) · *Status:* {summary.status}",
        "*Roles*", *(roles or ["_nobody holds a role yet_"]),
        f"*What happened so far* (latest {len(summary.recent)}, UTC)", *(events or ["_nothing yet_"]),
        "*What is being tried*", *(actions or ["_no open next actions_"]),
    ])


def _line(text: str) -> str:
    """One line per event: Slack mrkdwn kept (mentions, links), newlines folded, long text cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_LINE else flat[: MAX_LINE - 1] + "…"
