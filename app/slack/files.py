"""Documents (a postmortem, a timeline) posted into Slack as Markdown files rather than messages: a file keeps
its formatting, has no message length limit, and can be downloaded and edited as it was written."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient


async def post_markdown(
    client: AsyncWebClient,
    channel_id: str,
    filename: str,
    title: str,
    markdown: str,
    comment: str,
    thread_ts: str | None = None,
) -> str:
    """Share `markdown` as `filename` in the channel, introduced by `comment` (as a reply in the thread of
    `thread_ts` when given), and return the Slack file id.

    Failures propagate for the caller to handle: SlackApiError when Slack refuses a call (channel_not_found,
    not_in_channel, invalid_arguments for a channel name instead of an id), SlackRequestError when the upload
    URL refuses the bytes. Rate limits are the client's retry handlers' business.
    """
    response = await client.files_upload_v2(
        channel=channel_id, filename=filename, title=title, content=markdown, initial_comment=comment,
        thread_ts=thread_ts,
    )
    return str(response["file"]["id"])
