"""`@incidentbot why ...?` in a war room: an RCA from the incident's own telemetry, posted in thread and kept.

The seed's Payment API incident is replayed: declared through a signed slash command, its notes added the same
way, then moved back in time (every recorded time shifted by the same amount) to when the scenario's telemetry
says it happened. Prometheus is real; Loki, Kubernetes and Slack are wire-level fakes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select, update

from app.agent_runs.models import AgentRun
from app.incidents.models import Incident, TimelineEvent
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.scenarios.harness import scenario_environment
from tests.scenarios.loader import Scenario, load
from tests.support import AppServer, SlackSender
from tests.test_events import declared, deliver, mention

SCENARIO = "pool-leak-after-flag"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load(SCENARIO)


@pytest.fixture
def rca_server(app_env: dict[str, str], scenario: Scenario, tmp_path: Path) -> Iterator[AppServer]:
    config = tmp_path / "incidentbot.yml"
    config.write_text(yaml.safe_dump({"services": [
        {"name": "payments", "aliases": ["payment api"], "observability": {"namespace": "prod"}}]}))
    with scenario_environment(scenario, tmp_path) as tools, \
            AppServer({**app_env, **tools, "INCIDENTBOT_CONFIG": str(config)}) as running:
        yield running


@pytest.fixture
def rca_sender(rca_server: AppServer, slack: FakeSlack) -> SlackSender:
    return SlackSender(rca_server.url, "test-signing-secret", slack)


def replay_at(db: Engine, public_id: str, declared_at: datetime) -> None:
    """Move an incident and its timeline back in time, keeping every interval as recorded."""
    with db.begin() as c:
        incident_id, was = c.execute(select(Incident.id, Incident.declared_at)
                                     .where(Incident.public_id == public_id)).one()
        shift = declared_at - was.replace(tzinfo=UTC)
        c.execute(update(Incident).where(Incident.id == incident_id).values(declared_at=declared_at))
        for event_id, at in c.execute(select(TimelineEvent.id, TimelineEvent.occurred_at)
                                      .where(TimelineEvent.incident_id == incident_id)).all():
            c.execute(update(TimelineEvent).where(TimelineEvent.id == event_id)
                      .values(occurred_at=at.replace(tzinfo=UTC) + shift))


def test_why_in_a_war_room_gets_the_root_cause_in_thread_and_keeps_it(
        rca_sender: SlackSender, slack: FakeSlack, db: Engine, scenario: Scenario) -> None:
    public_id, room = declared(rca_sender, db, "SEV2 Payment API returning 500 errors")
    rca_sender.command("note Feature flag async-payment-processing enabled for 100% of traffic at 14:15",
                       channel=room)
    rca_sender.command("note Feature flag async-payment-processing disabled at 14:45", channel=room)
    replay_at(db, public_id, scenario.incident.declared_at)

    asked = mention(rca_sender, slack, room, "why are payments failing?")
    first, answer = wait_for(lambda: (r := [m for m in slack.messages(room) if m.get("thread_ts") == asked])
                             and len(r) >= 2 and r, timeout=30, what="the analysis")
    assert first["text"] == f":mag: Investigating {public_id}… (rca-agent)"
    blocks = json.dumps(answer["blocks"])
    for expected in ("Root Cause Analysis: Payment API returning 500 errors", "connection pool",
                     "async-payment-processing", "T-15min (14:15)", "Five whys", "Recommendations"):
        assert expected in blocks, expected

    with db.connect() as c:
        runs = c.execute(select(AgentRun.agent, AgentRun.result, AgentRun.markdown)).all()
        kinds = c.scalars(select(TimelineEvent.kind).join(Incident)
                          .where(Incident.public_id == public_id)).all()
    [(agent, result, markdown)] = runs
    assert agent == "rca-agent" and result["cause"] == "connection-pool-exhaustion"
    assert result["trigger"]["subject"] == "async-payment-processing"
    assert markdown.startswith("## Root Cause Analysis: Payment API returning 500 errors")
    assert kinds.count("agent_result") == 1


def test_a_redelivered_mention_is_investigated_once(rca_sender: SlackSender, slack: FakeSlack, db: Engine,
                                                    scenario: Scenario) -> None:
    public_id, room = declared(rca_sender, db, "SEV2 Payment API returning 500 errors")
    replay_at(db, public_id, scenario.incident.declared_at)
    said = f"<@{slack.bot_user_id}> what caused this?"
    ts = slack.post_as_user(room, "U0BOB", said)
    deliver(rca_sender, slack, room, said, ts, "EvRCA0001")
    wait_for(lambda: len([m for m in slack.messages(room) if m.get("thread_ts") == ts]) >= 2, timeout=30,
             what="the analysis")
    deliver(rca_sender, slack, room, said, ts, "EvRCA0001", retry=True)
    with db.connect() as c:
        assert c.scalar(select(AgentRun.id).where(AgentRun.agent == "rca-agent")) is not None
        assert len(c.execute(select(AgentRun.id)).all()) == 1
    assert len([m for m in slack.messages(room) if m.get("thread_ts") == ts]) == 2


def test_a_war_room_without_telemetry_still_gets_an_honest_answer(sender: SlackSender, slack: FakeSlack,
                                                                   db: Engine) -> None:
    _, room = declared(sender, db, "SEV3 Search API slow")
    asked = mention(sender, slack, room, "why is search slow?")
    answer = wait_for(lambda: (r := [m for m in slack.messages(room) if m.get("thread_ts") == asked])
                      and len(r) >= 2 and r[1], timeout=30, what="the analysis")
    blocks = json.dumps(answer["blocks"])
    assert "No cause for the search incident could be established" in blocks
    assert "No observability tool is configured" in blocks


def test_the_api_runs_an_agent_and_serves_the_stored_analysis(rca_sender: SlackSender, rca_server: AppServer,
                                                              db: Engine, scenario: Scenario) -> None:
    http = rca_server.api()
    public_id, _ = declared(rca_sender, db, "SEV2 Payment API returning 500 errors")
    replay_at(db, public_id, scenario.incident.declared_at)
    api = f"{rca_server.url}/api/v1"
    missing = http.get(f"{api}/incidents/{public_id}/rca")
    assert missing.status_code == 404 and "No root-cause analysis" in missing.json()["error"]

    ran = http.post(f"{api}/agents/rca-agent/run", json={"prompt": "why?", "incident": public_id}, timeout=30)
    assert ran.status_code == 200, ran.text
    assert ran.json()["result"]["cause"] == "connection-pool-exhaustion" and ran.json()["mode"] == "deterministic"
    stored = http.get(f"{api}/incidents/{public_id}/rca").json()
    assert stored["markdown"] == ran.json()["markdown"] and stored["agent"] == "rca-agent"

    unknown = http.post(f"{api}/agents/nope/run", json={"prompt": "why?"})
    assert unknown.status_code == 404 and unknown.json()["error"].startswith("No agent 'nope'")
    no_incident = http.post(f"{api}/agents/rca-agent/run", json={"prompt": "why?", "incident": "INC-1999-0101-001"})
    assert no_incident.status_code == 404 and "no incident INC-1999-0101-001" in no_incident.json()["error"]
    empty = http.post(f"{api}/agents/rca-agent/run", json={"prompt": ""})
    assert empty.status_code == 422 and "prompt" in empty.json()["error"]
