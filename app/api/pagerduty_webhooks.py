"""Inbound PagerDuty v3 webhooks: acknowledgements (and un-acknowledgements) of the pages we sent.

Verified here and only here, before anything is read: `X-PagerDuty-Signature` carries one `v1=<hex HMAC-SHA256
of the raw body>` per signing secret (several during a rotation); one must match PAGERDUTY_WEBHOOK_SECRET.
A forged signature, or an event older than MAX_AGE (a replay), gets 401 and changes nothing. Each event id is
handled once; an event about an incident we did not page is logged and answered 202, so PagerDuty stops
retrying it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.api.errors import ErrorOut
from app.api.incidents import RuntimeDep
from app.db.base import utcnow
from app.escalations import service
from app.escalations.models import EscalationChain, EscalationNotification, EscalationStep
from app.escalations.policy import TargetType
from app.incidents import service as incidents
from app.incidents.models import Incident, ProcessedRequest
from app.integrations.pagerduty import PagingError
from app.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

MAX_AGE = timedelta(hours=1)
HANDLED = {"incident.acknowledged", "incident.unacknowledged", "incident.responder.replied"}


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in header.split(","))


def _refused(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=401)


class WebhookOut(BaseModel):
    status: Literal["recorded", "ignored"]
    reason: str | None = None


RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": WebhookOut, "description": "Accepted: recorded, or ignored with the reason"},
    400: {"model": ErrorOut, "description": "Signed, but not a PagerDuty v3 webhook event"},
    401: {"model": ErrorOut, "description": "The signature does not match, or the event is stale (a replay)"},
    413: {"model": ErrorOut, "description": "The request body is larger than INCIDENTBOT_MAX_BODY_BYTES"},
    503: {"model": ErrorOut, "description": "PAGERDUTY_WEBHOOK_SECRET is not set, or the database is unreachable"},
}


@router.post("/pagerduty", status_code=202, responses=RESPONSES)
async def pagerduty_webhook(request: Request, runtime: RuntimeDep) -> JSONResponse:
    secret = runtime.settings.pagerduty_webhook_secret
    if secret is None:
        return JSONResponse({"error": "PagerDuty webhooks are not configured: set PAGERDUTY_WEBHOOK_SECRET"},
                            status_code=503)
    body = await request.body()
    if not signature_matches(secret.get_secret_value(), body, request.headers.get("x-pagerduty-signature", "")):
        log.warning("PagerDuty webhook refused: signature does not match")
        return _refused("invalid signature")
    try:
        event = json.loads(body)["event"]
        occurred = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
        event_id, event_type = str(event["id"]), str(event["event_type"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "not a PagerDuty v3 webhook event"}, status_code=400)
    if occurred.tzinfo is None or utcnow() - occurred > MAX_AGE:
        log.warning("PagerDuty webhook %s refused: stale (%s)", event_id, event["occurred_at"])
        return _refused("stale event")
    if event_type not in HANDLED:
        return JSONResponse({"status": "ignored", "reason": f"{event_type} is not used"}, status_code=202)
    outcome = await _handle(runtime, event_id, event_type, event, occurred)
    if outcome != "recorded":
        log.info("PagerDuty webhook %s (%s) ignored: %s", event_id, event_type, outcome)
    return JSONResponse({"status": "recorded" if outcome == "recorded" else "ignored", "reason": outcome},
                        status_code=202)


async def _handle(runtime: Runtime, event_id: str, event_type: str, event: dict[str, Any],
                  occurred: datetime) -> str:
    data = event.get("data") or {}
    pagerduty_incident = str((data.get("incident") or {}).get("id") or data.get("id") or "")
    incident_id = await _our_incident(runtime, pagerduty_incident)
    if incident_id is None:
        return f"no incident of ours is PagerDuty incident {pagerduty_incident or '(none)'}"
    if event_type == "incident.responder.replied" and data.get("state") != "accepted":
        return f"responder replied {data.get('state')}"
    agent = event.get("agent") or {}
    person = data.get("user") if event_type == "incident.responder.replied" else agent
    try:
        async with runtime.sessions() as session, session.begin():
            session.add(ProcessedRequest(key=f"pagerduty:event:{event_id}"[:200]))
            await session.flush()  # a redelivered event stops here
            incident = await incidents.get_incident_by_id(session, incident_id, lock=True)
            if event_type == "incident.unacknowledged":
                await service.resume(session, incident, occurred, "the PagerDuty page was unacknowledged")
            else:
                notification = await _notification_for(session, incident, person or {}, occurred)
                if notification is None:
                    return "nobody was paged through PagerDuty for it"
                await service.acknowledge(session, incident, notification, via="pagerduty", now=occurred)
    except IntegrityError:
        return "already handled"
    runtime.kick_escalations()
    return "recorded"


async def _our_incident(runtime: Runtime, pagerduty_incident: str) -> int | None:
    """By the PagerDuty incident id we stored, else by its incident key (our id), asked of the REST API."""
    if not pagerduty_incident:
        return None
    async with runtime.sessions() as session:
        known = await session.scalar(select(EscalationChain.incident_id).where(
            EscalationChain.pagerduty_incident_id == pagerduty_incident))
    if known is not None:
        return known
    pagerduty = runtime.escalations.pagerduty
    if pagerduty is None or pagerduty.rest is None:
        return None
    try:
        key = await pagerduty.incident_key(pagerduty_incident)
    except PagingError as error:
        log.warning("PagerDuty webhook: could not read incident %s: %s", pagerduty_incident, error)
        return None
    if not key:
        return None
    async with runtime.sessions() as session, session.begin():
        incident = await session.scalar(select(Incident).where(Incident.public_id == key.upper()))
        chain = await session.get(EscalationChain, incident.id) if incident else None
        if chain is None:
            return None
        chain.pagerduty_incident_id = pagerduty_incident
        return chain.incident_id


async def _notification_for(session: Any, incident: Incident, person: dict[str, Any], at: datetime
                            ) -> EscalationNotification | None:
    """The PagerDuty-paged person who acknowledged: theirs if we recorded them, else added to the latest page."""
    steps = [s for s in await session.scalars(select(EscalationStep).where(
        EscalationStep.incident_id == incident.id, EscalationStep.fired_at.is_not(None))
        .order_by(EscalationStep.position)) if TargetType(s.target_type).is_pagerduty]
    if not steps:
        return None
    notifications = list(await session.scalars(select(EscalationNotification).where(
        EscalationNotification.step_id.in_([s.id for s in steps]))))
    user = str(person.get("id") or "")
    mine = next((n for n in notifications if user and n.person == f"pagerduty:{user}"), None)
    if mine is not None:
        return mine
    # Someone PagerDuty reached that we did not see on call (an escalation inside PagerDuty): record them.
    added = EscalationNotification(incident_id=incident.id, step_id=steps[-1].id, via="pagerduty",
                                   person=f"pagerduty:{user or 'unknown'}",
                                   person_name=str(person.get("summary") or user or "PagerDuty user"),
                                   notified_at=at)
    session.add(added)
    await session.flush()
    return added
