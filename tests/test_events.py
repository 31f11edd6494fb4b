"""Slack events: answered once, however often Slack delivers them."""

from __future__ import annotations

import json

from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.support import SlackSender


def test_a_mention_is_answered_in_thread_once_despite_retries(sender: SlackSender, slack: FakeSlack) -> None:
    general = slack.add_channel("general")
    posted = slack.post_as_user(general, "U0BOB", "<@UBOT> how do I declare?")
    body = json.dumps({
        "token": "x", "team_id": slack.team_id, "api_app_id": "A0001", "type": "event_callback",
        "event_id": "Ev0MENTION1", "event_time": 1, "authorizations": [{"user_id": slack.bot_user_id}],
        "event": {"type": "app_mention", "user": "U0BOB", "text": "<@UBOT> how do I declare?",
                  "ts": posted, "channel": general, "event_ts": posted},
    })
    headers = {"Content-Type": "application/json"}
    assert sender.post(body, headers=headers).status_code == 200
    retry = sender.post(body, headers={**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    replies = wait_for(lambda: [m for m in slack.messages(general) if m.get("thread_ts") == posted],
                       what="threaded reply")
    assert "/incident declare" in replies[0]["text"] and "<@U0BOB>" in replies[0]["text"]
    assert len(slack.calls_to("chat.postMessage")) == 1
