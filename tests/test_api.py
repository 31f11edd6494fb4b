"""REST API and probes over real HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from tests.support import AppServer


def test_declare_list_and_show_over_the_api(server: AppServer, db: Engine) -> None:
    api = server.api()
    created = api.post(f"{server.url}/api/v1/incidents",
                         json={"title": "Search results empty", "severity": "sev3", "declared_by": "carol"})
    assert created.status_code == 201, created.text
    public_id = created.json()["id"]
    assert created.json()["severity"] == "SEV3"
    listed = api.get(f"{server.url}/api/v1/incidents").json()
    assert [i["id"] for i in listed] == [public_id]
    shown = api.get(f"{server.url}/api/v1/incidents/{public_id.lower()}").json()
    assert shown["declared_by"] == "api:carol"
    assert shown["roles"][0]["role"] == "Incident Commander"
    assert shown["timeline"][0]["text"] == "Incident declared (SEV3)"


def test_api_errors_are_json_and_change_nothing(server: AppServer) -> None:
    api = server.api()
    bad = api.post(f"{server.url}/api/v1/incidents", json={"title": "Down", "severity": "SEV9"})
    assert bad.status_code == 400 and bad.json() == {
        "error": "Unknown severity SEV9. Use one of SEV1, SEV2, SEV3, SEV4, SEV5."}
    empty = api.post(f"{server.url}/api/v1/incidents", json={"title": ""})
    assert empty.status_code == 422 and "title" in empty.json()["error"]
    missing = api.get(f"{server.url}/api/v1/incidents/INC-2020-0101-001")
    assert missing.status_code == 404 and "No incident" in missing.json()["error"]
    assert api.get(f"{server.url}/api/v1/incidents").json() == []


def test_probes_and_metrics(server: AppServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready", "database": "ok"}
    server.api().post(f"{server.url}/api/v1/incidents", json={"title": "Queue backlog", "severity": "SEV4"})
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200 and not response.history  # served at /metrics itself, no redirect
    metrics = response.text
    assert 'incidentbot_incidents_declared_total{severity="SEV4",source="api"}' in metrics


def test_slack_endpoint_without_slack_configured_says_how_to_enable_it(database_url: str) -> None:
    with AppServer({"DATABASE_URL": database_url}) as server:
        response = httpx.post(f"{server.url}/slack/events", content="x")
    assert response.status_code == 503
    assert "SLACK_BOT_TOKEN" in response.json()["error"]
