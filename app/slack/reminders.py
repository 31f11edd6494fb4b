"""Reminding war rooms of overdue status updates (the schedule is in app.incidents.reminders)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import aiohttp
from slack_sdk.errors import SlackApiError

from app.config import TeamConfig
from app.db.base import utcnow
from app.incidents import service
from app.incidents.models import Incident, Role
from app.incidents.reminders import cadence, claim_reminder, due_reminders
from app.slack.blocks import mention

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

REMINDER_KIND = "reminder"


def reminder_text(incident: Incident, config: TeamConfig) -> str:
    """Who is nudged: Communications owns updates; without one, the Incident Commander."""
    owner = incident.active_holder(Role.COMMUNICATIONS) or incident.active_holder(Role.INCIDENT_COMMANDER)
    minutes = config.update_cadence(incident.severity)
    who = f"{mention(owner)} a" if owner else "A"
    return (f"{who} status update for {incident.public_id} is overdue ({incident.severity} cadence: every "
            f"{minutes} min). Post one with `/incident update <text>`.")


async def _remind(runtime: Runtime, incident: Incident, now: datetime) -> bool:
    """Claim, then post, then record; a reminder Slack refuses is logged and not retried until next cadence."""
    assert runtime.slack is not None and incident.next_update_due is not None and incident.channel_id is not None
    every = cadence(incident, runtime.config)
    async with runtime.sessions() as session, session.begin():
        claimed = await claim_reminder(session, incident.id, incident.next_update_due,
                                       now + every if every is not None else None)
    if not claimed or every is None:
        return False
    text = reminder_text(incident, runtime.config)
    try:
        await runtime.slack.chat_postMessage(channel=incident.channel_id, text=text)
    except SlackApiError as exc:
        log.warning("update reminder for %s not posted: %s", incident.public_id, exc.response.get("error"))
        return False
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("update reminder for %s not posted: Slack unreachable (%s)", incident.public_id,
                    type(exc).__name__)
        return False
    async with runtime.sessions() as session, session.begin():
        await service.add_event(session, incident, kind=REMINDER_KIND, text=text, occurred_at=now,
                                dedup_key=f"reminder:{incident.next_update_due.isoformat()}")
    return True


async def remind_overdue_updates(runtime: Runtime) -> int:
    """Remind every war room whose status update is overdue; returns how many reminders were sent."""
    if runtime.slack is None:
        return 0
    now = utcnow()
    async with runtime.sessions() as session:
        due = await due_reminders(session, now)
    sent = 0
    for incident in due:
        sent += await _remind(runtime, incident, now)
    return sent
