"""Shared set-up for the escalation tests: a policy, a fake PagerDuty the real client trusts, a runtime on a clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from app.db.base import utcnow
from app.runtime import Runtime
from app.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack

POLICY = {
    "escalation_policies": [{
        "name": "default",
        "severities": ["SEV1", "SEV2"],
        "levels": [
            {"level": "L1", "role": "On-Call Engineer", "after": "0m", "pagerduty_escalation_policy": "PABC123"},
            {"level": "L2", "role": "Team Lead", "after": "15m", "users": ["U0LEAD"]},
            {"level": "L3", "role": "Engineering Manager", "after": "30m", "users": ["U0EM"]},
            {"level": "L4", "role": "VP Engineering", "after": "60m", "users": ["U0VP"],
             "also_when": "revenue_impact"},
        ],
        "stakeholders": [{"role": "Customer Success", "users": ["U0CS"], "severities": ["SEV1"], "after": "30m"}],
    }],
}


def write_config(directory: Path, config: dict | None = None) -> Path:
    path = directory / "incidentbot.yml"
    path.write_text(yaml.safe_dump(config or POLICY), encoding="utf-8")
    return path


class Clock:
    """The time the escalation job sees; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def pagerduty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty(tmp_path)
    fake.add_user("PALICE1", "Alice Oncall", "alice@example.com")
    fake.add_user("PREQ001", "Incident Bot", "bot@example.com")
    fake.put_on_call("PALICE1", escalation_policy="PABC123")
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_file))  # the real client trusts the fake's CA
    fake.start()
    yield fake
    fake.stop()


def add_people(slack: FakeSlack) -> None:
    for user, name in (("U0LEAD", "lead"), ("U0EM", "em"), ("U0VP", "vp"), ("U0CS", "cs")):
        slack.add_user(user, name)


def paging_env(pagerduty: FakePagerDuty, config: Path) -> dict[str, str]:
    return {"PAGERDUTY_ROUTING_KEY": pagerduty.routing_key, "PAGERDUTY_API_KEY": pagerduty.api_key,
            "PAGERDUTY_EVENTS_URL": pagerduty.url, "PAGERDUTY_API_URL": pagerduty.url,
            "PAGERDUTY_FROM_EMAIL": "bot@example.com", "INCIDENTBOT_CONFIG": str(config),
            "INCIDENTBOT_PAGERDUTY_RETRY_SECONDS": "0.05"}


def paging_runtime(database_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, config: Path, clock: Clock,
                   **overrides: str) -> Runtime:
    env = {**paging_env(pagerduty, config), **overrides}
    runtime = Runtime.create(Settings(database_url=database_url, slack_bot_token=slack.bot_token,
                                      slack_signing_secret="s", slack_api_url=slack.url,
                                      **{k.lower(): v for k, v in env.items()}))
    runtime.escalations.clock = clock
    return runtime
