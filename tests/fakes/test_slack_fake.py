"""The fake Slack, driven by the real slack_sdk clients: each test pins one documented rule, so a fake
that drifts from Slack's wire behaviour (and would let app bugs through) fails here first."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=TOKEN) as running:
        running.add_user("U0ALICE", "alice")
        running.add_user("U0BOB", "bob")
        yield running


@pytest.fixture(scope="module")
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.url, token=TOKEN)


def unique(prefix: str = "room") -> str:
    """Tests share one workspace, so every channel they make gets its own name."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def slack_error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call(*args, **kwargs)
    return str(caught.value.response["error"])


# --- auth and dispatch --------------------------------------------------------------------------


def test_auth_test_names_the_bot(client: WebClient, fake: FakeSlack) -> None:
    response = client.auth_test()
    assert (response["user_id"], response["team_id"], response["bot_id"]) == ("UBOT", "T0001", "B0001")


def test_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    assert slack_error(WebClient(base_url=fake.url, token="xoxb-wrong").auth_test) == "invalid_auth"


def test_missing_token_is_not_authed_and_unknown_method_is_reported(fake: FakeSlack) -> None:
    assert httpx.post(fake.url + "auth.test").json() == {"ok": False, "error": "not_authed"}
    assert slack_error(WebClient(base_url=fake.url, token=TOKEN).api_call, "nothing.here") == "unknown_method"
    assert slack_error(WebClient(base_url=fake.url, token=TOKEN).api_call, "auth_test") == "unknown_method"


def test_form_bodies_with_blocks_as_json_strings_are_accepted(fake: FakeSlack) -> None:
    channel = fake.add_channel(unique())
    blocks = json.dumps([{"type": "divider"}])
    form = {"token": TOKEN, "channel": channel, "blocks": blocks}
    response = httpx.post(fake.url + "chat.postMessage", data=form)
    assert response.json()["ok"] is True
    assert fake.messages(channel)[0]["blocks"] == [{"type": "divider"}]


# --- channels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "error"), [
    ("Incident-1", "invalid_name_specials"),
    ("has space", "invalid_name_specials"),
    ("has.period", "invalid_name_specials"),
    ("a" * 81, "invalid_name_maxlength"),
    ("", "invalid_name_required"),
])
def test_channel_name_rules(client: WebClient, name: str, error: str) -> None:
    assert slack_error(client.conversations_create, name=name) == error


def test_longest_legal_name_is_created_with_the_bot_as_creator_and_only_member(
    client: WebClient, fake: FakeSlack
) -> None:
    name = unique("x_") + "-" * 70
    name = name[:80]
    channel = client.conversations_create(name=name, is_private=True)["channel"]
    assert channel["name"] == name and channel["is_private"] is True and channel["id"].startswith("C")
    stored = fake.channels[channel["id"]]
    assert (stored["creator"], stored["members"]) == ("UBOT", ["UBOT"])


def test_name_taken(client: WebClient, fake: FakeSlack) -> None:
    made = unique()
    client.conversations_create(name=made)
    assert slack_error(client.conversations_create, name=made) == "name_taken"
    existing = unique()
    fake.add_channel(existing, bot_is_member=False)
    assert slack_error(client.conversations_create, name=existing) == "name_taken"


def test_invite_rules(client: WebClient, fake: FakeSlack) -> None:
    channel = client.conversations_create(name=unique())["channel"]["id"]
    assert slack_error(client.conversations_invite, channel=channel, users="U0NOBODY") == "user_not_found"
    assert slack_error(client.conversations_invite, channel=channel, users="UBOT") == "cant_invite_self"
    client.conversations_invite(channel=channel, users="U0ALICE,U0BOB")
    assert slack_error(client.conversations_invite, channel=channel, users="U0ALICE") == "already_in_channel"
    assert fake.channels[channel]["members"] == ["UBOT", "U0ALICE", "U0BOB"]
    outside = fake.add_channel(unique(), bot_is_member=False)
    assert slack_error(client.conversations_invite, channel=outside, users="U0ALICE") == "not_in_channel"


