"""post_markdown through the app's real AsyncWebClient (built by create_client, retry handlers included)
against the fake Slack: what lands in the channel, and how each failure reaches the caller."""

from __future__ import annotations

import time
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from app.settings import Settings
from app.slack.client import create_client
from app.slack.files import post_markdown
from tests.fakes.slack import FakeSlack

FILENAME, TITLE = "postmortem-INC-2024-1220-001.md", "Postmortem INC-2024-1220-001"
# Non-ASCII on purpose: the announced length is in bytes, not characters.
MARKDOWN = "# Postmortem — INC-2024-1220-001\n\n## Impact\nCheckout p99 > 4 s for 23 min (café region).\n"
COMMENT = "Draft postmortem for INC-2024-1220-001: please review before Friday."


def client_for(slack: FakeSlack) -> AsyncWebClient:
    return create_client(Settings(_env_file=None, slack_bot_token=slack.bot_token, slack_api_url=slack.url))


async def post(client: AsyncWebClient, channel: str, thread_ts: str | None = None) -> str:
    return await post_markdown(client, channel, FILENAME, TITLE, MARKDOWN, COMMENT, thread_ts=thread_ts)


async def slack_error(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def test_posts_the_exact_markdown_with_the_comment(slack: FakeSlack) -> None:
    channel = slack.add_channel("inc-2024-1220-001-checkout")
    client = client_for(slack)
    file_id = await post(client, channel)
    assert file_id.startswith("F")
    [shared] = slack.files(channel)
    assert {k: v for k, v in shared.items() if k != "ts"} == {
        "id": file_id, "name": FILENAME, "title": TITLE, "content": MARKDOWN, "initial_comment": COMMENT,
        "thread_ts": None, "user": "UBOT",
    }
    [message] = (await client.conversations_history(channel=channel))["messages"]
    assert (message["ts"], message["text"], message["files"][0]["id"]) == (shared["ts"], COMMENT, file_id)
    assert "thread_ts" not in message


async def test_posts_into_a_thread_when_thread_ts_is_given(slack: FakeSlack) -> None:
    channel = slack.add_channel("inc-2024-1220-001-thread")
    client = client_for(slack)
    parent = (await client.chat_postMessage(channel=channel, text="Postmortem drafting"))["ts"]
    file_id = await post(client, channel, thread_ts=parent)
    assert slack.files(channel)[0]["thread_ts"] == parent
    thread = (await client.conversations_replies(channel=channel, ts=parent))["messages"]
    assert [(m["text"], [f["id"] for f in m.get("files", [])]) for m in thread] == [
        ("Postmortem drafting", []), (COMMENT, [file_id]),
    ]
    top_level = (await client.conversations_history(channel=channel))["messages"]
    assert [m["ts"] for m in top_level] == [parent]  # the file went into the thread, not the channel


@pytest.mark.parametrize(("target", "error"), [
    ("missing", "channel_not_found"),
    ("outside", "not_in_channel"),
    ("by-name", "invalid_arguments"),
])
async def test_channel_problems_raise_and_share_nothing(slack: FakeSlack, target: str, error: str) -> None:
    outside = slack.add_channel("inc-outside", bot_is_member=False)
    channel = {"missing": "C0MISSING1", "outside": outside, "by-name": "inc-outside"}[target]
    assert await slack_error(post(client_for(slack), channel)) == error
    assert slack.files(outside) == [] and slack.messages(outside) == []


@pytest.mark.parametrize("method", ["files.getUploadURLExternal", "files.completeUploadExternal"])
async def test_a_ratelimited_first_attempt_is_retried(slack: FakeSlack, method: str) -> None:
    channel = slack.add_channel("inc-ratelimited")
    slack.ratelimit(method, retry_after=1)
    started = time.monotonic()
    file_id = await post(client_for(slack), channel)
    assert time.monotonic() - started >= 1.0  # the retry handler waited for Retry-After
    assert len(slack.calls_to(method)) == 2
    assert [(f["id"], f["content"]) for f in slack.files(channel)] == [(file_id, MARKDOWN)]
    assert len(slack.messages(channel)) == 1


async def test_an_injected_failure_propagates(slack: FakeSlack) -> None:
    channel = slack.add_channel("inc-fatal")
    slack.fail("files.completeUploadExternal", "fatal_error")
    assert await slack_error(post(client_for(slack), channel)) == "fatal_error"
    assert slack.files(channel) == []


class MiscountingClient(AsyncWebClient):
    """Announces one byte more than it sends, like code that counts characters where Slack wants bytes."""

    async def files_getUploadURLExternal(self, *, filename: str, length: int, **kwargs: Any) -> Any:
        return await super().files_getUploadURLExternal(filename=filename, length=length + 1, **kwargs)


async def test_an_upload_of_the_wrong_length_is_refused(slack: FakeSlack) -> None:
    channel = slack.add_channel("inc-wrong-length")
    client = MiscountingClient(token=slack.bot_token, base_url=slack.url)
    with pytest.raises(SlackRequestError, match="status: 400"):
        await post(client, channel)
    assert slack.calls_to("files.completeUploadExternal") == []  # nothing half-shared
    assert slack.files(channel) == [] and slack.messages(channel) == []
