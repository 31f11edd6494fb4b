"""PagerDuty through its official client: Events API v2 to page, REST API v2 to see who is on call and add responders.

The `pagerduty` clients are synchronous (httpx2), so each call runs in a worker thread. Their own retries are
kept short (a couple of quick tries on 429 and 5xx); the escalation outbox retries for longer, across restarts.
Failures come out as two kinds: `PagingUnavailable` (try again later) and `PagingRefused` (a person must fix
something: the key, the routing key, an id).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pagerduty

from app.settings import Settings

log = logging.getLogger(__name__)

# Events API severities, from our most severe to least.
EVENT_SEVERITY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning"}
QUICK_RETRIES = {429: 2, 500: 1, 502: 1, 503: 1, 504: 1}


class PagingError(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


class PagingUnavailable(PagingError):
    """PagerDuty is down, unreachable or rate limiting: keep the page and try again."""


class PagingRefused(PagingError):
    """PagerDuty refused the request as made (a wrong key, an unknown id): keep it, and tell people."""


@dataclass(frozen=True)
class OnCall:
    user_id: str
    name: str
    email: str | None
    level: int


def _classify(error: pagerduty.Error, doing: str) -> PagingError:
    response = error.response
    if response is None:
        return PagingUnavailable(f"{doing}: PagerDuty unreachable")
    status = response.status_code
    if status == 429 or status >= 500:
        return PagingUnavailable(f"{doing}: PagerDuty answered {status}", status)
    detail = _detail(response)
    if status in (401, 403):
        return PagingRefused(f"{doing}: PagerDuty refused the credentials ({status}{detail})", status)
    return PagingRefused(f"{doing}: PagerDuty answered {status}{detail}", status)


def _detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        errors = body.get("errors") or (body.get("error") or {}).get("errors") or []
        message = body.get("message") or (body.get("error") or {}).get("message")
        text = "; ".join(str(e) for e in errors) or message
        return f": {text}" if text else ""
    return ""


class PagerDuty:
    """One per process; either half may be missing (no routing key: no paging; no API key: no look-ups)."""

    def __init__(self, settings: Settings) -> None:
        first_wait = settings.pagerduty_retry_seconds
        self.events = self.rest = None
        if settings.pagerduty_routing_key is not None:
            self.events = pagerduty.EventsApiV2Client(settings.pagerduty_routing_key.get_secret_value(),
                                                      base_url=settings.pagerduty_events_url)
            self._tune(self.events, first_wait)
        if settings.pagerduty_api_key is not None:
            self.rest = pagerduty.RestApiV2Client(settings.pagerduty_api_key.get_secret_value(),
                                                  default_from=settings.pagerduty_from_email,
                                                  base_url=settings.pagerduty_api_url)
            self._tune(self.rest, first_wait)
        self.from_email = settings.pagerduty_from_email
        self._requester_id: str | None = None

    @staticmethod
    def _tune(client: pagerduty.ApiClient, first_wait: float) -> None:
        # The client waits sleep_timer * 2 before its first retry and doubles it after; unbounded on 429 by default.
        client.retry = dict(QUICK_RETRIES)
        client.sleep_timer = first_wait / 4
        client.max_network_attempts = 1
        client.timeout = 10.0

    async def _call(self, doing: str, work: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(work, *args, **kwargs)
        except pagerduty.Error as error:
            raise _classify(error, doing) from None

    # --- Events API v2 -------------------------------------------------------------------------

    async def trigger(self, dedup_key: str, summary: str, severity: str, details: dict[str, Any],
                      links: list[dict[str, str]]) -> str:
        assert self.events is not None
        return str(await self._call(
            "paging", self.events.trigger, summary[:1024], "incidentbot", dedup_key=dedup_key,
            severity=EVENT_SEVERITY.get(severity, "info"), custom_details=details, links=links or None))

    async def send(self, action: str, dedup_key: str) -> None:
        """acknowledge or resolve the alert we triggered."""
        assert self.events is not None
        await self._call(f"sending {action}", self.events.send_event, action, dedup_key=dedup_key)

    # --- REST API v2 ---------------------------------------------------------------------------

    async def on_call(self, *, escalation_policy: str | None = None, schedule: str | None = None) -> list[OnCall]:
        """Who is on call now at the first level of an escalation policy, or on a schedule."""
        assert self.rest is not None
        params: dict[str, Any] = {"earliest": "true", "include": ["users"]}
        if escalation_policy:
            params["escalation_policy_ids"] = [escalation_policy]
        if schedule:
            params["schedule_ids"] = [schedule]
        entries = await self._call("looking up who is on call", self.rest.list_all, "/oncalls", params=params)
        if not entries:
            return []
        first = min(int(e.get("escalation_level") or 1) for e in entries)
        people: dict[str, OnCall] = {}
        for entry in entries:
            user = entry.get("user") or {}
            if int(entry.get("escalation_level") or 1) == first and user.get("id"):
                people.setdefault(user["id"], OnCall(user["id"], user.get("name") or user.get("summary") or user["id"],
                                                     user.get("email"), first))
        return list(people.values())

    async def incident_id(self, dedup_key: str) -> str | None:
        """Our alert's PagerDuty incident, found by its incident key (our incident id)."""
        assert self.rest is not None
        found = await self._call("finding the PagerDuty incident", self.rest.list_all, "/incidents",
                                 params={"incident_key": dedup_key})
        return str(found[0]["id"]) if found else None

    async def incident_key(self, incident_id: str) -> str | None:
        assert self.rest is not None
        incident = await self._call("reading the PagerDuty incident", self.rest.rget, f"/incidents/{incident_id}")
        return incident.get("incident_key") if isinstance(incident, dict) else None

    async def add_responders(self, incident_id: str, targets: list[dict[str, str]], message: str) -> None:
        assert self.rest is not None
        requester = await self._requester()
        body = {"requester_id": requester, "message": message[:1000],
                "responder_request_targets": [{"responder_request_target": t} for t in targets]}
        await self._call("adding responders", self.rest.rpost, f"/incidents/{incident_id}/responder_requests",
                         json=body)

    async def _requester(self) -> str:
        """Responder requests are made as a PagerDuty user: the one PAGERDUTY_FROM_EMAIL names."""
        if self._requester_id is None:
            assert self.rest is not None
            if not self.from_email:
                raise PagingRefused("adding responders needs PAGERDUTY_FROM_EMAIL (a PagerDuty user's email)")
            users = await self._call("finding the requesting user", self.rest.list_all, "/users",
                                     params={"query": self.from_email})
            match = next((u for u in users if str(u.get("email", "")).lower() == self.from_email.lower()), None)
            if match is None:
                raise PagingRefused(f"no PagerDuty user has the email {self.from_email} (PAGERDUTY_FROM_EMAIL)")
            self._requester_id = str(match["id"])
        return self._requester_id

    def close(self) -> None:
        for client in (self.events, self.rest):
            if client is not None:
                client.close()
