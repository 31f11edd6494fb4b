"""A fake PagerDuty on loopback TLS: Events API v2 and the REST API v2 parts incidentbot uses.

The official `pagerduty` client only speaks https, so the fake serves a certificate from a throwaway CA
(trustme); point SSL_CERT_FILE at `ca_file` and the real client trusts it. Events: `POST /v2/enqueue`
answers 202 with the dedup key, 400 for an invalid event or routing key, 429 when told to. REST: `GET /oncalls`
(by escalation policy or schedule, `include[]=users`), `GET /incidents` (by `incident_key`),
`GET /incidents/{id}`, `POST /incidents/{id}/responder_requests` (needs `From`), `GET /users` (by `query`),
all behind `Authorization: Token token=...` (401 otherwise). `fail_next` injects 401, 429 or 5xx.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import trustme
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.fakes.loopback import LoopbackFake

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
PAYLOAD_SEVERITIES = ("critical", "error", "warning", "info")


class FakePagerDuty(LoopbackFake):
    service = "pagerduty"
    scheme = "https"

    def __init__(self, directory: Path, *, routing_key: str = "R0UTINGKEY0123456789abcdef012345",
                 api_key: str = "u+fake-pagerduty-token") -> None:
        self.routing_key, self.api_key = routing_key, api_key
        self.ca = trustme.CA()
        self.ca_file = directory / "pagerduty-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self._cert_file, self._key_file = directory / "pagerduty-cert.pem", directory / "pagerduty-key.pem"
        self._cert.cert_chain_pems[0].write_to_path(str(self._cert_file))
        self._cert.private_key_pem.write_to_path(str(self._key_file))
        self.state_lock = threading.RLock()
        self.events: list[dict[str, Any]] = []  # every accepted event, in order
        self.incidents: dict[str, dict[str, Any]] = {}  # PagerDuty incident id -> incident
        self.oncalls: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.responder_requests: list[dict[str, Any]] = []
        super().__init__()

    def server_options(self) -> dict[str, Any]:
        return {"ssl_certfile": str(self._cert_file), "ssl_keyfile": str(self._key_file)}

    # --- set-up -------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, email: str) -> None:
        with self.state_lock:
            self.users[user_id] = {"id": user_id, "type": "user", "name": name, "summary": name, "email": email,
                                   "self": f"https://api.pagerduty.com/users/{user_id}"}

    def put_on_call(self, user_id: str, *, escalation_policy: str | None = None, schedule: str | None = None,
                    level: int = 1) -> None:
        with self.state_lock:
            self.oncalls.append({"user_id": user_id, "escalation_policy": escalation_policy, "schedule": schedule,
                                 "escalation_level": level})

    def triggers(self) -> list[dict[str, Any]]:
        with self.state_lock:
            return [e for e in self.events if e["event_action"] == "trigger"]

    def actions(self) -> list[tuple[str, str]]:
        with self.state_lock:
            return [(e["event_action"], e.get("dedup_key", "")) for e in self.events]

    def incident_for(self, dedup_key: str) -> dict[str, Any] | None:
        with self.state_lock:
            return next((i for i in self.incidents.values() if i["incident_key"] == dedup_key), None)

    # --- wire ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v2/enqueue", self._enqueue, methods=["POST"]),
            Route("/oncalls", self._oncalls, methods=["GET"]),
            Route("/incidents", self._list_incidents, methods=["GET"]),
            Route("/incidents/{id}", self._get_incident, methods=["GET"]),
            Route("/incidents/{id}/responder_requests", self._responder_request, methods=["POST"]),
            Route("/users", self._list_users, methods=["GET"]),
        ]

    def intercept(self, request: Request) -> Response | None:
        if request.url.path.startswith("/v2/"):
            return None  # the Events API authenticates by the routing key in the body
        if request.headers.get("authorization") != f"Token token={self.api_key}":
            return JSONResponse({"error": {"message": "Unauthorized", "code": 2006}}, 401)
        return None

    async def _enqueue(self, request: Request) -> Response:
        try:
            event = json.loads(await request.body())
        except ValueError:
            return _invalid("Event object is invalid", "Malformed JSON")
        if event.get("routing_key") != self.routing_key:
            return _invalid("Event object is invalid", "Invalid routing key")
        action = event.get("event_action")
        if action not in EVENT_ACTIONS:
            return _invalid("Event object is invalid", "'event_action' is missing or invalid")
        if action == "trigger":
            payload = event.get("payload") or {}
            missing = [k for k in ("summary", "source", "severity") if not payload.get(k)]
            if missing or payload.get("severity") not in PAYLOAD_SEVERITIES:
                return _invalid("Event object is invalid", f"'payload' is invalid: {missing or 'severity'}")
            dedup = str(event.get("dedup_key") or uuid.uuid4().hex)
            event["dedup_key"] = dedup
        elif not event.get("dedup_key"):
            return _invalid("Event object is invalid", "'dedup_key' is required")
        with self.state_lock:
            self.events.append(event)
            self._apply(event)
        return JSONResponse({"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]},
                            202)

    def _apply(self, event: dict[str, Any]) -> None:
        existing = self.incident_for(event["dedup_key"])
        if event["event_action"] == "trigger" and existing is None:
            incident_id = "Q" + uuid.uuid4().hex[:13].upper()
            self.incidents[incident_id] = {"id": incident_id, "type": "incident", "incident_key": event["dedup_key"],
                                           "title": event["payload"]["summary"], "status": "triggered"}
        elif existing is not None and event["event_action"] != "trigger":
            existing["status"] = {"acknowledge": "acknowledged", "resolve": "resolved"}[event["event_action"]]

    async def _oncalls(self, request: Request) -> Response:
        policies = request.query_params.getlist("escalation_policy_ids[]")
        schedules = request.query_params.getlist("schedule_ids[]")
        with_users = "users" in request.query_params.getlist("include[]")
        with self.state_lock:
            rows = [o for o in self.oncalls
                    if (not policies or o["escalation_policy"] in policies)
                    and (not schedules or o["schedule"] in schedules)]
            entries = [{"escalation_level": o["escalation_level"],
                        "escalation_policy": {"id": o["escalation_policy"], "type": "escalation_policy_reference"},
                        "schedule": {"id": o["schedule"], "type": "schedule_reference"} if o["schedule"] else None,
                        "user": (dict(self.users[o["user_id"]]) if with_users else
                                 {"id": o["user_id"], "type": "user_reference",
                                  "summary": self.users[o["user_id"]]["name"]}),
                        "start": None, "end": None} for o in rows]
        return _page(request, "oncalls", entries)

    async def _list_incidents(self, request: Request) -> Response:
        key = request.query_params.get("incident_key")
        with self.state_lock:
            found = [dict(i) for i in self.incidents.values() if key is None or i["incident_key"] == key]
        return _page(request, "incidents", found)

    async def _get_incident(self, request: Request) -> Response:
        with self.state_lock:
            incident = self.incidents.get(request.path_params["id"])
        if incident is None:
            return JSONResponse({"error": {"message": "Not Found", "code": 2100}}, 404)
        return JSONResponse({"incident": dict(incident)})

    async def _responder_request(self, request: Request) -> Response:
        if not request.headers.get("from"):
            return JSONResponse({"error": {"message": "Invalid Input Provided", "code": 2001,
                                           "errors": ["The From header is required"]}}, 400)
        body = json.loads(await request.body())
        with self.state_lock:
            if request.path_params["id"] not in self.incidents:
                return JSONResponse({"error": {"message": "Not Found", "code": 2100}}, 404)
            if body.get("requester_id") not in self.users or not body.get("responder_request_targets"):
                return JSONResponse({"error": {"message": "Invalid Input Provided", "code": 2001,
                                               "errors": ["requester_id and targets are required"]}}, 400)
            self.responder_requests.append({"incident": request.path_params["id"], **body})
        return JSONResponse({"responder_request": {"incident": {"id": request.path_params["id"]},
                                                   "requester": {"id": body["requester_id"]},
                                                   "message": body.get("message", ""),
                                                   "responder_request_targets": body["responder_request_targets"]}})

    async def _list_users(self, request: Request) -> Response:
        query = (request.query_params.get("query") or "").lower()
        with self.state_lock:
            found = [dict(u) for u in self.users.values()
                     if query in u["name"].lower() or query in u["email"].lower()]
        return _page(request, "users", found)


def _invalid(message: str, error: str) -> JSONResponse:
    return JSONResponse({"status": "invalid event", "message": message, "errors": [error]}, 400)


def _page(request: Request, wrapper: str, items: list[dict[str, Any]]) -> JSONResponse:
    """Classic pagination: limit, offset, more."""
    limit = int(request.query_params.get("limit") or 25)
    offset = int(request.query_params.get("offset") or 0)
    page = items[offset:offset + limit]
    return JSONResponse({wrapper: page, "limit": limit, "offset": offset, "more": offset + limit < len(items),
                         "total": len(items)})
