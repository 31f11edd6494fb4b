"""Pure pieces: channel names, command parsing, team config, migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_team_config
from app.db.migrate import heads
from app.slack.command_parser import Declare, Help, Invalid, ListOpen, OnIncident, OpenDeclareForm, parse
from app.warroom.naming import MAX_CHANNEL_NAME, belongs_to, channel_name

SLACK_NAME = r"^[a-z0-9_-]{1,80}$"


def test_channel_name_follows_slack_rules() -> None:
    assert channel_name("INC-2026-1125-001", "Payment API returning 500 errors") == (
        "inc-2026-1125-001-payment-api-returning-500-errors")
    assert channel_name("INC-2026-1125-001", "Ünïcode & émojis 🔥 / Spaces.Dots") == (
        "inc-2026-1125-001-unicode-emojis-spaces-dots")
    assert channel_name("INC-2026-1125-001", "!!!") == "inc-2026-1125-001"
    assert channel_name("INC-2026-1125-001", "db", attempt=3) == "inc-2026-1125-001-db-3"


@pytest.mark.parametrize("attempt", [1, 2, 17])
def test_long_titles_are_cut_at_a_word_to_80_characters(attempt: int) -> None:
    import re

    name = channel_name("INC-2026-1125-001", "checkout " * 30, attempt)
    assert len(name) <= MAX_CHANNEL_NAME and re.match(SLACK_NAME, name)
    assert name.startswith("inc-2026-1125-001-checkout-") and "--" not in name
    assert name.endswith(f"-{attempt}") if attempt > 1 else name.endswith("checkout")
    assert belongs_to(name, "INC-2026-1125-001") and not belongs_to(name, "INC-2026-1125-00")


def test_command_parsing() -> None:
    assert parse("declare SEV2 Payment API down") == Declare("Payment API down", "SEV2")
    assert parse("DECLARE sev-1 Payment API down") == Declare("Payment API down", "SEV1")
    assert parse("declare Payment API down") == Declare("Payment API down", None)
    assert parse("declare SEV9 x") == Declare("x", "SEV9")  # unknown severities are judged against config
    assert parse("  ") == Help() and parse("help") == Help()
    assert parse("declare") == OpenDeclareForm(None) and parse("declare sev1") == OpenDeclareForm("SEV1")
    assert parse("declare Login &amp; SSO &lt;down&gt;") == Declare("Login & SSO <down>", None)
    assert isinstance(parse("resolve-all"), Invalid)
    assert parse("list") == ListOpen()


def test_incident_subcommand_parsing() -> None:
    assert parse("status") == OnIncident("status", None)
    assert parse("status inc-2026-1125-001") == OnIncident("status", "INC-2026-1125-001")
    assert parse("update Rolled back --status identified") == OnIncident(
        "update", None, text="Rolled back", status="identified")
    assert parse("update INC-2026-1125-002 --status=monitoring Fix deployed") == OnIncident(
        "update", "INC-2026-1125-002", text="Fix deployed", status="monitoring")
    assert parse("severity sev1 revenue impact") == OnIncident("severity", None, text="revenue impact",
                                                               severity="SEV1")
    assert parse("assign comms <@U0BOB|bob>") == OnIncident("assign", None, text="comms", user_id="U0BOB")
    assert parse("assign <@U0BOB> subject expert") == OnIncident("assign", None, text="subject expert",
                                                                 user_id="U0BOB")
    assert parse("resolve Rolled back 2.3.1") == OnIncident("resolve", None, text="Rolled back 2.3.1")
    for bad in ("update", "update --status fixed done", "severity", "severity high", "assign comms", "note"):
        assert isinstance(parse(bad), Invalid), bad


def test_team_config_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "incidentbot.yml"
    path.write_text(
        "severities:\n  - {name: sev1, meaning: Everything is on fire}\n  - {name: SEV2, meaning: Bad}\n"
        "default_severity: SEV2\nservices:\n  - {name: payment-api, aliases: [payments]}\n"
    )
    config = load_team_config(path)
    assert config.severity_names == ["SEV1", "SEV2"]
    assert config.service_for("Payment API returning 500s") == "payment-api"
    assert config.service_for("payments slow") == "payment-api"
    assert config.service_for("search is slow") is None


@pytest.mark.parametrize(("content", "message"), [
    ("severities: []\n", "at least one severity"),
    ("severities:\n  - {name: P1, meaning: x}\n", "SEV1..SEV9"),
    ("default_severity: SEV7\n", "default_severity SEV7 is not a severity"),
    ("severities: [unclosed\n", "not valid YAML"),
])
def test_bad_team_config_says_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "incidentbot.yml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_team_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_team_config(tmp_path / "missing.yml")


def test_migrations_have_a_single_head() -> None:
    assert len(heads("sqlite://")) == 1


def test_the_documented_example_config_loads() -> None:
    config = load_team_config(Path(__file__).parent.parent / "incidentbot.example.yml")
    assert config.update_cadence("sev1") == 15 and config.service_for("checkout is slow") == "payment-api"
    assert config.role("ic") is not None and config.role("postmortem") is not None
