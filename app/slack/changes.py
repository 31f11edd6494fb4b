"""Changing a running incident, from Slack, the CLI or the API, then bringing its war room up to date.

Each lifecycle change (update, severity, resolve, reopen, close, note, assign) is a `Change`: the domain
function it records through, what the person who asked is told, and what the war room is told. The change
commits first; Slack is told afterwards (a war-room post, then card, topic and announcement), so a Slack
failure never loses what was recorded. With Slack disabled only the record happens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import RoleSpec
from app.db.base import utcnow
from app.incidents import lifecycle, service
from app.incidents.lifecycle import Actor, Assigned
from app.incidents.models import Incident, Status, TimelineEvent
from app.incidents.render import SLACK_USER_ID
from app.runtime import Runtime
from app.slack.blocks import escape, mention

log = logging.getLogger(__name__)
T = TypeVar("T")


async def find_incident(runtime: Runtime, channel_id: str | None, ref: str | None) -> Incident | None:
    """The incident a command is about: the one named, else the war room's (by channel id)."""
    async with runtime.sessions() as session:
        if ref:
            return await service.get_incident(session, ref)
        return await service.incident_for_channel(session, channel_id) if channel_id else None


async def apply_change(runtime: Runtime, incident_id: int,
                       change: Callable[[AsyncSession, Incident], Awaitable[T]]) -> tuple[Incident, T]:
    """Run one change in its own transaction; IncidentChangeRefused rolls it back untouched.

    The incident row is locked first, so two people changing it at once (two Take IC clicks, two
    replicas) apply one after the other, each seeing the other's result.
    """
    async with runtime.sessions() as session, session.begin():
        incident = await service.get_incident_by_id(session, incident_id, lock=True)
        result = await change(session, incident)
    return incident, result


async def sync_war_room(runtime: Runtime, incident: Incident, post: str | None = None,
                        blocks: list[dict[str, Any]] | None = None) -> list[str]:
    """Post what changed in the war room and refresh its card, topic and announcement."""
    if runtime.war_room is None:
        return []
    # Imported with a war room only: the CLI without Slack never renders for it (see app/runtime.py).
    from app.slack.warroom import refresh

    problems = await _post(runtime, incident, post, blocks) if post or blocks else []
    return problems + await refresh(runtime.war_room, incident.id)


async def _post(runtime: Runtime, incident: Incident, text: str | None,
                blocks: list[dict[str, Any]] | None = None) -> list[str]:
    if runtime.war_room is None or not incident.channel_id:
        return []
    try:
        await runtime.slack.chat_postMessage(channel=incident.channel_id, text=text or "",
                                                       blocks=blocks, unfurl_links=False)
    except SlackApiError as exc:
        return [f"war-room post: {exc.response.get('error')}"]
    return []


# --- lifecycle changes, the same whichever adapter asked ------------------------------------------

