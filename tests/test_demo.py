"""`incidentbot demo`, run as a newcomer runs it: the seed's Payment API incident end to end, on its own store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.demo import demo_settings

UNSET = ("SLACK_", "ANTHROPIC_", "DATABASE_URL", "INCIDENTBOT_", "PROMETHEUS_", "GRAFANA_", "LOKI_", "DATADOG_",
         "KUBECONFIG")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of the demo, with DATABASE_URL pointing at a file the demo must never create."""
    user_db = tmp_path_factory.mktemp("user") / "incidents.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(UNSET)}
    env["DATABASE_URL"] = f"sqlite:///{user_db}"
    done = subprocess.run([sys.executable, "-m", "app.cli", "demo"], env=env, capture_output=True, text=True,
                          timeout=60)
    return done, user_db


def test_demo_runs_the_story_and_leaves_the_users_store_alone(demo: tuple[subprocess.CompletedProcess[str],
                                                                           Path]) -> None:
    done, user_db = demo
    assert done.returncode == 0, done.stderr
    assert not user_db.exists(), "the demo wrote to DATABASE_URL"
    assert not list(user_db.parent.iterdir())
    headings = re.findall(r"^Step (\d)/8 - (\d\d:\d\d) UTC - ", done.stdout, re.MULTILINE)
    assert headings == [("1", "14:30"), ("2", "14:31"), ("3", "14:34"), ("4", "14:35"), ("5", "14:37"),
                        ("6", "14:40"), ("7", "14:45"), ("8", "15:30")]
    assert "What next" in done.stdout and "make run" in done.stdout


def test_declaration_card_sits_on_the_seed_day(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    out = demo[0].stdout
    card = out[out.index("## Incident Declared: INC-2024-1220-001"):out.index("Step 2/8")]
    assert "**Severity**: SEV2 (Major - customer impact)" in card
    assert "**Declared**: 2024-12-20 14:30 UTC" in card
    assert "- **User Impact**: 15% checkout failure rate" in card
    assert "- **Revenue Impact**: $45,000 estimated" in card
    assert "- 14:30 - Incident declared (SEV2)" in card


def test_commander_and_rca_answer_from_the_record(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    out = demo[0].stdout
    status = out[out.index("## Incident Status: INC-2024-1220-001"):out.index("Step 6/8")]
    assert "**Severity**: SEV1" in status and "**Duration**: 7m (ongoing)" in status
    assert "| Subject Expert | @U0CAROL | Active | 14:31 UTC |" in status
    rca = out[out.index("## Root Cause Analysis: Payment API returning 500 errors"):out.index("Step 7/8")]
    assert "T-15min   (14:15): Feature flag async-payment-processing enabled" in rca
    assert "| 1 | Feature flag change | payment-api | 14:15 | async-payment-processing |" in rca
    assert "deterministic" in rca and "llm" not in rca
    assert "prometheus ✗, grafana ✗, loki ✗, datadog ✗, kubernetes ✗" in rca


def test_postmortem_has_the_seed_times_duration_and_action_items(
        demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    out = demo[0].stdout
    pm = out[out.index("# Postmortem: Payment API returning 500 errors"):out.index("What next")]
    assert "**Date**: December 20, 2024" in pm
    # Declared 14:30, resolved 15:15: the computed duration is 45 minutes, as in the seed.
    assert "| Duration | 45 minutes (14:30 - 15:15 UTC) |" in pm
    assert "| Customers Affected | ~12,000 |" in pm
    assert "| 14:15 | Feature flag async-payment-processing enabled for 100% of traffic at 14:15 |" in pm
    assert "| 14:30 | Incident declared (SEV2) |" in pm
    assert "| 14:45 | Feature flag async-payment-processing disabled at 14:45 |" in pm
    assert "| 15:15 | Incident resolved: Full recovery confirmed at 15:15." in pm
    assert ("| 1 | P0 | Fix the connection leak in the async payment handler's error path | @U0CAROL | Dec 21 | open |"
            in pm)
    assert ("| 2 | P1 | Load test the async payment path at production connection concurrency | @U0CAROL | Dec 22 "
            "| open |") in pm
    # The follow-up only said in a note becomes a numbered action item too.
    assert re.search(r"^\| \d+ \| P2 \| Add an alert on connection pool usage at 80% \|", pm, re.MULTILINE)


def test_demo_settings_ignore_slack_llm_and_telemetry_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "ANTHROPIC_API_KEY": "sk-1",
                        "PROMETHEUS_URL": "http://prometheus:9090", "LOKI_URL": "http://loki:3100"}.items():
        monkeypatch.setenv(name, value)
    settings = demo_settings("sqlite:////tmp/demo.db")
    assert settings.database_url == "sqlite:////tmp/demo.db"
    assert not settings.slack_enabled
    assert settings.anthropic_api_key is None
    assert settings.prometheus_url is None and settings.loki_url is None
