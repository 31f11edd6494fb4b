"""`incidentbot agent run NAME --prompt ... [--incident ...]`, run as an operator runs it."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.db.migrate import upgrade
from tests.agent_corpus import corpus
from tests.commander_records import stored
from tests.scenarios.harness import scenario_environment
from tests.scenarios.loader import load
from tests.test_cli import run

SEED_PROMPT = "Investigate the cause of the payment API outage at 2024-12-20 14:30"


def team_config(tmp_path: Path) -> str:
    path = tmp_path / "incidentbot.yml"
    path.write_text(yaml.safe_dump({"services": [
        {"name": "payments", "aliases": ["payment api"], "observability": {"namespace": "prod"}}]}))
    return str(path)


def test_the_seed_prompt_gets_a_root_cause_from_the_telemetry(tmp_path: Path) -> None:
    scenario = load("pool-leak-after-flag")
    with scenario_environment(scenario, tmp_path) as tools:
        upgrade(f"sqlite:///{tmp_path}/cli.db")  # as `make run` or `incidentbot db upgrade` leaves it
        env = {**tools, "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "INCIDENTBOT_CONFIG": team_config(tmp_path)}
        result = run("agent", "run", "rca-agent", "--prompt", SEED_PROMPT, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("## Root Cause Analysis: Payment API Outage\n")
    assert "database connection pool exhaustion in payments" in out
    assert "T+00min   (14:30): Time named in the request" in out
    # With no incident there is no recorded change: the analysis says so instead of guessing one.
    assert "No recorded change precedes it" in out
    assert "prometheus ✓" in out and "loki ✓" in out and "kubernetes ✓" in out and "datadog ✗" in out


def test_an_incident_without_telemetry_gets_an_honest_analysis(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    declared = run("declare", "--severity", "SEV2", "Payment API returning 500 errors", env=env)
    public_id = declared.stdout.split("Incident Declared: ")[1].split()[0]
    result = run("agent", "run", "rca-agent", "--prompt", "why?", "--incident", public_id, env=env)
    assert result.returncode == 0, result.stderr
    assert f"**Incident**: {public_id}" in result.stdout
    assert "No observability tool is configured" in result.stdout
    assert "prometheus not read: set PROMETHEUS_URL" in result.stdout
    # Kept on the incident: its timeline shows the analysis.
    assert "rca-agent (deterministic): No cause for the payment incident" in run("show", public_id, env=env).stdout


def test_agent_bad_input_exits_non_zero_with_a_message(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    listed = run("agent", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.split() == [
        "incident-commander", "rca-agent", "postmortem-writer", "runbook-executor", "escalation-manager"]
    unknown = run("agent", "run", "nope", "--prompt", "why?", env=env)
    assert unknown.returncode == 2 and "no agent named 'nope'" in unknown.stderr
    empty = run("agent", "run", "rca-agent", "--prompt", "  ", env=env)
    assert empty.returncode == 2 and "--prompt is empty" in empty.stderr
    missing = run("agent", "run", "rca-agent", "--prompt", "why?", "--incident", "INC-2020-0101-009", env=env)
    assert missing.returncode == 1 and "no incident INC-2020-0101-009" in missing.stderr
    nameless = run("agent", "run", "rca-agent", "--prompt", "why is everything broken?", env=env)
    assert nameless.returncode == 0 and "Which service?" in nameless.stdout


def _section(markdown: str, heading: str) -> str:
    """The lines under a `### heading`, up to the next heading."""
    return markdown.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]


def test_the_seed_declaration_prompt_declares_and_prints_the_card(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    result = run("agent", "run", "incident-commander", "--prompt",
                 "Declare SEV2 incident: Payment API returning 500 errors", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    public_id = out.split("## Incident Declared: ")[1].split()[0]
    assert "**Title**: Payment API returning 500 errors" in out
    assert "**Severity**: SEV2 (Major - customer impact)" in out
    assert "| Incident Commander | @" in _section(out, "Assigned Roles")
    assert "Incident declared (SEV2)" in _section(out, "Initial Timeline")
    # The same incident the declare command records: listed, and its status asked by id alone.
    assert public_id in run("list", env=env).stdout
    status = run("agent", "run", "incident-commander", "--prompt", f"What's the current status of {public_id}?",
                 env=env)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"## Incident Status: {public_id}\n")
    assert "**Status**: INVESTIGATING" in status.stdout


def test_a_declaration_without_severity_says_the_class_it_follows(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    result = run("agent", "run", "incident-commander", "--prompt",
                 "declare an incident: our AWS root keys got pasted in a public gist", env=env)
    assert result.returncode == 0, result.stderr
    assert "**Severity**: SEV1" in result.stdout
    first_reason = _section(result.stdout, "Severity assessment").splitlines()[0]
    assert first_reason.startswith("- SEV1 for security (") and "root keys" in first_reason
    refused = run("agent", "run", "incident-commander", "--prompt", "Declare SEV9 incident: nothing", env=env)
    assert refused.returncode == 1 and "Unknown severity SEV9" in refused.stderr


def test_what_changed_is_answered_from_the_record_by_the_cli(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    record = corpus.records("train")["rec-train-invoice-exposure"]
    public_id = stored(database_url, record, "C0INVOICES")
    result = run("agent", "run", "incident-commander", "--prompt", "anything shipped or flipped in the past hour?",
                 "--incident", public_id, env=env)
    assert result.returncode == 0, result.stderr
    recent = _section(result.stdout, next(line[4:] for line in result.stdout.splitlines()
                                          if line.startswith("### Since ")))
    assert "feature flag invoice_list_cdn_cache turned off" in recent and "#5120" not in recent
    assert "billing-portal deploy #5120" in _section(result.stdout, "Earlier")
