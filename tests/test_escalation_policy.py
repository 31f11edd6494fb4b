"""Escalation policies in the team config: the issue's shape loads; mistakes stop start-up with a clear error."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest

from app.config import ConfigError, load_team_config
from app.escalations.policy import parse_duration
from tests.escalation_support import POLICY, write_config


def test_the_documented_policy_loads_with_its_durations(tmp_path: Path) -> None:
    config = load_team_config(write_config(tmp_path))
    [policy] = config.escalation_policies
    assert [(lv.level, lv.role, lv.after) for lv in policy.levels] == [
        ("L1", "On-Call Engineer", timedelta(0)), ("L2", "Team Lead", timedelta(minutes=15)),
        ("L3", "Engineering Manager", timedelta(minutes=30)), ("L4", "VP Engineering", timedelta(hours=1))]
    assert policy.levels[0].target == "PABC123" and policy.levels[3].also_when == "revenue_impact"
    assert config.escalation_policy("SEV1", None) is policy and config.escalation_policy("SEV3", None) is None
    assert (parse_duration("90s"), parse_duration("2h"), parse_duration(5)) == (
        timedelta(seconds=90), timedelta(hours=2), timedelta(minutes=5))
    example = load_team_config(Path(__file__).parent.parent / "incidentbot.example.yml")
    assert example.escalation_policies and example.escalation_policy("SEV1", "payment-api") is not None


def broken(change) -> dict:  # type: ignore[no-untyped-def]
    config = copy.deepcopy(POLICY)
    change(config["escalation_policies"][0])
    return config


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["levels"][1].update(level="L1"), "lists level L1 more than once"),
    (lambda p: p["levels"][1].update(users=["alice"]), "'alice' is not a Slack user id"),
    (lambda p: p["levels"][1].update(after="15 minutes"), "durations look like 30s, 15m or 1h"),
    (lambda p: p["levels"][1].update(usergroup="S0LEADS"), "give exactly one target"),
    (lambda p: p["levels"][0].update(pagerduty_escalation_policy="abc"), "is not a PagerDuty id"),
    (lambda p: p["levels"][2].update(after="5m"), "list levels in order"),
    (lambda p: p["levels"][3].update(also_when="full_moon"), "also_when"),
    (lambda p: p["stakeholders"][0].update(after=None, with_level="L9"), "refers to level L9"),
    (lambda p: p.update(severities=["SEV7"]), "names severity SEV7"),
    (lambda p: p["levels"][0].update(level="first"), "level names look like L1"),
])
def test_config_mistakes_are_named_at_load(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as error:
        load_team_config(write_config(tmp_path, broken(change)))
    assert message in str(error.value)


def test_a_service_naming_an_unknown_policy_is_refused(tmp_path: Path) -> None:
    config = {**copy.deepcopy(POLICY), "services": [{"name": "search", "escalation_policy": "nights"}]}
    with pytest.raises(ConfigError, match="service 'search' names escalation policy 'nights', which is unknown"):
        load_team_config(write_config(tmp_path, config))
