"""Runbooks as people run them in Slack: signed slash commands and button clicks against the running app, the
fake Slack Web API, and the fake kubectl first on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.runbook_support import FakeKubectl, kill_when_hung, wait_for_lease_to_run_out, write_config
from tests.support import AppServer, SlackSender, ack_text

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SHELL_BOOK = """name: shell-out
description: Not allowed
steps:
  - {name: Anything, command: [bash, -c, "echo hi"]}
"""
SLOW_WAIT = """name: slow-restart
description: Scale down, wait (with a short timeout), scale up
target: "deployment/{deployment}"
parameters:
  deployment: {pattern: "^[a-z-]+$"}
steps:
  - name: Scale down
    command: [kubectl, scale, deployment, "{deployment}", -n, production, --replicas, "4"]
    mutating: true
    rollback: [kubectl, scale, deployment, "{deployment}", -n, production, --replicas, "5"]
  - name: Wait
    command: [kubectl, rollout, status, deployment, "{deployment}", -n, production]
    timeout: 1s
"""


@pytest.fixture
def env(app_env: dict[str, str], kubectl: FakeKubectl, tmp_path: Path, slack: FakeSlack) -> dict[str, str]:
    slack.add_user("U0APPROVER", "olga")
    config = write_config(tmp_path, runbooks={"shell-out.yml": SHELL_BOOK, "slow-restart.yml": SLOW_WAIT,
                                                  "broken.yml": "name: broken\n"})
    return {**app_env, "INCIDENTBOT_CONFIG": str(config)}


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[AppServer]:
    with AppServer(env) as running:
        yield running


@pytest.fixture
def say(app: AppServer, slack: FakeSlack) -> SlackSender:
    return SlackSender(app.url, "test-signing-secret", slack)


def declare(sender: SlackSender, db: Engine) -> str:
    public_id = ack_text(sender.command("declare SEV2 Payment API returning 500 errors")).split("*")[1]

    def room() -> str | None:
        with db.connect() as c:
            row = c.execute(text("SELECT channel_id, setup_state FROM incidents WHERE public_id = :p"),
                            {"p": public_id}).one()
        return row.channel_id if row.setup_state == "done" else None

    return wait_for(room, what="war room")


def run_message(slack: FakeSlack, channel: str) -> dict[str, Any] | None:
    return next((m for m in slack.messages(channel) if m["text"].startswith("Runbook ")), None)


def message_says(slack: FakeSlack, channel: str, *texts: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        message = run_message(slack, channel)
        return message if message and all(t in json.dumps(message["blocks"]) for t in texts) else None

    return wait_for(found, what=f"the run message to say {texts}")


def waiting_on(slack: FakeSlack, channel: str, step: str) -> dict[str, Any]:
    """The run message once its buttons ask about `step` (the section above them names it)."""
    def found() -> dict[str, Any] | None:
        message = run_message(slack, channel)
        blocks = message["blocks"] if message else []
        asks = [blocks[n - 1] for n, b in enumerate(blocks) if b["type"] == "actions"]
        return message if asks and f"*{step}*" in asks[0]["text"]["text"] else None

    return wait_for(found, what=f"buttons for {step}")


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    return next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["text"]["text"] == label)


def press(sender: SlackSender, message: dict[str, Any], label: str, user: str, channel: str) -> None:
    pressed = button(message, label)
    assert sender.click(pressed["action_id"], pressed["value"], user=user, channel=channel,
                        message_ts=message["ts"]).status_code == 200


def rows(db: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(text(sql), params)]


def test_changing_steps_wait_for_the_commander_or_an_approver(say: SlackSender, slack: FakeSlack,
                                                               kubectl: FakeKubectl, db: Engine) -> None:
    room = declare(say, db)
    ack = ack_text(say.command("runbook run pod-restart-graceful deployment=api-server namespace=production",
                               channel=room))
    assert ack == ("Starting run #1 of pod-restart-graceful on deployment/api-server (namespace: production); its "
                   "message in the channel follows it.")
    waiting = message_says(slack, room, "Approve this step?", "Scale down by 1 replica", "--replicas 4")
    assert "Cluster Access: *PASS*" in json.dumps(waiting["blocks"])

    again = ack_text(say.command("runbook run pod-restart-graceful deployment=api-server", channel=room))
    assert again == ("pod-restart-graceful is already running on deployment/api-server (namespace: production) "
                     "(run #1, awaiting); wait for it to finish, or abort it")

    press(say, waiting, "Approve", "U0BOB", room)
    wait_for(lambda: any("Only the Incident Commander (<@U0DECLARER>) or a runbook approver" in r.get("text", "")
                         for r in slack.responses), what="a private refusal")
    assert not [c for c in kubectl.calls() if c[0] == "scale"]

    press(say, waiting, "Approve", "U0DECLARER", room)
    second = waiting_on(slack, room, "Scale back up")
    assert "approved by <@U0DECLARER>" in json.dumps(second["blocks"])
    press(say, second, "Approve", "U0APPROVER", room)
    done = message_says(slack, room, "Result: SUCCESS")
    assert "approved by <@U0APPROVER>" in json.dumps(done["blocks"])
    assert not any(b["type"] == "actions" for b in done["blocks"])

    assert [c for c in kubectl.calls() if c[0] == "scale"] == [
        ["scale", "deployment", "api-server", "-n", "production", "--replicas", "4"],
        ["scale", "deployment", "api-server", "-n", "production", "--replicas", "5"]]
    decided = rows(db, "SELECT name, decision, decided_by FROM runbook_steps WHERE decided_by IS NOT NULL")
    assert decided == [{"name": "Scale down by 1 replica", "decision": "approve", "decided_by": "U0DECLARER"},
                       {"name": "Scale back up", "decision": "approve", "decided_by": "U0APPROVER"}]
    updates = slack.calls_to("chat.update")
    assert len(updates) >= 5 and {u["ts"] for u in updates} == {waiting["ts"]}  # one message, edited in place
    timeline = [r["text"] for r in rows(db, "SELECT text FROM timeline_events WHERE kind = 'runbook' ORDER BY id")]
    assert timeline[0] == "Runbook pod-restart-graceful started on deployment/api-server (namespace: production) by " \
                          "<@U0DECLARER>"
    assert "Runbook pod-restart-graceful: Scale down by 1 replica completed, approved by <@U0DECLARER>" in timeline
    assert timeline[-1] == ("Runbook pod-restart-graceful on deployment/api-server (namespace: production): "
                            "completed. All steps done")


@SQLITE_ONLY
def test_skip_and_abort_with_rollback(say: SlackSender, slack: FakeSlack, kubectl: FakeKubectl, db: Engine) -> None:
    room = declare(say, db)
    say.command("runbook run scale-deployment deployment=checkout replicas=4", channel=room)
    press(say, message_says(slack, room, "Approve this step?"), "Skip", "U0DECLARER", room)
    skipped = message_says(slack, room, "Result: VERIFICATION FAILED", "Verification failed: Replicas ready")
    assert "skipped by <@U0DECLARER>" in json.dumps(skipped["blocks"])
    assert not [c for c in kubectl.calls() if c[0] == "scale"]
    slack.delete_as_user(room, skipped["ts"])  # the next run's message is the only one

    say.command("runbook run pod-restart-graceful deployment=api-server", channel=room)
    first = waiting_on(slack, room, "Scale down by 1 replica")
    press(say, first, "Approve", "U0APPROVER", room)
    press(say, first, "Approve", "U0DECLARER", room)  # a second click on the same step
    wait_for(lambda: any("already answered" in r.get("text", "") for r in slack.responses), what="a second click")
    press(say, waiting_on(slack, room, "Scale back up"), "Abort", "U0DECLARER", room)
    aborted = message_says(slack, room, "Result: ABORTED", "Roll back: Scale down by 1 replica")
    assert "Aborted at Scale back up by <@U0DECLARER>; completed steps rolled back" in json.dumps(aborted["blocks"])
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]  # the step, then its rollback
    assert kubectl.state["deployments"]["production/api-server"]["replicas"] == 5
    [run] = rows(db, "SELECT state, lock_key FROM runbook_runs WHERE runbook = 'pod-restart-graceful'")
    assert run == {"state": "aborted", "lock_key": None}


@SQLITE_ONLY
def test_a_failing_step_rolls_back_and_output_is_redacted(say: SlackSender, slack: FakeSlack,
                                                          kubectl: FakeKubectl, db: Engine) -> None:
    kubectl.fault("rollout status", exit=1, output="error: timed out waiting; token=s3cr3t-t0ken-value "
                                                   "Authorization: Bearer abcdefghijklmnopqrstuvwxyz")
    room = declare(say, db)
    say.command("runbook run pod-restart-graceful deployment=api-server", channel=room)
    press(say, message_says(slack, room, "Approve this step?"), "Approve", "U0DECLARER", room)
    failed = message_says(slack, room, "Result: FAILED", "Roll back: Scale down by 1 replica")
    posted = json.dumps(failed["blocks"])
    assert "Failed at Wait for termination: exit code 1 (expected 0); completed steps rolled back" in posted
    assert "token=[redacted]" in posted and "Bearer [redacted]" in posted
    stored = " ".join(r["output"] for r in rows(db, "SELECT output FROM runbook_steps"))
    assert "token=[redacted]" in stored
    for secret in ("s3cr3t-t0ken-value", "abcdefghijklmnopqrstuvwxyz"):
        assert secret not in stored and secret not in json.dumps(slack.calls)
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]


@SQLITE_ONLY
def test_a_step_past_its_timeout_is_killed_and_rolled_back(say: SlackSender, slack: FakeSlack,
                                                           kubectl: FakeKubectl, db: Engine) -> None:
    kubectl.fault("rollout status", hang=60)
    room = declare(say, db)
    say.command("runbook run slow-restart deployment=api-server", channel=room)
    press(say, message_says(slack, room, "Approve this step?", "Scale down"), "Approve", "U0DECLARER", room)
    started = time.monotonic()
    failed = message_says(slack, room, "Result: FAILED", "Roll back: Scale down")
    assert time.monotonic() - started < 30  # one second of timeout, not the hang's sixty
    posted = json.dumps(failed["blocks"])
    assert "Wait: *TIMED OUT*" in posted and "timed out after 1s; its processes were killed" in posted
    assert "Failed at Wait: timed out after 1s; its processes were killed; completed steps rolled back" in posted
    with pytest.raises(ProcessLookupError):  # the hung kubectl was killed, not left running
        os.kill(int(Path(str(kubectl.state_path) + ".hung").read_text()), 0)
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]  # down, then the rollback
    assert rows(db, "SELECT state, lock_key FROM runbook_runs") == [{"state": "failed", "lock_key": None}]


@SQLITE_ONLY
@pytest.mark.parametrize("value", ["api;rm -rf /", "$(touch x)", "`touch x`", "api\ntouch x",
                                   "--kubeconfig=/etc/shadow", "-x"])
def test_injection_never_reaches_a_process(say: SlackSender, kubectl: FakeKubectl, db: Engine,
                                           value: str) -> None:
    answer = ack_text(say.command(f"runbook run pod-restart-graceful deployment={value}"))
    assert answer.startswith(("deployment=`", "`")) and ("is refused" in answer or "is not key=value" in answer)
    assert kubectl.calls() == [] and rows(db, "SELECT id FROM runbook_runs") == []
    assert not Path("x").exists()


@SQLITE_ONLY
def test_list_show_bad_files_unknown_names_and_programs(say: SlackSender, kubectl: FakeKubectl) -> None:
    listed = say.command("runbook list").json()
    blocks = json.dumps(listed["blocks"])
    assert "*pod-restart-graceful*" in blocks and "*shell-out*" in blocks
    assert "broken.yml: description: Field required" in blocks and "broken.yml: steps: Field required" in blocks
    shown = json.dumps(say.command("runbook show cache-flush").json()["blocks"])
    assert "Runbook: cache-flush" in shown and "redis-cli FLUSHALL" in shown
    assert ack_text(say.command("runbook run nope")) .startswith("No runbook named nope. Runbooks: cache-flush")
    assert ack_text(say.command("runbook run shell-out")) == (
        "shell-out runs 'bash', which runbook_programs does not allow (kubectl); nothing was run")
    assert "/incident runbook run NAME" in ack_text(say.command("runbook"))
    assert kubectl.calls() == []


@SQLITE_ONLY
def test_a_restart_mid_step_interrupts_the_run_and_it_resumes_from_there(
        env: dict[str, str], slack: FakeSlack, kubectl: FakeKubectl, db: Engine) -> None:
    kubectl.fault("rollout status", hang=30)
    with AppServer(env) as first:
        say = SlackSender(first.url, "test-signing-secret", slack)
        room = declare(say, db)
        say.command("runbook run pod-restart-graceful deployment=api-server", channel=room)
        press(say, message_says(slack, room, "Approve this step?"), "Approve", "U0DECLARER", room)
        hung = wait_for(kubectl.hung_pid, what="the wait step to hang")
    with pytest.raises(ProcessLookupError):  # stopping the service killed the step it was running
        os.kill(hung, 0)
    with AppServer(env) as second:
        say = SlackSender(second.url, "test-signing-secret", slack)
        interrupted = message_says(slack, room, "Interrupted", "Resume")
        press(say, interrupted, "Resume", "U0BOB", room)
        wait_for(lambda: any("Only the Incident Commander" in r.get("text", "") for r in slack.responses),
                 what="a private refusal")
        assert ack_text(say.command("runbook resume", channel=room)) == (
            "Resuming run #1 of pod-restart-graceful from its next step.")
        press(say, waiting_on(slack, room, "Scale back up"), "Approve", "U0DECLARER", room)
        message_says(slack, room, "Result: SUCCESS")
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]  # never the completed one twice
    waits = rows(db, "SELECT state FROM runbook_steps WHERE name = 'Wait for termination' ORDER BY id")
    assert [w["state"] for w in waits] == ["interrupted", "completed"]


@SQLITE_ONLY
def test_a_changing_step_cut_off_mid_run_waits_for_a_person_to_say_how_it_went(
        env: dict[str, str], slack: FakeSlack, kubectl: FakeKubectl, db: Engine) -> None:
    kubectl.fault("scale", hang=30)  # the scale-down itself is running when the service stops
    with AppServer(env) as first:
        say = SlackSender(first.url, "test-signing-secret", slack)
        room = declare(say, db)
        say.command("runbook run pod-restart-graceful deployment=api-server", channel=room)
        press(say, message_says(slack, room, "Approve this step?"), "Approve", "U0DECLARER", room)
        wait_for(kubectl.hung_pid, what="the scale-down to hang")
    with AppServer(env) as second:
        say = SlackSender(second.url, "test-signing-secret", slack)
        interrupted = message_says(slack, room, "Interrupted", "its outcome is unknown", "Resume")
        press(say, interrupted, "Resume", "U0BOB", room)
        wait_for(lambda: any("Only the Incident Commander" in r.get("text", "") for r in slack.responses),
                 what="a private refusal")
        assert rows(db, "SELECT state FROM runbook_runs") == [{"state": "interrupted"}]

        press(say, interrupted, "Resume", "U0DECLARER", room)
        unknown = message_says(slack, room, "Outcome unknown", "Scale down by 1 replica", "OUTCOME UNKNOWN")
        assert [e["text"]["text"] for b in unknown["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
            "Mark done", "Retry", "Abort"]
        value = button(unknown, "Retry")["value"]
        # An Approve for this step (an old message, a crafted click) does not run it again.
        assert say.click("runbook_approve", value, user="U0DECLARER", channel=room,
                         message_ts=unknown["ts"]).status_code == 200
        wait_for(lambda: any("already answered" in r.get("text", "") for r in slack.responses), what="a refusal")
        assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4"]

        press(say, unknown, "Retry", "U0APPROVER", room)
        press(say, waiting_on(slack, room, "Scale back up"), "Approve", "U0DECLARER", room)
        done = message_says(slack, room, "Result: SUCCESS")
        assert "retried by <@U0APPROVER>" in json.dumps(done["blocks"])
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "4", "5"]
    attempts = rows(db, "SELECT state, decision, decided_by FROM runbook_steps WHERE name = 'Scale down by 1 replica' "
                        "ORDER BY id")
    assert attempts == [{"state": "interrupted", "decision": "approve", "decided_by": "U0DECLARER"},
                        {"state": "completed", "decision": "retry", "decided_by": "U0APPROVER"}]


@SQLITE_ONLY
def test_guided_run_posts_each_step_for_a_person(say: SlackSender, slack: FakeSlack, kubectl: FakeKubectl,
                                                 db: Engine) -> None:
    room = declare(say, db)
    say.command("runbook guide statefulset-pod-restart statefulset=kafka pod=kafka-2", channel=room)
    first = waiting_on(slack, room, "StatefulSet Exists")
    for label in ("Done", "Skip", "Abort"):  # not the commander, not an approver: refused, nothing moves
        press(say, first, label, "U0BOB", room)
    wait_for(lambda: sum("Only the Incident Commander (<@U0DECLARER>) or a runbook approver" in r.get("text", "")
                         for r in slack.responses) == 3, what="three private refusals")
    assert rows(db, "SELECT decision FROM runbook_steps WHERE decision IS NOT NULL") == []
    for step, who in (("StatefulSet Exists", "U0DECLARER"), ("Pod Exists", "U0DECLARER"),
                      ("Delete the pod", "U0APPROVER"), ("Wait until it is ready", "U0DECLARER"),
                      ("StatefulSet rolled out", "U0DECLARER")):
        press(say, waiting_on(slack, room, step), "Done", who, room)
    done = message_says(slack, room, "Result: SUCCESS")
    assert "confirmed by <@U0DECLARER>" in json.dumps(done["blocks"])
    assert "confirmed by <@U0APPROVER>" in json.dumps(done["blocks"])
    slack.delete_as_user(room, done["ts"])

    say.command("runbook guide scale-deployment deployment=checkout replicas=3", channel=room)
    for step in ("Deployment Exists", "Current Replicas"):
        press(say, waiting_on(slack, room, step), "Done", "U0DECLARER", room)
    press(say, waiting_on(slack, room, "Scale the deployment"), "Done", "U0DECLARER", room)
    press(say, waiting_on(slack, room, "Wait for the rollout"), "Abort", "U0DECLARER", room)
    message_says(slack, room, "Result: ABORTED")
    assert kubectl.calls() == []  # a guided run runs nothing itself, not even a rollback


@SQLITE_ONLY
def test_a_mention_gets_a_suggestion_never_a_run(say: SlackSender, slack: FakeSlack, kubectl: FakeKubectl,
                                                 db: Engine) -> None:
    room = declare(say, db)
    said = f"<@{slack.bot_user_id}> should we restart the pods for api-server?"
    posted = slack.post_as_user(room, "U0BOB", said)
    body = json.dumps({"token": "x", "team_id": slack.team_id, "api_app_id": "A0001", "type": "event_callback",
                       "event_id": "Ev0RUNBOOK1", "event_time": 1,
                       "authorizations": [{"user_id": slack.bot_user_id}],
                       "event": {"type": "app_mention", "user": "U0BOB", "text": said, "ts": posted,
                                 "channel": room, "event_ts": posted}})
    assert say.post(body, headers={"Content-Type": "application/json"}).status_code == 200
    [reply] = wait_for(lambda: [m for m in slack.messages(room) if m.get("thread_ts") == posted], what="a reply")
    assert "/incident runbook run pod-restart-graceful deployment=api-server" in json.dumps(reply["blocks"])
    assert kubectl.calls() == [] and rows(db, "SELECT id FROM runbook_runs") == []


@SQLITE_ONLY
def test_a_run_whose_message_cannot_be_posted_runs_nothing(say: SlackSender, slack: FakeSlack,
                                                           kubectl: FakeKubectl, db: Engine) -> None:
    answer = ack_text(say.command("runbook run cache-flush pod=redis-0", channel="C0NOWHERE"))
    assert answer.startswith("Starting run #1 of cache-flush")
    told = wait_for(lambda: [r["text"] for r in slack.responses if "Couldn't post" in r.get("text", "")],
                    what="a private answer")
    assert told == ["Couldn't post run #1 here (channel_not_found): invite @incidentbot to this channel, or run "
                    "it in the war room. Nothing was run."]
    assert kubectl.calls() == []
    assert rows(db, "SELECT state, lock_key FROM runbook_runs") == [{"state": "aborted", "lock_key": None}]


@SQLITE_ONLY
def test_the_command_is_acked_before_a_slow_slack_posts_the_run(env: dict[str, str], slack: FakeSlack,
                                                                kubectl: FakeKubectl, db: Engine) -> None:
    with AppServer({**env, "INCIDENTBOT_RUNBOOK_LEASE_SECONDS": "3"}) as app:
        say = SlackSender(app.url, "test-signing-secret", slack)
        room = declare(say, db)
        slack.delay("chat.postMessage", 4.5)  # longer than the 3 s Slack gives a command's ack, and the lease
        started = time.monotonic()
        ack = ack_text(say.command("runbook run pod-restart-graceful deployment=api-server", channel=room))
        assert time.monotonic() - started < 3.0
        assert ack.startswith("Starting run #1 of pod-restart-graceful on deployment/api-server")
        assert run_message(slack, room) is None  # the ack did not wait for the message
        time.sleep(3.5)  # past the lease while the message is still being posted
        # Resuming sweeps for runs whose process went quiet: this one is still being started, not interrupted.
        assert ack_text(say.command("runbook resume", channel=room)) == "No interrupted runbook run to resume here."
        waiting = message_says(slack, room, "Approve this step?", "Scale down by 1 replica")
        assert "Cluster Access: *PASS*" in json.dumps(waiting["blocks"])
        assert not [c for c in kubectl.calls() if c[0] == "scale"]
        assert rows(db, "SELECT state FROM runbook_runs") == [{"state": "awaiting"}]


@SQLITE_ONLY
def test_a_resume_whose_message_cannot_be_posted_stays_interrupted(env: dict[str, str], say: SlackSender,
                                                                   slack: FakeSlack, kubectl: FakeKubectl,
                                                                   db: Engine) -> None:
    kubectl.fault("rollout status", hang=20)  # a run started from a terminal, whose process then dies
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTBOT_"))},
               **kubectl.env(), "DATABASE_URL": env["DATABASE_URL"], "INCIDENTBOT_CONFIG": env["INCIDENTBOT_CONFIG"],
               "INCIDENTBOT_RUNBOOK_LEASE_SECONDS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "runbook", "run", "pod-restart-graceful",
                                "deployment=api-server", "--yes"], env=cli_env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when_hung(process, kubectl, "the wait step")
    wait_for_lease_to_run_out(cli_env["DATABASE_URL"])
    ack = ack_text(say.command("runbook resume 1", user="U0APPROVER", channel="C0NOWHERE"))
    assert ack == "Resuming run #1 of pod-restart-graceful from its next step."
    told = wait_for(lambda: [r["text"] for r in slack.responses if "Couldn't post" in r.get("text", "")],
                    what="a private answer")
    assert told == ["Couldn't post run #1 here (channel_not_found), so it was not resumed and is still "
                    "interrupted: invite @incidentbot to this channel and resume it again."]
    assert rows(db, "SELECT state, owner FROM runbook_runs") == [{"state": "interrupted", "owner": None}]
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4"]  # nothing more ran
