"""A fake Slack Web API served over loopback HTTP.

The app's real `slack_sdk` clients (`WebClient`, `AsyncWebClient`, `WebhookClient`) talk to it through
`base_url=fake.url`, so tests exercise the real wire format: JSON and form bodies, GET query strings,
Bearer tokens, `{"ok": false, "error": ...}` answers and 429s with `Retry-After`. It enforces the rules
Slack documents (channel names, membership, Block Kit limits, the OAuth scopes each method needs) so that code
which would fail against Slack fails here too, and it injects failures, rate limits, latency and hangs on demand.
Its bot token has the scopes slack-app-manifest.yml asks for, unless a test gives it others.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.slack_scopes import IM, PRIVATE, PUBLIC, manifest_bot_scopes, needed
from tests.fakes.slack_wire import (
    Params,
    SlackError,
    blocks_arg,
    file_list_arg,
    flag,
    in_window,
    json_arg,
    metadata_arg,
    new_id,
    paginate,
    read_params,
    reject_if,
)

BOT_ID = "B0001"
CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")
MAX_CHANNEL_NAME, MAX_TOPIC, MAX_TEXT = 80, 250, 40_000
# files.completeUploadExternal takes conversation ids only, and says so when given a name or a user id.
SHARE_TARGET = re.compile(r"[CGDZ][A-Z0-9]{8,}")


def _outage(status: int) -> Response:
    return Response("<html><body>Service Unavailable</body></html>", status, media_type="text/html")


# --- the fake ---------------------------------------------------------------------------------


class FakeSlack:
    """One workspace with one bot. Web API methods are handled by `_api_<method>` (dots become
    underscores). All state sits behind one lock: handlers run on the server's thread while tests read
    snapshots from theirs."""

    def __init__(
        self, bot_token: str = "xoxb-test-token", bot_user_id: str = "UBOT", team_id: str = "T0001",
        scopes: Iterable[str] | None = None,
    ) -> None:
        self.bot_token, self.bot_user_id, self.team_id = bot_token, bot_user_id, team_id
        # The bot token's scopes: by default, what installing the app from its manifest grants.
        self.scopes = frozenset(manifest_bot_scopes() if scopes is None else scopes)
        self.base = self.url = ""
        self._lock = threading.RLock()
        self._users: dict[str, Params] = {}
        self._usergroups: dict[str, Params] = {}
        self._channels: dict[str, Params] = {}
        self._messages: dict[str, list[Params]] = {}
        self._pins: dict[str, list[str]] = {}
        self._ephemerals: list[Params] = []
        self._views: dict[str, Params] = {}
        self._uploads: dict[str, Params] = {}  # file id -> upload ticket, its bytes once POSTed
        self._files: dict[str, list[Params]] = {}  # channel id -> files shared there
        self._calls: list[tuple[str, Params]] = []
        self._responses: list[Params] = []
        self._response_keys: set[str] = set()
        self._faults: dict[str, deque[Response]] = {}
        self._delays: dict[str, float] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self._storm: tuple[float, Response | None] = (0.0, None)
        self._last_ts = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.add_user(bot_user_id, "incidentbot", is_bot=True)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Serve on a free loopback port from a daemon thread; return once connections are accepted."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.url = f"{self.base}/api/"
        routes = [
            Route("/api/{method}", self._api, methods=["GET", "POST"]),  # slack_sdk GETs some read methods
            Route("/response/{key}", self._response_url_post, methods=["POST"]),
            Route("/upload/v1/{file_id}", self._upload_post, methods=["POST"]),
        ]
        app = Starlette(routes=routes, lifespan=self._lifespan)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="fake-slack"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Slack did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Let hung calls finish first, or uvicorn's graceful shutdown would wait on them."""
        for method in list(self._gates):
            self.release(method)
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._sock:
            self._sock.close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()  # release() wakes hung calls on this loop
        yield

    # --- workspace set-up ---------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, is_bot: bool = False, tz: str = "UTC",
                 email: str | None = None) -> None:
        with self._lock:
            self._users[user_id] = {"id": user_id, "name": name, "is_bot": is_bot, "tz": tz, "email": email}

    def add_usergroup(self, group_id: str, handle: str, members: list[str]) -> None:
        with self._lock:
            self._usergroups[group_id] = {"id": group_id, "handle": handle, "users": list(members)}

    def add_channel(self, name: str, *, bot_is_member: bool = True, is_private: bool = False) -> str:
        """A channel that existed before the test: made by Slackbot, not by the app."""
        with self._lock:
            if self._by_name(name):
                raise ValueError(f"channel #{name} already exists")
            members = [self.bot_user_id] if bot_is_member else []
            return str(self._new_channel(name, is_private, "USLACKBOT", members)["id"])

    def post_as_user(self, channel_id: str, user_id: str, text: str, thread_ts: str | None = None) -> str:
        """A message a person wrote in a channel; returns its ts."""
        with self._lock:
            ts = self._next_ts()
            self._messages[channel_id].append({"ts": ts, "user": user_id, "text": text, "blocks": None,
                                               "metadata": None, "thread_ts": thread_ts})
            return ts

    def edit_as_user(self, channel_id: str, ts: str, text: str) -> str:
        """Someone edits their message; returns the edit's ts (Slack's `edited.ts`)."""
        with self._lock:
            message = self._message(self._channels[channel_id], ts)
            message["text"], edited = text, self._next_ts()
            return edited

    def delete_as_user(self, channel_id: str, ts: str) -> str:
        """Someone deletes their message: it is gone from history; returns the deletion event's ts."""
        with self._lock:
            message = self._message(self._channels[channel_id], ts)
            self._messages[channel_id].remove(message)
            return self._next_ts()

    def join_as_user(self, channel_id: str, user_id: str) -> None:
        """Someone joins a channel by themselves (no invite from the app)."""
        with self._lock:
            members = self._channels[channel_id]["members"]
            if user_id not in members:
                members.append(user_id)

    def leave_as_user(self, channel_id: str, user_id: str) -> None:
        with self._lock:
            members = self._channels[channel_id]["members"]
            if user_id in members:
                members.remove(user_id)

    def pin_as_user(self, channel_id: str, ts: str) -> None:
        """A person pins a message (Slack keeps one pin per message, whoever made it)."""
        with self._lock:
            pins = self._pins[channel_id]
            if self._message(self._channels[channel_id], ts)["ts"] not in pins:
                pins.append(ts)

    def unpin_as_user(self, channel_id: str, ts: str) -> None:
        with self._lock:
            if ts in self._pins[channel_id]:
                self._pins[channel_id].remove(ts)

    # --- fault injection ----------------------------------------------------------------------

    def fail(self, method: str, error: str, times: int = 1) -> None:
        self._add_fault(method, JSONResponse({"ok": False, "error": error}), times)

    def ratelimit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        body = {"ok": False, "error": "ratelimited"}
        self._add_fault(method, JSONResponse(body, 429, headers={"Retry-After": str(retry_after)}), times)

    def server_error(self, method: str, status: int = 503, times: int = 1) -> None:
        """Slack having an outage: an HTTP 5xx with an HTML body, as its load balancers answer."""
        self._add_fault(method, _outage(status), times)

    def storm(self, seconds: float, *, status: int = 503, retry_after: int = 1) -> None:
        """For the next `seconds`, every Web API call answers `status`: 429 (with Retry-After) or a 5xx."""
        if status == 429:
            response: Response = JSONResponse({"ok": False, "error": "ratelimited"}, 429,
                                              headers={"Retry-After": str(retry_after)})
        else:
            response = _outage(status)
        with self._lock:
            self._storm = (time.monotonic() + seconds, response)

    def delay(self, method: str, seconds: float) -> None:
        """Every later call to `method` sleeps first; `seconds=0` removes the delay."""
        with self._lock:
            self._delays[method] = seconds

    def hang(self, method: str) -> None:
        """Calls to `method` await an asyncio.Event, so the server keeps answering other calls."""
        with self._lock:
            self._gates.setdefault(method, asyncio.Event())

    def release(self, method: str) -> None:
        with self._lock:
            gate = self._gates.pop(method, None)
        loop = self._loop
        if gate is not None and loop is not None and loop.is_running():
            loop.call_soon_threadsafe(gate.set)  # asyncio.Event is not thread-safe: set it on its own loop
        elif gate is not None:
            gate.set()

    def _add_fault(self, method: str, response: Response, times: int) -> None:
        """A canned response is immutable once built, so one object can answer `times` calls."""
        with self._lock:
            self._faults.setdefault(method, deque()).extend([response] * times)

    def _storm_fault(self) -> Response | None:
        with self._lock:
            until, response = self._storm
            return response if time.monotonic() < until else None

    def _next_fault(self, method: str) -> Response | None:
        with self._lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    # --- response_url -------------------------------------------------------------------------

    def response_url(self) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._response_keys.add(key)
        return f"{self.base}/response/{key}"

    async def _response_url_post(self, request: Request) -> Response:
        key = request.path_params["key"]
        if key not in self._snapshot(self._response_keys):
            return PlainTextResponse("no_service", status_code=404)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        with self._lock:
            self._responses.append({**body, "_url": f"{self.base}/response/{key}"})
        return PlainTextResponse("ok")

    # --- upload URL (step two of files.getUploadURLExternal -> POST bytes -> files.completeUploadExternal)

    async def _upload_post(self, request: Request) -> Response:
        """The URL files.getUploadURLExternal hands out. slack_sdk POSTs the raw bytes without a token (the URL
        is the credential) and treats anything but a 200 as a failed upload; Slack's 200 is plain text."""
        data = await request.body()
        with self._lock:
            upload = self._uploads.get(request.path_params["file_id"])
            if upload is None or upload["completed"]:
                return PlainTextResponse("file_not_found", status_code=404)
            if len(data) != upload["length"]:
                return PlainTextResponse(f"length mismatch: announced {upload['length']}, got {len(data)}",
                                         status_code=400)
            upload["data"] = data
        return PlainTextResponse(f"OK - {len(data)}")

    # --- inspection (deep-copied snapshots, safe to read while the server runs) ----------------

    def _snapshot(self, value: Any) -> Any:
        with self._lock:
            return copy.deepcopy(value)

    @property
    def calls(self) -> list[tuple[str, Params]]:
        return self._snapshot(self._calls)

    def calls_to(self, method: str) -> list[Params]:
        return [params for name, params in self.calls if name == method]

    @property
    def channels(self) -> dict[str, Params]:
        return self._snapshot(self._channels)

    def channel_ids(self) -> list[str]:
        """Ids only, in creation order: cheap enough to poll."""
        with self._lock:
            return list(self._channels)

    def channel_by_name(self, name: str) -> Params | None:
        with self._lock:
            return copy.deepcopy(self._by_name(name))

    def direct_messages(self, user_id: str) -> list[Params]:
        """What the app sent a user by DM."""
        return self.messages("D" + user_id[1:])

    def messages(self, channel_id: str) -> list[Params]:
        return self._snapshot(self._messages.get(channel_id, []))

    def files(self, channel_id: str) -> list[Params]:
        """Files shared into a channel, oldest first: id, name, title, content (UTF-8 text), initial_comment,
        thread_ts, user, and the ts of the message that shared them."""
        return self._snapshot(self._files.get(channel_id, []))

    @property
    def pins(self) -> dict[str, list[str]]:
        return self._snapshot(self._pins)

    @property
    def ephemerals(self) -> list[Params]:
        return self._snapshot(self._ephemerals)

    @property
    def responses(self) -> list[Params]:
        return self._snapshot(self._responses)

    @property
    def views(self) -> list[Params]:
        return self._snapshot(list(self._views.values()))

    # --- the Web API endpoint -----------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        """Log, then latency, then injected faults, then Slack's own checks: faults win over everything."""
        method = request.path_params["method"]
        try:
            params = await read_params(request)
        except SlackError as exc:
            return exc.response()
        with self._lock:
            self._calls.append((method, copy.deepcopy(params)))
            seconds, gate = self._delays.get(method, 0.0), self._gates.get(method)
        if seconds:
            await asyncio.sleep(seconds)
        if gate is not None:
            await gate.wait()
        fault = self._next_fault(method) or self._storm_fault()
        if fault is not None:
            return fault
        try:
            with self._lock:
                response: Response = JSONResponse({"ok": True, **self._dispatch(method, request, params)})
        except SlackError as exc:
            response = exc.response()
        # Slack names the token's scopes on every answer, and the ones the method accepts.
        response.headers["x-oauth-scopes"] = ",".join(sorted(self.scopes))
        response.headers["x-accepted-oauth-scopes"] = ",".join(needed(method, (PUBLIC, PRIVATE)))
        return response

    def _dispatch(self, method: str, request: Request, params: Params) -> Params:
        name = "_api_" + method.replace(".", "_")
        handler: Callable[[Params], Params] | None = None if "_" in method else getattr(self, name, None)
        if handler is None:
            raise SlackError("unknown_method", req_method=method)
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() or params.get("token")
        reject_if(not token, "not_authed")
        reject_if(token != self.bot_token, "invalid_auth")
        self._check_scopes(method, params)
        return handler(params)

    def _check_scopes(self, method: str, params: Params) -> None:
        """`missing_scope`, naming what is needed and what the token has, as Slack answers it."""
        missing = [scope for scope in needed(method, self._kinds(method, params)) if scope not in self.scopes]
        if missing:
            raise SlackError("missing_scope", needed=",".join(missing), provided=",".join(sorted(self.scopes)))

    def _kinds(self, method: str, params: Params) -> tuple[str, ...]:
        """The kinds of conversation a call touches; none when the channel is unknown (the method then answers
        channel_not_found)."""
        if method == "conversations.list":
            return tuple(str(params.get("types") or PUBLIC).split(","))
        if method == "conversations.create":
            return (PRIVATE if flag(params.get("is_private")) else PUBLIC,)
        ref = str(params.get("channel") or params.get("channel_id") or "")
        if ref in self._users or ref.startswith("D"):
            return (IM,)
        channel = self._channels.get(ref) or self._by_name(ref.removeprefix("#"))
        if channel is None:
            return ()
        return (PRIVATE if channel["is_private"] else PUBLIC,)

    # --- lookups and wire shapes --------------------------------------------------------------

    def _by_name(self, name: str) -> Params | None:
        return next((c for c in self._channels.values() if c["name"] == name), None)

    def _channel(self, params: Params, *, member: bool = False, by_name: bool = False) -> Params:
        """Private channels the bot is not in are invisible to it, as in Slack: channel_not_found."""
        ref = str(params.get("channel") or "")
        channel = self._channels.get(ref) or (self._by_name(ref.removeprefix("#")) if by_name else None)
        if channel is None or (channel["is_private"] and self.bot_user_id not in channel["members"]):
            raise SlackError("channel_not_found")
        reject_if(member and self.bot_user_id not in channel["members"], "not_in_channel")
        return channel

    def _message(self, channel: Params, ts: Any) -> Params:
        found = next((m for m in self._messages[channel["id"]] if m["ts"] == ts), None)
        if found is None:
            raise SlackError("message_not_found")
        return found

    def _new_channel(self, name: str, is_private: bool, creator: str, members: list[str]) -> Params:
        channel_id = new_id("C", self._channels)
        self._channels[channel_id] = {
            "id": channel_id, "name": name, "is_private": is_private, "members": members,
            "topic": "", "purpose": "", "creator": creator, "created": int(time.time()),
        }
        self._messages[channel_id], self._pins[channel_id] = [], []
        return self._channels[channel_id]

    def _im(self, user_id: str) -> Params:
        """The app's direct-message channel with a user; kept apart from channels, as in conversations.list."""
        channel_id = "D" + user_id[1:]
        if channel_id not in self._messages:
            self._messages[channel_id], self._pins[channel_id] = [], []
        return {"id": channel_id}

    def _next_ts(self) -> str:
        """Unique, increasing, microsecond-formatted like Slack's ("1732560000.000100")."""
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _wire_channel(self, channel: Params) -> Params:
        members = channel["members"]
        return {
            "id": channel["id"], "name": channel["name"], "name_normalized": channel["name"],
            "is_channel": True, "is_group": False, "is_im": False, "is_mpim": False,
            "is_private": channel["is_private"], "is_archived": False, "is_general": False,
            "created": channel["created"], "creator": channel["creator"],
            "is_member": self.bot_user_id in members, "num_members": len(members),
            "topic": {"value": channel["topic"], "creator": "", "last_set": 0},
            "purpose": {"value": channel["purpose"], "creator": "", "last_set": 0},
        }

    def _wire_message(self, message: Params, *, with_metadata: bool = True) -> Params:
        """Slack omits absent fields, and returns metadata only when asked to (include_all_metadata)."""
        wire = {"type": "message", "user": message["user"], "bot_id": BOT_ID, "text": message["text"],
                "ts": message["ts"], "team": self.team_id}
        wire.update({key: message[key] for key in ("blocks", "thread_ts") if message[key]})
        if message.get("files"):
            wire.update(files=message["files"], upload=True)
        if with_metadata and message["metadata"]:
            wire["metadata"] = message["metadata"]
        return wire

    def _message_page(self, messages: list[Params], params: Params) -> Params:
        page, meta = paginate(messages, params)
        with_metadata = flag(params.get("include_all_metadata"))
        return {"messages": [self._wire_message(m, with_metadata=with_metadata) for m in page],
                "has_more": bool(meta["next_cursor"]), "response_metadata": meta}

    def _content(self, params: Params) -> tuple[str, list[Any] | None]:
        blocks = blocks_arg(params.get("blocks"))
        text = str(params.get("text") or "")
        reject_if(not text and not blocks and not params.get("attachments"), "no_text")
        reject_if(len(text) > MAX_TEXT, "msg_too_long")
        return text, blocks

    # --- Web API methods: each takes the merged params and returns the body after "ok": true ---

    def _api_auth_test(self, _params: Params) -> Params:
        return {"url": "https://fake.slack.com/", "team": "Fake Workspace", "user": "incidentbot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": BOT_ID}

    def _api_conversations_create(self, params: Params) -> Params:
        name = str(params.get("name") or "")
        reject_if(not name, "invalid_name_required")
        reject_if(len(name) > MAX_CHANNEL_NAME, "invalid_name_maxlength")
        reject_if(not CHANNEL_NAME.fullmatch(name), "invalid_name_specials")
        reject_if(self._by_name(name), "name_taken")
        is_private = flag(params.get("is_private"))
        return {"channel": self._wire_channel(self._new_channel(name, is_private, self.bot_user_id,
                                                                 [self.bot_user_id]))}

    def _api_conversations_invite(self, params: Params) -> Params:
        channel = self._channel(params, member=True)
        users = list(dict.fromkeys(u.strip() for u in str(params.get("users") or "").split(",") if u.strip()))
        reject_if(not users, "no_user")
        reject_if(self.bot_user_id in users, "cant_invite_self")
        reject_if(any(u not in self._users for u in users), "user_not_found")
        new = [u for u in users if u not in channel["members"]]
        reject_if(not new, "already_in_channel")
        channel["members"].extend(new)
        return {"channel": self._wire_channel(channel)}

    def _api_conversations_join(self, params: Params) -> Params:
        channel = self._channels.get(str(params.get("channel") or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        reject_if(channel["is_private"], "method_not_supported_for_channel_type")
        if self.bot_user_id not in channel["members"]:
            channel["members"].append(self.bot_user_id)
        return {"channel": self._wire_channel(channel)}

    def _set_channel_text(self, params: Params, key: str) -> Params:
        channel = self._channel(params, member=True)
        value = str(params.get(key) or "")
        reject_if(len(value) > MAX_TOPIC, "too_long")
        channel[key] = value
        return {"channel": self._wire_channel(channel)}

    def _api_conversations_setTopic(self, params: Params) -> Params:
        return self._set_channel_text(params, "topic")

    def _api_conversations_setPurpose(self, params: Params) -> Params:
        return self._set_channel_text(params, "purpose")

    def _api_conversations_info(self, params: Params) -> Params:
        return {"channel": self._wire_channel(self._channel(params))}

    def _api_conversations_members(self, params: Params) -> Params:
        page, meta = paginate(list(self._channel(params)["members"]), params)
        return {"members": page, "response_metadata": meta}

    def _api_conversations_list(self, params: Params) -> Params:
        types = set(str(params.get("types") or "public_channel").split(","))
        visible = [c for c in self._channels.values()
                   if ("private_channel" if c["is_private"] else "public_channel") in types
                   and (not c["is_private"] or self.bot_user_id in c["members"])]
        page, meta = paginate(visible, params)
        return {"channels": [self._wire_channel(c) for c in page], "response_metadata": meta}

    def _api_conversations_history(self, params: Params) -> Params:
        """Newest first, top-level messages only (thread replies live in conversations.replies), between
        `oldest` and `latest` (exclusive unless `inclusive`)."""
        channel = self._channel(params, member=True)
        top = [m for m in reversed(self._messages[channel["id"]]) if m["thread_ts"] in (None, m["ts"])]
        return self._message_page(in_window(top, params), params)

    def _api_conversations_replies(self, params: Params) -> Params:
        """The thread, oldest first. `ts` may name the parent or any reply in it, as Slack documents."""
        channel = self._channel(params, member=True)
        messages = self._messages[channel["id"]]
        named = next((m for m in messages if m["ts"] == params.get("ts")), None)
        parent = (named["thread_ts"] or named["ts"]) if named else params.get("ts")
        thread = [m for m in messages if parent and parent in (m["ts"], m["thread_ts"])]
        reject_if(not thread, "thread_not_found")
        return self._message_page(in_window(thread, params), params)

    def _api_chat_postMessage(self, params: Params) -> Params:
        # A user id as channel posts in the app's DM with that user, as Slack documents.
        user = self._users.get(str(params.get("channel") or ""))
        channel = self._im(user["id"]) if user else self._postable(params)
        text, blocks = self._content(params)
        message = {"ts": self._next_ts(), "user": self.bot_user_id, "text": text, "blocks": blocks,
                   "metadata": metadata_arg(params.get("metadata")),
                   "thread_ts": params.get("thread_ts") or None}
        self._messages[channel["id"]].append(message)
        return {"channel": channel["id"], "ts": message["ts"], "message": self._wire_message(message)}

    def _postable(self, params: Params) -> Params:
        """chat:write.public lets a bot post in any public channel; otherwise it must be a member."""
        channel = self._channel(params, by_name=True)
        anywhere_public = not channel["is_private"] and "chat:write.public" in self.scopes
        reject_if(not anywhere_public and self.bot_user_id not in channel["members"], "not_in_channel")
        return channel

    def _api_chat_update(self, params: Params) -> Params:
        """Omitted blocks are kept, as Slack documents; an empty list removes them."""
        channel = self._channel(params)
        message = self._message(channel, params.get("ts"))
        message["text"], blocks = self._content(params)
        if "blocks" in params:
            message["blocks"] = blocks
        if params.get("metadata"):
            message["metadata"] = metadata_arg(params["metadata"])
        return {"channel": channel["id"], "ts": message["ts"], "text": message["text"],
                "message": self._wire_message(message)}

    def _api_chat_postEphemeral(self, params: Params) -> Params:
        channel = self._channel(params, member=True)
        user = str(params.get("user") or "")
        reject_if(user not in self._users, "user_not_found")
        reject_if(user not in channel["members"], "user_not_in_channel")
        text, blocks = self._content(params)
        self._ephemerals.append({"channel": channel["id"], "user": user, "text": text, "blocks": blocks})
        return {"message_ts": self._next_ts()}

    def _api_chat_getPermalink(self, params: Params) -> Params:
        channel = self._channel(params)
        ts = self._message(channel, params.get("message_ts"))["ts"]
        return {"channel": channel["id"],
                "permalink": f"https://fake.slack.com/archives/{channel['id']}/p{ts.replace('.', '')}"}

    def _api_pins_add(self, params: Params) -> Params:
        channel = self._channel(params, member=True)
        reject_if(not params.get("timestamp"), "no_item_specified")
        ts = self._message(channel, params["timestamp"])["ts"]
        reject_if(ts in self._pins[channel["id"]], "already_pinned")
        self._pins[channel["id"]].append(ts)
        return {}

    def _api_pins_list(self, params: Params) -> Params:
        channel = self._channel(params)
        return {"items": [{"type": "message", "channel": channel["id"], "created_by": self.bot_user_id,
                           "message": self._wire_message(self._message(channel, ts))}
                          for ts in self._pins[channel["id"]]]}

    def _api_users_info(self, params: Params) -> Params:
        user = self._users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        name = user["name"]
        return {"user": {"id": user["id"], "team_id": self.team_id, "name": name, "real_name": name,
                         "deleted": False, "is_bot": user["is_bot"], "tz": user["tz"],
                         "profile": {"display_name": name, "real_name": name}}}

    def _api_users_lookupByEmail(self, params: Params) -> Params:
        email = str(params.get("email") or "").lower()
        reject_if(not email, "invalid_arguments")
        found = next((u for u in self._users.values() if (u.get("email") or "").lower() == email), None)
        if found is None:
            raise SlackError("users_not_found")
        return {"user": {"id": found["id"], "team_id": self.team_id, "name": found["name"], "deleted": False,
                         "is_bot": found["is_bot"], "profile": {"email": found["email"]}}}

    def _api_usergroups_users_list(self, params: Params) -> Params:
        group = self._usergroups.get(str(params.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}

    def _store_view(self, params: Params, view_id: str) -> Params:
        view = json_arg(params.get("view"), "invalid_arguments")
        reject_if(not isinstance(view, dict) or not view.get("type"), "invalid_arguments")
        # Slack gives each version of a view a new hash; a submission carries the one the user saw.
        self._views[view_id] = {**view, "id": view_id, "team_id": self.team_id,
                                "hash": f"{time.time():.6f}.{view_id}"}
        return {"view": self._views[view_id]}

    def _api_views_open(self, params: Params) -> Params:
        reject_if(not params.get("trigger_id"), "invalid_arguments")
        return self._store_view(params, new_id("V", self._views))

    def _api_views_update(self, params: Params) -> Params:
        reject_if(params.get("view_id") not in self._views, "not_found")
        return self._store_view(params, params["view_id"])

    # --- files: getUploadURLExternal, the upload URL (above), then completeUploadExternal -----------

    def _api_files_getUploadURLExternal(self, params: Params) -> Params:
        filename, length = str(params.get("filename") or ""), str(params.get("length") or "")
        reject_if(not filename or not length.isdigit(), "invalid_arguments")
        reject_if(int(length) == 0, "missing_argument")  # Slack's documented answer to an empty file
        file_id = new_id("F", self._uploads)
        self._uploads[file_id] = {"id": file_id, "name": filename, "length": int(length), "data": None,
                                  "completed": False}
        return {"upload_url": f"{self.base}/upload/v1/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, params: Params) -> Params:
        """Shares the uploaded files as one message per channel, the initial comment as its text; with no
        channel they stay private. Every check runs before anything changes, so a refused call shares
        nothing, and a file can be completed only once, as Slack documents."""
        items = file_list_arg(params.get("files"))
        channels = [self._share_target(ref) for ref in self._share_refs(params)]
        uploads = [self._uploaded(str(item["id"])) for item in items]
        for upload, item in zip(uploads, items, strict=True):
            upload.update(completed=True, title=str(item.get("title") or upload["name"]))
        for channel in channels:
            self._share(channel["id"], uploads, str(params.get("initial_comment") or ""),
                        params.get("thread_ts") or None)
        return {"files": [self._wire_file(upload) for upload in uploads]}

    def _share_refs(self, params: Params) -> list[str]:
        """`channel_id`, and the older comma-separated `channels`."""
        refs = [str(params.get("channel_id") or ""), *str(params.get("channels") or "").split(",")]
        return [ref.strip() for ref in refs if ref.strip()]

    def _share_target(self, ref: str) -> Params:
        if not SHARE_TARGET.fullmatch(ref):
            raise SlackError("invalid_arguments",
                             f"input must match regex pattern: {SHARE_TARGET.pattern} [json-pointer:/channel_id]")
        return self._channel({"channel": ref}, member=True)

    def _uploaded(self, file_id: str) -> Params:
        upload = self._uploads.get(file_id)
        if upload is None or upload["data"] is None or upload["completed"]:
            raise SlackError("file_not_found")
        return upload

    def _share(self, channel_id: str, uploads: list[Params], comment: str, thread_ts: str | None) -> None:
        message = {"ts": self._next_ts(), "user": self.bot_user_id, "text": comment, "blocks": None,
                   "metadata": None, "thread_ts": thread_ts, "files": [self._wire_file(u) for u in uploads]}
        self._messages[channel_id].append(message)
        self._files.setdefault(channel_id, []).extend(
            {"id": u["id"], "name": u["name"], "title": u["title"],
             "content": u["data"].decode("utf-8", errors="replace"), "initial_comment": comment,
             "thread_ts": thread_ts, "user": self.bot_user_id, "ts": message["ts"]}
            for u in uploads)

    def _wire_file(self, upload: Params) -> Params:
        return {"id": upload["id"], "name": upload["name"], "title": upload["title"], "size": upload["length"],
                "user": self.bot_user_id}
