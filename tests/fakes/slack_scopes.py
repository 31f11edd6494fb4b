"""Which OAuth scopes a bot token needs for each Slack Web API method, as Slack documents them on each method's
page (api.slack.com/methods/<method>, "Required scopes"), and the bot scopes the app's manifest asks for.

Conversation methods need the scope for the kind of conversation they touch (a public channel, a private one, a
DM or a group DM); the others need one scope, or none.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PUBLIC, PRIVATE, IM, MPIM = "public_channel", "private_channel", "im", "mpim"
KINDS = (PUBLIC, PRIVATE, IM, MPIM)
MANIFEST = Path(__file__).resolve().parents[2] / "slack-app-manifest.yml"

Needs = str | dict[str, str] | None  # a scope, a scope per conversation kind, or nothing


def _per_kind(public: str, private: str, im: str, mpim: str) -> dict[str, str]:
    return dict(zip(KINDS, (public, private, im, mpim), strict=True))


READ = _per_kind("channels:read", "groups:read", "im:read", "mpim:read")
HISTORY = _per_kind("channels:history", "groups:history", "im:history", "mpim:history")
WRITE = _per_kind("channels:manage", "groups:write", "im:write", "mpim:write")

METHOD_SCOPES: dict[str, Needs] = {
    "auth.test": None,
    "bookmarks.add": "bookmarks:write",
    "bookmarks.list": "bookmarks:read",
    "chat.delete": "chat:write",
    "chat.getPermalink": None,
    "chat.postEphemeral": "chat:write",
    "chat.postMessage": "chat:write",  # and chat:write.public to post where the bot is not a member
    "chat.scheduleMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.archive": WRITE,
    "conversations.create": WRITE,
    "conversations.history": HISTORY,
    "conversations.info": READ,
    "conversations.invite": WRITE,
    "conversations.join": "channels:join",
    "conversations.kick": WRITE,
    "conversations.list": READ,
    "conversations.members": READ,
    "conversations.open": WRITE,
    "conversations.rename": WRITE,
    "conversations.replies": HISTORY,
    "conversations.setPurpose": WRITE,
    "conversations.setTopic": WRITE,
    "files.completeUploadExternal": "files:write",
    "files.getUploadURLExternal": "files:write",
    "files.info": "files:read",
    "files.upload": "files:write",
    "pins.add": "pins:write",
    "pins.list": "pins:read",
    "pins.remove": "pins:write",
    "reactions.add": "reactions:write",
    "reactions.get": "reactions:read",
    "reactions.list": "reactions:read",
    "team.info": "team:read",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
    "users.profile.get": "users.profile:read",
    "views.open": None,
    "views.publish": None,
    "views.push": None,
    "views.update": None,
}

# Events API subscriptions need a scope too (api.slack.com/events/<event>).
EVENT_SCOPES: dict[str, str] = {
    "app_mention": "app_mentions:read",
    "member_joined_channel": "channels:read",
    "member_left_channel": "channels:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "pin_added": "pins:read",
    "pin_removed": "pins:read",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
}


def needed(method: str, kinds: tuple[str, ...]) -> list[str]:
    """The scopes `method` needs when it touches conversations of these kinds (ignored for untyped methods)."""
    needs = METHOD_SCOPES.get(method)
    if needs is None:
        return []
    if isinstance(needs, str):
        return [needs]
    return list(dict.fromkeys(needs[kind] for kind in kinds if kind in needs))


def manifest() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def manifest_bot_scopes() -> frozenset[str]:
    """What a bot token gets when the app is installed from slack-app-manifest.yml."""
    return frozenset(manifest()["oauth_config"]["scopes"]["bot"])