def _nothing(_: Incident, __: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Change(Generic[T]):
    """One lifecycle change: what it records, and what is said about it once recorded."""

    record: Callable[[AsyncSession, Incident], Awaitable[T]]
    done: Callable[[Incident, T], str]  # for the person who asked; Slack mrkdwn (`plain()` it for a terminal)
    post: Callable[[Incident, T], str | None] = _nothing  # for the war room
    # More Slack work after the war room is up to date (the resolve handoff, a role brief); returns problems.
    follow_up: Callable[[Runtime, Incident, T], Awaitable[list[str]]] | None = None


@dataclass
class Changed:
    incident: Incident
    results: list[Any]
    done: list[str]
    problems: list[str] = field(default_factory=list)  # what Slack refused; the change itself is recorded


async def make_changes(runtime: Runtime, incident_id: int, changes: Sequence[Change[Any]],
                       recorded: Callable[[str], Awaitable[None]] | None = None) -> Changed:
    """Record the changes in one transaction (one refused: none is kept), say so, then tell Slack."""
    posts: list[str] = []

    async def record_all(session: AsyncSession, incident: Incident) -> list[Any]:
        results = []
        for change in changes:
            results.append(result := await change.record(session, incident))
            if text := change.post(incident, result):  # worded as of this change, before the next one
                posts.append(text)
        return results

    incident, results = await apply_change(runtime, incident_id, record_all)
    changed = Changed(incident, results, [c.done(incident, r) for c, r in zip(changes, results, strict=True)])
    if recorded is not None:
        await recorded(" ".join(changed.done))
    if runtime.war_room is None:
        return changed
    for text in posts[:-1]:
        changed.problems += await _post(runtime, incident, text)
    changed.problems += await sync_war_room(runtime, incident, posts[-1] if posts else None)
    for change, result in zip(changes, results, strict=True):
        if change.follow_up is not None:
            changed.problems += await change.follow_up(runtime, incident, result)
    return changed


async def make_change(runtime: Runtime, incident_id: int, change: Change[Any],
                      recorded: Callable[[str], Awaitable[None]] | None = None) -> Changed:
    return await make_changes(runtime, incident_id, [change], recorded)


def update(runtime: Runtime, text: str, status: Status | None, actor: Actor) -> Change[None]:
    """A status update: on the timeline, posted in the war room, summarised in the announcement."""
    return Change(
        lambda s, i: lifecycle.post_update(s, i, text, status, actor, runtime.config, utcnow()),
        lambda i, _: f"Update posted for {i.public_id}.",
        lambda i, _: f":loudspeaker: *Status update* ({i.status}) from {mention(actor.user_id)}: {escape(text)}",
    )


def severity(runtime: Runtime, level: str, reason: str | None, actor: Actor) -> Change[str]:
    return Change(
        lambda s, i: lifecycle.change_severity(s, i, level, reason, actor, runtime.config, utcnow()),
        lambda i, _: f"{i.public_id} is now {i.severity}.",
        lambda i, previous: f":rotating_light: Severity changed {previous} → *{i.severity}* by "
                            f"{mention(actor.user_id)}" + (f": {escape(reason)}" if reason else ""),
    )


def resolve(runtime: Runtime, summary: str | None, actor: Actor) -> Change[None]:
    """Resolve; with a war room, the incident commander's handoff is posted there."""
    return Change(
        lambda s, i: lifecycle.resolve(s, i, summary, actor, utcnow()),
        lambda i, _: f"{i.public_id} resolved." + (" The handoff is in the war room."
                                                   if runtime.war_room and i.channel_id else ""),
        follow_up=_post_handoff,
    )


async def _post_handoff(runtime: Runtime, incident: Incident, _: None) -> list[str]:
    if runtime.war_room is None or not incident.channel_id:
        return []
    from agents.incident_commander import handoff
    from app.slack.render import commander

    report = handoff(incident, utcnow())
    try:
        await runtime.slack.chat_postMessage(
            channel=incident.channel_id, text=commander.handoff_text(report), blocks=commander.handoff_blocks(report))
    except SlackApiError as exc:
        log.warning("posting the handoff for %s failed: %s", incident.public_id, exc.response.get("error"))
        return [f"handoff: {exc.response.get('error')}"]
    return []


def reopen(runtime: Runtime, actor: Actor) -> Change[None]:
    return Change(
        lambda s, i: lifecycle.reopen(s, i, actor, runtime.config, utcnow()),
        lambda i, _: f"{i.public_id} reopened.",
        lambda i, _: f":warning: {i.public_id} reopened by {mention(actor.user_id)}.",
    )


def close(actor: Actor) -> Change[None]:
    return Change(
        lambda s, i: lifecycle.close(s, i, actor, utcnow()),
        lambda i, _: f"{i.public_id} closed.",
        lambda i, _: f":lock: {i.public_id} closed by {mention(actor.user_id)}.",
    )


def note(text: str, actor: Actor) -> Change[TimelineEvent]:
    return Change(
        lambda s, i: lifecycle.add_note(s, i, text, actor, utcnow()),
        lambda i, _: f"Noted on the {i.public_id} timeline.",
    )


def assign(role: RoleSpec, user_id: str, actor: Actor) -> Change[Assigned]:
    """Assign (or hand off) a role; a Slack user is then briefed by DM."""
    return Change(
        lambda s, i: lifecycle.assign_role(s, i, role, user_id, actor, utcnow()),
        lambda i, _: f"{mention(user_id)} is now {role.name} for {i.public_id}.",
        lambda i, a: (f":handshake: {role.name} handed off from {mention(a.previous)} to {mention(user_id)}."
                      if a.previous else f":bust_in_silhouette: {mention(user_id)} is now {role.name}."),
        follow_up=_brief,
    )


async def _brief(runtime: Runtime, incident: Incident, assigned: Assigned) -> list[str]:
    if runtime.war_room is None or not SLACK_USER_ID.match(assigned.user_id):
        return []  # someone named outside Slack: nobody to send the brief to
    brief = (f"You are *{assigned.role.name}* for *{incident.public_id}*: {escape(incident.title)} "
             f"({incident.severity}, {incident.status}). War room: <#{incident.channel_id}>\n\n{assigned.role.brief}")
    try:
        await runtime.slack.chat_postMessage(channel=assigned.user_id, text=brief)
    except SlackApiError as exc:
        return [f"role brief DM to {mention(assigned.user_id)}: {exc.response.get('error')}"]
    return []


async def check_assignee(runtime: Runtime, user_id: str) -> str | None:
    """Why this Slack user can't take a role, or None. Without Slack there is nobody to ask."""
    if runtime.war_room is None or not SLACK_USER_ID.match(user_id):
        return None
    try:
        user = (await runtime.slack.users_info(user=user_id))["user"]
    except SlackApiError as exc:
        if exc.response.get("error") == "user_not_found":
            return f"I can't find {mention(user_id)} in this workspace."
        return f"I couldn't look up {mention(user_id)} in Slack ({exc.response.get('error')}); nothing changed."
    if user.get("is_bot") or user.get("deleted"):
        return f"{mention(user_id)} can't hold an incident role (a bot or a deactivated account)."
    return None


class UnknownName(ValueError):
    """A change names a severity or a role the team config does not have; the message lists the ones it has."""


def role_named(runtime: Runtime, name: str) -> RoleSpec:
    role = runtime.config.role(name)
    if role is None:
        raise UnknownName(f"Unknown role `{escape(name)}`. Roles: {', '.join(r.name for r in runtime.config.roles)}.")
    return role


def severity_named(runtime: Runtime, name: str) -> str:
    level = runtime.config.severity(name)
    if level is None:
        raise UnknownName(f"Unknown severity {name.upper()}. Use one of {', '.join(runtime.config.severity_names)}.")
    return level.name
