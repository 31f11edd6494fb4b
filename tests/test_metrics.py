"""The application's own metrics, as Prometheus scrapes them from GET /metrics."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.db.migrate import upgrade
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.prometheus import RunningPrometheus, require_prometheus
from tests.support import AppServer, SlackSender, ack_text


def samples(server: AppServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200 and not response.history  # /metrics itself: no redirect to /metrics/
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(seen: dict, name: str, **labels: str) -> float:
    return seen.get((name, frozenset(labels.items())), 0.0)


def test_requests_slack_calls_agent_runs_and_set_up_steps_are_measured(tmp_path: Path, slack: FakeSlack) -> None:
    url = f"sqlite:///{tmp_path}/incidentbot.db"
    upgrade(url)
    env = {"DATABASE_URL": url, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": "test-signing-secret",
           "SLACK_API_URL": slack.url}
    with AppServer(env) as server:
        before = samples(server)  # the registry is the process's: count what this test adds
        slack.fail("pins.add", "channel_not_found")
        sender = SlackSender(server.url, "test-signing-secret", slack)
        public_id = ack_text(sender.command("declare SEV2 Checkout failing")).split("*")[1]
        wait_for(lambda: slack.calls_to("chat.postMessage") and slack.channel_by_name("incidents")
                 and slack.messages(slack.channel_by_name("incidents")["id"]), what="announcement")
        api = server.api()
        ran = api.post(f"{server.url}/api/v1/agents/incident-commander/run",
                       json={"prompt": "status?", "incident": public_id})
        assert ran.status_code == 200, ran.text
        api.get(f"{server.url}/api/v1/incidents/{public_id}")
        httpx.get(f"{server.url}/no/such/page")
        after = samples(server)

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    seconds = "incidentbot_http_request_duration_seconds_count"
    assert added(seconds, method="POST", route="/slack/events", status="200") == 1
    assert added(seconds, method="GET", route="/api/v1/incidents/{public_id}", status="200") == 1
    assert added(seconds, method="GET", route="unmatched", status="404") == 1
    assert added("incidentbot_slack_api_calls_total", method="conversations.create") == 1
    assert added("incidentbot_slack_api_calls_total", method="pins.add") == 1
    assert added("incidentbot_slack_api_errors_total", method="pins.add", error="channel_not_found") == 1
    assert added("incidentbot_slack_api_errors_total", method="conversations.create", error="channel_not_found") == 0
    assert added("incidentbot_war_room_steps_total", step="create_channel", outcome="done") == 1
    assert added("incidentbot_war_room_steps_total", step="pin_card", outcome="failed") == 1
    assert added("incidentbot_agent_run_duration_seconds_count", agent="incident-commander",
                 mode="deterministic") == 1


def test_a_real_prometheus_scrapes_the_service(tmp_path: Path) -> None:
    prometheus, promtool = require_prometheus()
    url = f"sqlite:///{tmp_path}/incidentbot.db"
    upgrade(url)
    with AppServer({"DATABASE_URL": url}) as server:
        exposition = httpx.get(f"{server.url}/metrics").text
        lint = subprocess.run([str(promtool), "check", "metrics"], input=exposition, capture_output=True,
                              text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr  # names, types and HELP as Prometheus expects
        target = server.url.removeprefix("http://")
        config = ("global: {scrape_interval: 1s}\n"
                  f"scrape_configs: [{{job_name: incidentbot, static_configs: [{{targets: ['{target}']}}]}}]\n")
        data = tmp_path / "tsdb"
        data.mkdir()
        with RunningPrometheus(data, prometheus, config) as running:
            def scraped() -> list:
                query = 'incidentbot_http_request_duration_seconds_count{route="/metrics"}'
                found = httpx.get(f"{running.url}/api/v1/query", params={"query": query}).json()
                return found["data"]["result"]
            [series] = wait_for(scraped, what="Prometheus scraped /metrics", timeout=30)
            assert series["metric"]["job"] == "incidentbot" and float(series["value"][1]) >= 1
