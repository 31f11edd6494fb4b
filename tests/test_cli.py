"""The `incidentbot` console script, run as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.fakes.slack import FakeSlack
from tests.support import concurrently


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_declare_list_show_without_slack(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    declared = run("declare", "--severity", "SEV2", "Payment API returning 500 errors", env=env)
    assert declared.returncode == 0, declared.stderr
    day = time.strftime("%Y-%m%d", time.gmtime())
    assert f"## Incident Declared: INC-{day}-001" in declared.stdout
    assert "**Severity**: SEV2 (Major - customer impact)" in declared.stdout
    assert "no war room (declared without Slack)" in declared.stdout

    listed, shown = concurrently([lambda: run("list", env=env), lambda: run("show", f"inc-{day}-001", env=env)])
    assert listed.returncode == 0 and f"INC-{day}-001  SEV2  INVESTIGATING" in listed.stdout
    assert shown.returncode == 0 and "| Incident Commander | @" in shown.stdout
    assert "Incident declared (SEV2)" in shown.stdout


def test_cli_bad_input_exits_non_zero_with_a_message(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    bad = run("declare", "--severity", "SEV9", "Down", env=env)
    assert bad.returncode == 2 and "Unknown severity SEV9" in bad.stderr
    # After the refused declare (which must have stored nothing), three reads at once.
    missing, listed, unknown = concurrently(lambda args=args: run(*args, env=env) for args in [
        ("show", "INC-2020-0101-009"), ("list",), ("frobnicate",)])
    assert missing.returncode == 1 and "no incident INC-2020-0101-009" in missing.stderr
    assert "No incidents." in listed.stdout
    assert unknown.returncode == 2 and "No such command" in unknown.stderr


def test_cli_reports_an_unreachable_database() -> None:
    result = run("list", env={"DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/nope"})
    assert result.returncode == 1
    assert "cannot reach the database at postgresql://postgres:***@127.0.0.1:1/nope" in result.stderr
    assert "hunter2" not in result.stderr


def test_declare_with_slack_opens_the_war_room(database_url: str, slack: FakeSlack) -> None:
    env = {"DATABASE_URL": database_url, "SLACK_BOT_TOKEN": slack.bot_token,
           "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.url}
    result = run("declare", "-s", "SEV1", "--by", "U0DECLARER", "Login outage", env=env)
    assert result.returncode == 0, result.stderr
    [room] = [c for c in slack.channels.values() if c["name"].startswith("inc-")]
    assert room["name"].endswith("-login-outage") and "U0DECLARER" in room["members"]
    assert f"- Slack: #{room['name']}" in result.stdout
    assert slack.bot_token not in result.stdout + result.stderr
