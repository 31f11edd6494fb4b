"""An incident run to the end from the command line, without Slack and with it, as an operator runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from app.db.engine import create_sync_engine
from app.db.migrate import upgrade
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import concurrently
from tests.test_cli import run


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """The CLI goes through the same change path as the API, which runs on both databases; SQLite is enough."""
    url = f"sqlite:///{tmp_path}/incidentbot.db"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Engine]:
    engine = create_sync_engine(sqlite_url)
    yield engine
    engine.dispose()


def incident_row(db: Engine) -> dict:
    with db.connect() as c:
        return dict(c.execute(text("SELECT * FROM incidents")).one()._mapping)


def timeline(db: Engine) -> list[tuple[str, str, str]]:
    with db.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT kind, actor, text FROM timeline_events ORDER BY id"))]


def declared_id(result: object) -> str:
    stdout = result.stdout  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return stdout.split("## Incident Declared: ", 1)[1].split()[0]


def test_the_whole_lifecycle_from_the_cli_without_slack_and_bad_input(sqlite_url: str, sqlite_db: Engine) -> None:
    env = {"DATABASE_URL": sqlite_url}
    inc = declared_id(run("declare", "-s", "SEV2", "Checkout returning 502s", env=env))
    cli = lambda *args: run("incident", *args, env=env)  # noqa: E731

    updated = cli("update", inc, "Bad", "deploy", "rolled", "back", "--status", "identified", "--by", "U0ALICE")
    assert updated.returncode == 0 and updated.stdout.strip() == f"Update posted for {inc}."
    assert cli("severity", inc, "sev1", "all", "regions").stdout.strip() == f"{inc} is now SEV1."
    assert cli("assign", inc, "comms", "U0BOB").stdout.strip() == f"@U0BOB is now Communications for {inc}."
    assert cli("note", inc, "DB CPU back to normal").returncode == 0
    refused = cli("close", inc)
    assert refused.returncode == 1
    assert refused.stderr == f"error: {inc} is IDENTIFIED; resolve it before closing.\n"
    assert cli("resolve", inc, "Rolled back 4.2.0").stdout.strip() == f"{inc} resolved."
    assert cli("close", inc).returncode == 0
    assert cli("reopen", inc).stdout.strip() == f"{inc} reopened."

    row = incident_row(sqlite_db)
    assert (row["severity"], row["status"], row["summary"]) == ("SEV1", "INVESTIGATING", "Rolled back 4.2.0")
    events = timeline(sqlite_db)
    assert [kind for kind, _, _ in events][1:] == ["status_changed", "status_update", "severity_changed",
                                                   "role_assigned", "note", "resolved", "closed", "reopened"]
    assert ("status_update", "U0ALICE", "Bad deploy rolled back") in events
    assert ("severity_changed", f"cli:{_login(events)}", "Severity raised SEV2 → SEV1: all regions") in events

    # Bad input: one line on stderr, a non-zero exit, and nothing recorded (each refused alone: run at once).
    cases = [
        (("severity", inc, "SEV9"), 2, "error: Unknown severity SEV9. Use one of SEV1, SEV2, SEV3, SEV4, SEV5."),
        (("assign", inc, "wizard", "U0BOB"), 2, "error: Unknown role 'wizard'. Roles: Incident Commander, "
                                                "Communications, Scribe, Subject Expert, Postmortem Owner."),
        (("note", "INC-2020-0101-001", "x"), 1, "error: no incident INC-2020-0101-001; `incidentbot list` shows "
                                                "the recorded ones"),
    ]
    results = concurrently(lambda args=args: cli(*args) for args, _, _ in cases)
    for (_, code, message), result in zip(cases, results, strict=True):
        assert (result.returncode, result.stderr, result.stdout) == (code, message + "\n", "")
    assert timeline(sqlite_db) == events


def _login(events: list[tuple[str, str, str]]) -> str:
    return next(actor for kind, actor, _ in events if kind == "declared").removeprefix("cli:")


def test_cli_changes_are_told_in_the_war_room_when_slack_is_configured(sqlite_url: str, slack: FakeSlack) -> None:
    env = {"DATABASE_URL": sqlite_url, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": "s",
           "SLACK_API_URL": slack.url}
    inc = declared_id(run("declare", "-s", "SEV2", "--by", "U0DECLARER", "Login outage", env=env))
    [room] = [cid for cid, c in slack.channels.items() if c["name"].startswith("inc-")]
    announcements = slack.channel_by_name("incidents")["id"]

    run("incident", "update", inc, "Found the bad config", "--status", "identified", "--by", "U0DECLARER", env=env)
    assert any(m["text"] == ":loudspeaker: *Status update* (IDENTIFIED) from <@U0DECLARER>: Found the bad config"
               for m in slack.messages(room))
    assert slack.channels[room]["topic"] == "SEV2 | IDENTIFIED | IC <@U0DECLARER>"
    [announcement] = slack.messages(announcements)
    assert "Found the bad config" in str(announcement["blocks"])  # the one announcement, edited in place

    assigned = run("incident", "assign", inc, "comms", "U0BOB", env=env)
    assert assigned.returncode == 0, assigned.stderr
    assert "Communications" in slack.direct_messages("U0BOB")[0]["text"]

    resolved = run("incident", "resolve", inc, "Config reverted", env=env)
    assert resolved.stdout.strip() == f"{inc} resolved. The handoff is in the war room."
    wait_for(lambda: "Config reverted" in str(slack.messages(room)[-1]["blocks"]), what="handoff")
    assert slack.channels[room]["topic"].startswith("SEV2 | RESOLVED")
    assert slack.bot_token not in resolved.stdout + resolved.stderr
