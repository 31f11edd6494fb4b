"""A process that starts while Slack is rate-limiting or down still takes commands: authorising a request
does not wait on Slack's `auth.test`, which is asked in the background until it answers."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import AppServer, SlackSender, ack_text

QUICK = {"INCIDENTBOT_SETUP_RETRY_SECONDS": "0.2", "INCIDENTBOT_SETUP_SWEEP_SECONDS": "0.2",
         "INCIDENTBOT_SETUP_LEASE_SECONDS": "2"}
STORM_SECONDS = 4.0


def incidents(db: Engine) -> list[tuple[str, str, str]]:
    with db.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT public_id, title, setup_state FROM incidents ORDER BY id"))]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("status", [429, 503])
def test_a_declare_in_a_storm_right_after_start_is_recorded_and_gets_its_room_after(
    app_env: dict[str, str], slack: FakeSlack, db: Engine, status: int
) -> None:
    slack.storm(STORM_SECONDS, status=status)  # Slack is already failing when the process starts
    storm_ends = time.monotonic() + STORM_SECONDS
    with AppServer({**app_env, **QUICK}) as server:
        sender = SlackSender(server.url, "test-signing-secret", slack)
        wait_for(lambda: slack.calls_to("auth.test"), what="the start-up auth.test")
        reply = ack_text(sender.command("declare SEV2 Checkout failing for every customer"))
        assert time.monotonic() < storm_ends, "the storm ended before the declare; the test proves nothing"
        assert "installation" not in reply.lower()
        public_id = reply.split("*")[1]
        assert [(i[0], i[1]) for i in incidents(db)] == [(public_id, "Checkout failing for every customer")]
        wait_for(lambda: incidents(db)[0][2] == "done", timeout=45, what="the war room after the storm")
        # The identity is learned once Slack answers, and kept: no auth.test per request.
        asked = len(slack.calls_to("auth.test"))
        ack_text(sender.command("help"))
        assert len(slack.calls_to("auth.test")) == asked

    rooms = [c for c in slack.channels.values() if c["name"].startswith("inc-")]
    assert [r["purpose"].split(":")[0] for r in rooms] == [public_id]
    [card] = slack.messages(rooms[0]["id"])
    assert slack.pins[rooms[0]["id"]] == [card["ts"]]
    announcements = slack.messages(slack.channel_by_name("incidents")["id"])
    assert [m["metadata"]["event_payload"]["incident_id"] for m in announcements] == [public_id]