def test_topic_limits_and_membership(client: WebClient, fake: FakeSlack) -> None:
    channel = fake.add_channel(unique())
    assert client.conversations_setTopic(channel=channel, topic="SEV1")["channel"]["topic"]["value"] == "SEV1"
    assert slack_error(client.conversations_setPurpose, channel=channel, purpose="p" * 251) == "too_long"
    outside = fake.add_channel(unique(), bot_is_member=False)
    assert slack_error(client.conversations_setTopic, channel=outside, topic="x") == "not_in_channel"
    assert slack_error(client.conversations_setTopic, channel="C0MISSING", topic="x") == "channel_not_found"


def test_conversations_list_paginates_with_cursors() -> None:
    with FakeSlack() as fresh:
        names = [f"chan-{i}" for i in range(5)]
        for name in names:
            fresh.add_channel(name)
        fresh.add_channel("secret", is_private=True, bot_is_member=False)  # invisible to the bot
        client = WebClient(base_url=fresh.url, token=fresh.bot_token)
        pages, cursor = [], None
        while True:
            page = client.conversations_list(types="public_channel,private_channel", limit=2, cursor=cursor)
            pages.append([c["name"] for c in page["channels"]])
            cursor = page["response_metadata"]["next_cursor"]
            if not cursor:
                break
    assert pages == [names[0:2], names[2:4], names[4:5]]


# --- messages -------------------------------------------------------------------------------------


def test_post_by_id_and_by_name(client: WebClient, fake: FakeSlack) -> None:
    name = unique()
    channel = fake.add_channel(name)
    by_id = client.chat_postMessage(channel=channel, text="one")
    by_hash = client.chat_postMessage(channel=f"#{name}", text="two")
    by_name = client.chat_postMessage(channel=name, text="three")
    assert by_id["channel"] == by_hash["channel"] == by_name["channel"] == channel
    stored = fake.messages(channel)
    assert [m["text"] for m in stored] == ["one", "two", "three"]
    assert [m["ts"] for m in stored] == sorted({by_id["ts"], by_hash["ts"], by_name["ts"]}, key=float)


def test_post_needs_channel_membership_and_content(client: WebClient, fake: FakeSlack) -> None:
    assert slack_error(client.chat_postMessage, channel="#no-such-channel", text="x") == "channel_not_found"
    outside = fake.add_channel(unique(), bot_is_member=False)
    assert slack_error(client.chat_postMessage, channel=outside, text="x") == "not_in_channel"
    client.conversations_join(channel=outside)
    assert client.chat_postMessage(channel=outside, text="x")["ok"]
    with pytest.warns(UserWarning, match="text"):  # slack_sdk itself warns before sending
        assert slack_error(client.chat_postMessage, channel=outside) == "no_text"
    assert slack_error(client.chat_postMessage, channel=outside, text="x" * 40_001) == "msg_too_long"


