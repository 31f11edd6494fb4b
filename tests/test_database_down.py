"""With the database unreachable the declarer is told, nothing is half-recorded, the service stays up."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text, free_socket


def test_declare_with_the_database_down_tells_the_declarer_and_keeps_serving(slack: FakeSlack, tmp_path: Path) -> None:
    closed = free_socket()  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    env = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/incidentbot",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": slack.url,
        "INBOX_SPOOL_DIR": str(tmp_path / "spool"),
    }
    with AppServer(env) as server:
        sender = SlackSender(server.url, "test-signing-secret", slack)
        # A change waits on disk for the database; a read can't, and says nothing was changed.
        reply = ack_text(sender.command("declare SEV1 Everything is down"))
        assert "incident database is unreachable" in reply and "saved and will be applied" in reply
        reply = ack_text(sender.command("list"))
        assert "incident database is unreachable" in reply and "Nothing was changed" in reply
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        # The token cannot be checked either: the answer is the same 503, never a 401 that blames the token.
        api = httpx.post(f"{server.url}/api/v1/incidents", json={"title": "x", "severity": "SEV2"},
                         headers={"Authorization": "Bearer ib_not-checked-while-the-database-is-down"})
        assert api.status_code == 503 and "unreachable" in api.json()["error"]
        # A card button is acked once it is kept on disk, to be applied when the database is back.
        assert sender.click("take_ic", "INC-2026-0101-001", user="U0BOB", channel="C1", message_ts="1.0"
                            ).status_code == 200
        spooled = sorted((tmp_path / "spool").glob("*.json"))
        assert len(spooled) == 2
        assert "Everything is down" in spooled[0].read_text() and "take_ic" in spooled[1].read_text()
        # Still serving Slack after the failures.
        assert "/incident declare" in ack_text(sender.command("help"))
    closed.close()
    assert slack.calls_to("conversations.create") == []


def test_a_change_that_cannot_even_be_spooled_says_nothing_was_changed(slack: FakeSlack, tmp_path: Path) -> None:
    closed = free_socket()
    (tmp_path / "not-a-directory").write_text("")
    env = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed.getsockname()[1]}/incidentbot",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": slack.url,
        "INBOX_SPOOL_DIR": str(tmp_path / "not-a-directory"),
    }
    with AppServer(env) as server:
        sender = SlackSender(server.url, "test-signing-secret", slack)
        reply = ack_text(sender.command("declare SEV1 Everything is down"))
        assert "unreachable" in reply and "Nothing was changed" in reply
        # An event is refused rather than acknowledged and dropped: Slack sends it again later.
        body = ('{"type": "event_callback", "event_id": "Ev0001", "team_id": "T0001", "api_app_id": "A0001", '
                '"event": {"type": "message", "channel": "C1", "user": "U0BOB", "text": "hi", "ts": "1.0"}}')
        assert sender.post(body, headers={"Content-Type": "application/json"}).status_code == 503
    closed.close()
