"""Reminding owners of overdue action items by DM, once a day (the query and claim are in app.action_items)."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

import aiohttp
from slack_sdk.errors import SlackApiError

from app.action_items import service
from app.action_items.models import ActionItem
from app.incidents.models import Incident
from app.incidents.render import SLACK_USER_ID
from app.slack.blocks import escape

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)


def reminder_text(item: ActionItem, number: int, public_id: str) -> str:
    assert item.due_on is not None
    return (f"Action item #{number} for {public_id} is overdue (due {item.due_on.isoformat()}): {escape(item.text)}"
            f"\nWhen it's done: `/incident action {public_id} done {number}`")


async def _remind(runtime: Runtime, item: ActionItem, today: date) -> bool:
    """Claim, then DM; a DM Slack refuses is logged and keeps the claim, so it is tried again tomorrow."""
    assert runtime.slack is not None and item.owner is not None
    async with runtime.sessions() as session, session.begin():
        if not await service.claim_reminder(session, item.id, today):
            return False
        incident = await session.get(Incident, item.incident_id)
        number = await service.number_of(session, item)
    assert incident is not None
    try:
        await runtime.slack.chat_postMessage(channel=item.owner, text=reminder_text(item, number, incident.public_id))
    except SlackApiError as exc:
        log.warning("overdue reminder for %s action item #%s not sent: %s", incident.public_id, number,
                    exc.response.get("error"))
        return False
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("overdue reminder for %s action item #%s not sent: Slack unreachable (%s)",
                    incident.public_id, number, type(exc).__name__)
        return False
    return True


async def remind_overdue_actions(runtime: Runtime, today: date) -> int:
    """DM the owner of each overdue action item, at most once a day across replicas; returns how many were sent.

    Owners that are not Slack users (a team handle such as "@sre-team" from a postmortem) have no
    DM to receive one and are skipped.
    """
    if runtime.slack is None:
        return 0
    async with runtime.sessions() as session:
        due = await service.overdue(session, today)
    sent = 0
    for item in due:
        if item.owner and SLACK_USER_ID.match(item.owner):
            sent += await _remind(runtime, item, today)
    return sent