def section(block_id: str) -> dict[str, Any]:
    return {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": "hi"}}


@pytest.mark.parametrize("blocks", [
    [{"type": "divider"}] * 51,
    [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}],
    [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
    [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
    [{"type": "carousel"}],
    [{"text": "no type"}],
    [section("same"), section("same")],
], ids=["51-blocks", "long-header", "long-section", "11-fields", "11-context", "unknown-type", "no-type",
        "repeated-block-id"])
def test_invalid_blocks(client: WebClient, fake: FakeSlack, blocks: list[dict[str, Any]]) -> None:
    channel = fake.add_channel(unique())
    assert slack_error(client.chat_postMessage, channel=channel, text="t", blocks=blocks) == "invalid_blocks"
    assert fake.messages(channel) == []


def test_blocks_at_the_limits_are_accepted(client: WebClient, fake: FakeSlack) -> None:
    channel = fake.add_channel(unique())
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}
    client.chat_postMessage(channel=channel, text="t", blocks=[header] + [{"type": "divider"}] * 49)
    assert len(fake.messages(channel)[0]["blocks"]) == 50


def test_metadata_is_stored_and_history_is_newest_first(client: WebClient, fake: FakeSlack) -> None:
    channel = fake.add_channel(unique())
    metadata = {"event_type": "incident_card", "event_payload": {"incident_id": "INC-1"}}
    first = client.chat_postMessage(channel=channel, text="card", metadata=metadata)["ts"]
    second = client.chat_postMessage(channel=channel, text="later")["ts"]
    history = client.conversations_history(channel=channel, limit=10, include_all_metadata=True)["messages"]
    assert [m["ts"] for m in history] == [second, first]
    assert history[1]["metadata"] == metadata and "metadata" not in history[0]
    plain = client.conversations_history(channel=channel)["messages"]
    assert "metadata" not in plain[1]  # Slack returns metadata only when include_all_metadata is set
    assert fake.messages(channel)[0]["metadata"] == metadata


def test_update_ephemeral_permalink_and_pins(client: WebClient, fake: FakeSlack) -> None:
    channel = fake.add_channel(unique())
    ts = client.chat_postMessage(channel=channel, text="v1")["ts"]
    client.chat_update(channel=channel, ts=ts, text="v2")
    assert fake.messages(channel)[0]["text"] == "v2"
    assert slack_error(client.chat_update, channel=channel, ts="1.000001", text="x") == "message_not_found"
    permalink = client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    assert permalink == f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    error = slack_error(client.chat_postEphemeral, channel=channel, user="U0ALICE", text="x")
    assert error == "user_not_in_channel"
    client.conversations_invite(channel=channel, users="U0ALICE")
    assert client.chat_postEphemeral(channel=channel, user="U0ALICE", text="psst")["message_ts"]
    assert fake.ephemerals[-1] == {"channel": channel, "user": "U0ALICE", "text": "psst", "blocks": None}
    client.pins_add(channel=channel, timestamp=ts)
    assert slack_error(client.pins_add, channel=channel, timestamp=ts) == "already_pinned"
    assert slack_error(client.pins_add, channel=channel, timestamp="1.000001") == "message_not_found"
    assert fake.pins[channel] == [ts]


def test_users_info_and_views(client: WebClient) -> None:
    user = client.users_info(user="U0ALICE")["user"]
    summary = (user["name"], user["profile"]["display_name"], user["tz"], user["is_bot"])
    assert summary == ("alice", "alice", "UTC", False)
    assert slack_error(client.users_info, user="U0NOBODY") == "user_not_found"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    opened = client.views_open(trigger_id="trig.1", view=view)["view"]
    assert opened["id"].startswith("V")
    assert client.views_update(view_id=opened["id"], view=view)["view"]["id"] == opened["id"]


# --- fault injection ------------------------------------------------------------------------------


def test_fail_injection_applies_to_the_next_calls_only(client: WebClient, fake: FakeSlack) -> None:
    fake.fail("users.info", "fatal_error", times=2)
    before = len(fake.calls_to("users.info"))
    assert slack_error(client.users_info, user="U0ALICE") == "fatal_error"
    assert slack_error(client.users_info, user="U0ALICE") == "fatal_error"
    assert client.users_info(user="U0ALICE")["ok"]
    assert len(fake.calls_to("users.info")) == before + 3


def test_ratelimit_is_retried_by_the_sync_handler(fake: FakeSlack) -> None:
    retrying = WebClient(base_url=fake.url, token=TOKEN,
                         retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    fake.ratelimit("conversations.info", retry_after=1)
    channel = fake.add_channel(unique())
    before = len(fake.calls_to("conversations.info"))
    started = time.monotonic()
    assert retrying.conversations_info(channel=channel)["channel"]["id"] == channel
    assert time.monotonic() - started >= 1.0  # the client honoured Retry-After
    assert len(fake.calls_to("conversations.info")) == before + 2


def test_ratelimit_without_a_handler_raises_429(client: WebClient, fake: FakeSlack) -> None:
    fake.ratelimit("auth.test", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        client.auth_test()
    response = caught.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert response.headers["Retry-After"] in ("7", ["7"])


async def test_ratelimit_is_retried_by_the_async_handler(fake: FakeSlack) -> None:
    retrying = AsyncWebClient(base_url=fake.url, token=TOKEN,
                              retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    channel = fake.add_channel(unique())
    fake.ratelimit("chat.postMessage", retry_after=1)
    before = len(fake.calls_to("chat.postMessage"))
    assert (await retrying.chat_postMessage(channel=channel, text="after 429"))["ok"]
    assert len(fake.calls_to("chat.postMessage")) == before + 2
    assert [m["text"] for m in fake.messages(channel)] == ["after 429"]


def test_hang_blocks_only_that_method_until_release(client: WebClient, fake: FakeSlack) -> None:
    fake.hang("auth.test")
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(client.auth_test()["ok"]), daemon=True)
    worker.start()
    worker.join(timeout=0.3)
    assert worker.is_alive() and results == []
    assert client.users_info(user="U0BOB")["ok"]  # the server loop itself is not blocked
    fake.release("auth.test")
    worker.join(timeout=5)
    assert results == [True]
    assert client.auth_test()["ok"]  # released for good


def test_delay_slows_every_call(client: WebClient, fake: FakeSlack) -> None:
    fake.delay("users.info", 0.2)
    try:
        for _ in range(2):
            started = time.monotonic()
            client.users_info(user="U0BOB")
            assert time.monotonic() - started >= 0.2
    finally:
        fake.delay("users.info", 0)


# --- response_url ---------------------------------------------------------------------------------


def test_response_url_records_posts_and_rejects_unknown_urls(fake: FakeSlack) -> None:
    url = fake.response_url()
    response = WebhookClient(url).send(text="Declared INC-1", response_type="ephemeral")
    assert (response.status_code, response.body) == (200, "ok")
    assert fake.responses[-1] == {"text": "Declared INC-1", "response_type": "ephemeral", "_url": url}
    assert WebhookClient(f"{fake.base}/response/not-issued").send(text="x").status_code == 404


# --- file uploads ---------------------------------------------------------------------------------


def upload_ticket(client: WebClient, data: bytes, length: int | None = None) -> tuple[str, str]:
    ticket = client.files_getUploadURLExternal(filename="notes.md", length=len(data) if length is None else length)
    return str(ticket["file_id"]), str(ticket["upload_url"])


def test_get_upload_url_needs_a_filename_and_a_length(client: WebClient, fake: FakeSlack) -> None:
    assert slack_error(client.api_call, "files.getUploadURLExternal", params={"length": 3}) == "invalid_arguments"
    assert slack_error(client.api_call, "files.getUploadURLExternal", params={"filename": "a"}) == "invalid_arguments"
    assert slack_error(client.files_getUploadURLExternal, filename="a.md", length=0) == "missing_argument"
    file_id, url = upload_ticket(client, b"abc")
    assert file_id.startswith("F") and url == f"{fake.base}/upload/v1/{file_id}"


def test_upload_url_takes_exactly_the_announced_bytes(client: WebClient, fake: FakeSlack) -> None:
    assert httpx.post(f"{fake.base}/upload/v1/FNOTISSUED", content=b"abc").status_code == 404
    file_id, url = upload_ticket(client, b"abc", length=4)
    refused = httpx.post(url, content=b"abc")
    assert (refused.status_code, refused.text) == (400, "length mismatch: announced 4, got 3")
    channel = fake.add_channel(unique())
    files = [{"id": file_id, "title": "t"}]
    assert slack_error(client.files_completeUploadExternal, files=files, channel_id=channel) == "file_not_found"
    file_id, url = upload_ticket(client, "é".encode())  # two bytes, one character
    accepted = httpx.post(url, content="é".encode())
    assert (accepted.status_code, accepted.text) == (200, "OK - 2")


def test_complete_upload_checks_everything_before_sharing(client: WebClient, fake: FakeSlack) -> None:
    file_id, url = upload_ticket(client, b"# hi")
    httpx.post(url, content=b"# hi")
    files = [{"id": file_id, "title": "Notes"}]
    outside = fake.add_channel(unique(), bot_is_member=False)
    complete = client.files_completeUploadExternal
    assert slack_error(complete, files=files, channel_id=outside) == "not_in_channel"
    assert slack_error(complete, files=files, channel_id="C0MISSING1") == "channel_not_found"
    assert slack_error(complete, files=files, channel_id="#general") == "invalid_arguments"
    assert slack_error(complete, files=[{"title": "no id"}], channel_id=outside) == "invalid_arguments"
    assert slack_error(complete, files=[{"id": "FUNKNOWN1"}], channel_id=outside) == "not_in_channel"
    channel = fake.add_channel(unique())
    assert slack_error(complete, files=[{"id": "FUNKNOWN1"}], channel_id=channel) == "file_not_found"
    shared = complete(files=files, channel_id=channel, initial_comment="Notes attached")["files"]
    assert [(f["id"], f["title"], f["size"]) for f in shared] == [(file_id, "Notes", 4)]
    assert slack_error(complete, files=files, channel_id=channel) == "file_not_found"  # completes only once
    assert [f["content"] for f in fake.files(channel)] == ["# hi"]
    assert fake.files(outside) == [] and fake.messages(outside) == []


def test_complete_upload_without_a_channel_keeps_the_file_private(client: WebClient, fake: FakeSlack) -> None:
    file_id, url = upload_ticket(client, b"private")
    httpx.post(url, content=b"private")
    assert client.files_completeUploadExternal(files=[{"id": file_id}])["files"][0]["title"] == "notes.md"
    assert all(f["id"] != file_id for channel in fake.channel_ids() for f in fake.files(channel))


def test_sync_files_upload_v2_shares_the_file_as_a_message(client: WebClient, fake: FakeSlack) -> None:
    channel = fake.add_channel(unique())
    parent = client.chat_postMessage(channel=channel, text="thread")["ts"]
    response = client.files_upload_v2(channel=channel, filename="t.md", title="T", content="body",
                                      initial_comment="see file", thread_ts=parent)
    [shared] = fake.files(channel)
    assert shared == {"id": response["file"]["id"], "name": "t.md", "title": "T", "content": "body",
                      "initial_comment": "see file", "thread_ts": parent, "user": "UBOT",
                      "ts": fake.messages(channel)[1]["ts"]}
    reply = client.conversations_replies(channel=channel, ts=parent)["messages"][1]
    assert (reply["text"], reply["files"][0]["name"], reply["upload"]) == ("see file", "t.md", True)


# --- OAuth scopes -------------------------------------------------------------------------------


def test_a_call_without_its_scope_is_missing_scope_naming_needed_and_provided() -> None:
    with FakeSlack(scopes={"chat:write", "channels:read"}) as limited:
        limited.add_user("U0ALICE", "alice")
        client = WebClient(base_url=limited.url, token=limited.bot_token)
        with pytest.raises(SlackApiError) as caught:
            client.users_info(user="U0ALICE")
        assert caught.value.response.data == {"ok": False, "error": "missing_scope", "needed": "users:read",
                                               "provided": "channels:read,chat:write"}
        assert caught.value.response.headers["x-oauth-scopes"] == "channels:read,chat:write"
        # Conversation methods need the scope of the conversation's kind: private channels are groups:*.
        assert slack_error(client.conversations_create, name=unique(), is_private=True) == "missing_scope"
        ok = client.conversations_list(types="public_channel")
        assert ok.headers["x-accepted-oauth-scopes"] == "channels:read,groups:read"
        listing = slack_error(client.conversations_list, types="public_channel,private_channel")
        assert listing == "missing_scope"


def test_the_default_token_has_the_manifest_scopes_and_chat_write_public_posts_without_joining() -> None:
    from tests.fakes.slack_scopes import manifest_bot_scopes

    with FakeSlack() as default:
        assert default.scopes == manifest_bot_scopes()
    with FakeSlack(scopes={*manifest_bot_scopes(), "chat:write.public"}) as public:
        channel = public.add_channel("general", bot_is_member=False)
        WebClient(base_url=public.url, token=public.bot_token).chat_postMessage(channel=channel, text="hi")
        assert [m["text"] for m in public.messages(channel)] == ["hi"]
    with FakeSlack() as members_only:
        channel = members_only.add_channel("general", bot_is_member=False)
        client = WebClient(base_url=members_only.url, token=members_only.bot_token)
        assert slack_error(client.chat_postMessage, channel=channel, text="hi") == "not_in_channel"


def test_every_method_the_fake_answers_has_its_documented_scopes() -> None:
    from tests.fakes.slack_scopes import METHOD_SCOPES

    answered = {name.removeprefix("_api_").replace("_", ".") for name in dir(FakeSlack) if name.startswith("_api_")}
    assert answered - set(METHOD_SCOPES) == set()
