"""Escalation as people use it: signed slash commands and button clicks, signed PagerDuty webhooks, the CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from app.db.base import utcnow
from app.db.migrate import upgrade
from tests.conftest import wait_for
from tests.escalation_support import add_people, paging_env, write_config
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text

SECRET = "pd-webhook-secret"
# Later levels an hour out: nothing fires by itself while a test runs; escalation is by hand.
SLOW = {"escalation_policies": [{
    "name": "default", "severities": ["SEV1", "SEV2"],
    "levels": [
        {"level": "L1", "role": "On-Call Engineer", "after": "0m", "pagerduty_escalation_policy": "PABC123"},
        {"level": "L2", "role": "Team Lead", "after": "1h", "users": ["U0LEAD"]},
        {"level": "L3", "role": "Engineering Manager", "after": "2h", "users": ["U0EM"]},
        {"level": "L4", "role": "VP Engineering", "after": "3h", "users": ["U0VP"]},
    ],
    "stakeholders": [{"role": "Customer Success", "users": ["U0CS"], "severities": ["SEV1"], "with_level": "L3"}],
}]}


@pytest.fixture
def paging_server(app_env: dict[str, str], slack: FakeSlack, pagerduty: FakePagerDuty,
                  tmp_path: Path) -> Iterator[AppServer]:
    add_people(slack)
    env = {**app_env, **paging_env(pagerduty, write_config(tmp_path, SLOW)), "PAGERDUTY_WEBHOOK_SECRET": SECRET,
           "INCIDENTBOT_ESCALATION_CHECK_SECONDS": "0.1"}
    with AppServer(env) as running:
        yield running


def incident_row(db: Engine, public_id: str) -> dict:
    with db.connect() as c:
        return dict(c.execute(text("SELECT * FROM incidents WHERE public_id = :p"), {"p": public_id}).one()._mapping)


def step_states(db: Engine) -> dict[str, str]:
    with db.connect() as c:
        return dict(c.execute(text("SELECT name, state FROM escalation_steps")).all())


def declare(sender: SlackSender, db: Engine) -> tuple[str, str]:
    public_id = ack_text(sender.command("declare SEV2 Payment API returning 500 errors")).split("*")[1]
    wait_for(lambda: incident_row(db, public_id)["setup_state"] == "done", what="war room")
    return public_id, incident_row(db, public_id)["channel_id"]


def webhook(server: AppServer, event: dict, *, secret: str = SECRET, extra: str | None = None) -> httpx.Response:
    body = json.dumps({"event": event}).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    header = ",".join(s for s in (extra, signature) if s)  # a rotation sends one signature per secret
    return httpx.post(f"{server.url}/api/v1/webhooks/pagerduty", content=body, timeout=10,
                      headers={"Content-Type": "application/json", "X-PagerDuty-Signature": header})


def ack_event(pagerduty_incident: str, *, user: str = "PALICE1", minutes_ago: float = 0.0,
              event_type: str = "incident.acknowledged") -> dict:
    return {"id": uuid.uuid4().hex, "event_type": event_type, "resource_type": "incident",
            "occurred_at": (utcnow() - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z"),
            "agent": {"id": user, "type": "user_reference", "summary": "Alice Oncall"},
            "data": {"id": pagerduty_incident, "type": "incident", "status": "acknowledged"}}


def test_escalate_acknowledge_and_ask_who_was_notified_in_slack(
        paging_server: AppServer, slack: FakeSlack, pagerduty: FakePagerDuty, db: Engine) -> None:
    sender = SlackSender(paging_server.url, "test-signing-secret", slack)
    public_id, room = declare(sender, db)
    wait_for(lambda: pagerduty.triggers(), what="L1 paged on declare")
    assert pagerduty.triggers()[0]["dedup_key"] == public_id
    wait_for(lambda: any("PagerDuty paged Alice Oncall" in m["text"] for m in slack.messages(room)),
             what="the page in the war room")

    answer = ack_text(sender.command("escalate SEV1 revenue impact growing, need Engineering Manager",
                                     channel=room))
    assert answer == f"Escalated {public_id} to SEV1: notifying L2 Team Lead, L3 Engineering Manager now."
    assert incident_row(db, public_id)["severity"] == "SEV1"
    [em_dm] = wait_for(lambda: slack.direct_messages("U0EM"), what="L3 DM")
    wait_for(lambda: slack.direct_messages("U0CS"), what="Customer Success told with L3")
    assert wait_for(lambda: slack.direct_messages("U0LEAD"), what="L2 DM")
    assert slack.direct_messages("U0VP") == []

    button = em_dm["blocks"][1]["elements"][0]
    assert sender.click(button["action_id"], button["value"], user="U0LEAD", channel="D0EM",
                        message_ts=em_dm["ts"]).status_code == 200
    refusal = wait_for(lambda: [r for r in slack.responses if "someone else" in str(r)], what="not yours")
    assert refusal and step_states(db)["L4"] == "pending"
    sender.click(button["action_id"], button["value"], user="U0EM", channel="D0EM", message_ts=em_dm["ts"])
    wait_for(lambda: step_states(db)["L4"] == "paused", what="chain paused by the L3 acknowledgement")
    wait_for(lambda: any("L3 Engineering Manager <@U0EM> acknowledged; escalation paused" in m["text"]
                         for m in slack.messages(room)), what="acknowledgement in the war room")
    wait_for(lambda: ("acknowledge", public_id) in pagerduty.actions(), what="PagerDuty acknowledged")

    status = sender.command("notified", channel=room).json()
    blocks = json.dumps(status["blocks"])
    assert f"Escalation Status: {public_id}" in blocks and "escalated from SEV2" in blocks
    rows = next(b["text"]["text"] for b in status["blocks"]
                if "Notification status" in b.get("text", {}).get("text", ""))
    lines = rows.splitlines()[1:]
    assert lines[0].startswith("• *L1* On-Call Engineer: Alice Oncall (PagerDuty) · notified ")
    assert lines[2].startswith("• *L3* Engineering Manager: <@U0EM> · notified ") and "acknowledged -" not in lines[2]
    assert "acknowledged -" in lines[1]  # L2 has not acknowledged
    assert "Paused since" in blocks and "L4 VP Engineering is next" in blocks

    slack.post_as_user(room, "U0DECLARER", "<@UBOT> who has been notified?")
    mention = {"type": "app_mention", "user": "U0DECLARER", "text": "<@UBOT> who has been notified?",
               "ts": slack.messages(room)[-1]["ts"], "channel": room}
    sender.post(json.dumps({"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:8]}", "event": mention,
                            "team_id": slack.team_id, "api_app_id": "A0001"}),
                headers={"Content-Type": "application/json"})
    reply = wait_for(lambda: [m for m in slack.messages(room) if m.get("thread_ts") == mention["ts"]],
                     what="threaded answer")
    assert "Notification status" in json.dumps(reply[-1]["blocks"]) and "<@U0EM>" in json.dumps(reply[-1]["blocks"])

    assert "resolved" in ack_text(sender.command("resolve rolled back", channel=room))
    wait_for(lambda: step_states(db)["L4"] == "cancelled", what="pending cancelled on resolve")
    wait_for(lambda: ("resolve", public_id) in pagerduty.actions(), what="PagerDuty resolved")


def test_pagerduty_webhooks_are_verified_and_acknowledge_the_page(
        paging_server: AppServer, slack: FakeSlack, pagerduty: FakePagerDuty, db: Engine) -> None:
    sender = SlackSender(paging_server.url, "test-signing-secret", slack)
    public_id, room = declare(sender, db)
    pd_incident = wait_for(lambda: pagerduty.incident_for(public_id), what="PagerDuty incident")["id"]
    wait_for(lambda: any("PagerDuty paged" in m["text"] for m in slack.messages(room)), what="paged")

    def acks() -> list:
        with db.connect() as c:
            return list(c.scalars(text("SELECT acknowledged_at FROM escalation_notifications")))

    forged = webhook(paging_server, ack_event(pd_incident), secret="not-the-secret")
    stale = webhook(paging_server, ack_event(pd_incident, minutes_ago=90))
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert forged.json() == {"error": "invalid signature"} and stale.json() == {"error": "stale event"}
    unknown = webhook(paging_server, ack_event("QNOTOURS1"))
    assert unknown.status_code == 202 and unknown.json()["status"] == "ignored"
    assert acks() == [None] and step_states(db)["L2"] == "pending"

    event = ack_event(pd_incident)
    rotated = webhook(paging_server, event, extra="v1=" + "0" * 64)  # an old secret's signature first
    assert rotated.status_code == 202 and rotated.json()["status"] == "recorded"
    assert webhook(paging_server, event).json()["reason"] == "already handled"  # redelivered: once
    assert acks()[0] is not None and step_states(db)["L2"] == "paused"
    wait_for(lambda: any("acknowledged (in PagerDuty); escalation paused" in m["text"]
                         for m in slack.messages(room)), what="ack in the war room")
    assert ("acknowledge", public_id) not in pagerduty.actions()  # no echo back to PagerDuty

    assert webhook(paging_server, ack_event(pd_incident, event_type="incident.unacknowledged")).status_code == 202
    wait_for(lambda: step_states(db)["L2"] == "pending", what="resumed when PagerDuty un-acknowledged")


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env}, check=False)


def test_the_cli_escalates_and_reports_who_was_notified(tmp_path: Path, pagerduty: FakePagerDuty) -> None:
    upgrade(f"sqlite:///{tmp_path}/cli.db")  # as `make run` or `incidentbot db upgrade` leaves it
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", **paging_env(pagerduty, write_config(tmp_path, SLOW)),
           "SSL_CERT_FILE": str(pagerduty.ca_file)}
    declared = run_cli(env, "declare", "--severity", "SEV2", "Checkout latency above SLO")
    assert declared.returncode == 0, declared.stderr
    public_id = next(w for w in declared.stdout.split() if w.startswith("INC-"))
    out = run_cli(env, "agent", "run", "escalation-manager", "--prompt",
                  f"Escalate {public_id} to SEV1 - need VP Engineering")
    assert out.returncode == 0, out.stderr
    md = out.stdout
    assert md.startswith(f"## Escalation Status: {public_id}")
    assert "### Current Severity: SEV1 (escalated from SEV2)" in md
    assert "**Escalation Reason**: need VP Engineering" in md
    table = md.split("### Notification Status")[1].split("###")[0]
    assert "| L1 | On-Call Engineer | Alice Oncall (PagerDuty) |" in table
    for level, role in (("L2", "Team Lead"), ("L3", "Engineering Manager"), ("L4", "VP Engineering")):
        assert f"| {level} | {role} |" in table
    assert "| - | Customer Success |" in table  # SEV1 stakeholder, told with L3
    timeline = md.split("### Escalation Timeline")[1]
    assert "L4 VP Engineering escalated (escalated by cli:" in timeline and ": need VP Engineering)" in timeline
    assert len(pagerduty.triggers()) == 1

    status = run_cli(env, "agent", "run", "escalation-manager", "--prompt",
                     "Who has been notified for the current incident?", "--incident", public_id)
    assert status.returncode == 0 and "Every level of the chain has been notified" in status.stdout
    again = run_cli(env, "agent", "run", "escalation-manager", "--prompt", f"Escalate {public_id} - more help")
    assert again.returncode == 1 and "has been notified already" in again.stderr


# A chain that reaches people three other ways: the PagerDuty on-call (found in Slack by email), a Slack user
# group, and a PagerDuty schedule added to the open PagerDuty incident as a responder.
GROUPS = {"escalation_policies": [{
    "name": "platform", "severities": ["SEV1", "SEV2"],
    "levels": [
        {"level": "L1", "role": "On-Call Engineer", "after": "0m", "pagerduty_escalation_policy": "PABC123"},
        {"level": "L2", "role": "SRE Team", "after": "1h", "usergroup": "S0SRE"},
        {"level": "L3", "role": "Database On-Call", "after": "2h", "pagerduty_schedule": "PDBSCHED"},
    ],
}]}


def test_user_group_and_pagerduty_schedule_levels_reach_their_people(
        app_env: dict[str, str], slack: FakeSlack, pagerduty: FakePagerDuty, db: Engine, tmp_path: Path) -> None:
    slack.add_user("U0ALICE", "alice", email="Alice@Example.com")  # PagerDuty's email, another case
    slack.add_user("U0SRE1", "sre-one")
    slack.add_user("U0SRE2", "sre-two")
    slack.add_usergroup("S0SRE", "sre", ["U0SRE1", "U0SRE2"])
    pagerduty.add_user("PBOB001", "Bob Dba", "bob@example.com")  # no Slack account in this workspace
    pagerduty.put_on_call("PBOB001", schedule="PDBSCHED")
    env = {**app_env, **paging_env(pagerduty, write_config(tmp_path, GROUPS)),
           "INCIDENTBOT_ESCALATION_CHECK_SECONDS": "0.1"}
    with AppServer(env) as server:
        sender = SlackSender(server.url, "test-signing-secret", slack)
        public_id, room = declare(sender, db)
        wait_for(lambda: any("PagerDuty paged Alice Oncall" in m["text"] for m in slack.messages(room)),
                 what="L1 paged")

        answer = ack_text(sender.command("escalate need Database On-Call", channel=room))
        assert answer == f"Escalated {public_id}: notifying L2 SRE Team, L3 Database On-Call now."
        assert wait_for(lambda: slack.direct_messages("U0SRE1"), what="first group member's DM")
        assert wait_for(lambda: slack.direct_messages("U0SRE2"), what="second group member's DM")
        [request] = wait_for(lambda: pagerduty.responder_requests, what="responders added")
        assert request["incident"] == pagerduty.incident_for(public_id)["id"]
        assert request["responder_request_targets"] == [
            {"responder_request_target": {"id": "PBOB001", "type": "user_reference"}}]

        status = sender.command("notified", channel=room).json()
        rows = next(b["text"]["text"] for b in status["blocks"]
                    if "Notification status" in b.get("text", {}).get("text", "")).splitlines()[1:]
        by_level = {line.split("*")[1]: line for line in rows}
        # The paged person, found in Slack by their PagerDuty email; Bob has no Slack account, so his name.
        assert by_level["L1"].startswith("• *L1* On-Call Engineer: <@U0ALICE> · notified ")
        sre_rows = [line for line in rows if line.startswith("• *L2* SRE Team")]
        assert {"<@U0SRE1>", "<@U0SRE2>"} == {m for line in sre_rows for m in ("<@U0SRE1>", "<@U0SRE2>")
                                             if m in line}
        assert by_level["L3"].startswith("• *L3* Database On-Call: Bob Dba (PagerDuty)")
