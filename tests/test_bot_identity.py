"""A process that starts while Slack is rate-limiting or down still takes commands: authorising a request
does not wait on Slack's `auth.test`, which is asked in the background until it answers."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from app.settings import Settings
from app.slack import failures
from app.slack.client import create_client
from app.slack.identity import BotIdentity, IdentityUnknown
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
        # The identity is learned once Slack answers (by the first request after the storm, if the set-up did not
        # need it), and kept: no auth.test per request after that.
        ack_text(sender.command("help"))
        asked = len(slack.calls_to("auth.test"))
        for _ in range(3):
            ack_text(sender.command("help"))
        assert len(slack.calls_to("auth.test")) == asked

    rooms = [c for c in slack.channels.values() if c["name"].startswith("inc-")]
    assert [r["purpose"].split(":")[0] for r in rooms] == [public_id]
    [card] = slack.messages(rooms[0]["id"])
    assert slack.pins[rooms[0]["id"]] == [card["ts"]]
    announcements = slack.messages(slack.channel_by_name("incidents")["id"])
    assert [m["metadata"]["event_payload"]["incident_id"] for m in announcements] == [public_id]


async def test_replayed_events_wait_for_the_bot_identity_and_live_requests_do_not(slack: FakeSlack) -> None:
    settings = Settings(slack_bot_token=slack.bot_token, slack_signing_secret="s", slack_api_url=slack.url)
    bot = BotIdentity(create_client(settings, wait_on_ratelimit=False))
    live, strict = bot.authorize(strict=False), bot.authorize(strict=True)
    slack.storm(60, status=429)

    answered = await live(enterprise_id=None, team_id=slack.team_id, user_id="U0DECLARER")
    assert answered.bot_token == slack.bot_token and answered.bot_user_id is None
    with pytest.raises(IdentityUnknown) as refused:
        await strict(enterprise_id=None, team_id=slack.team_id, user_id="U0DECLARER")
    assert failures.is_transient(refused.value)  # the inbox tries the event again later

    slack.storm(0)
    replayed = await strict(enterprise_id=None, team_id=slack.team_id, user_id="U0DECLARER")
    assert (replayed.bot_user_id, replayed.bot_id) == (slack.bot_user_id, "B0001")
    asked = len(slack.calls_to("auth.test"))
    assert (await live(enterprise_id=None, team_id=slack.team_id, user_id="U0BOB")).bot_user_id == slack.bot_user_id
    assert len(slack.calls_to("auth.test")) == asked
