"""A fake Anthropic Messages API served over loopback HTTP.

The real `anthropic` SDK talks to it through `base_url=fake.url`, so tests exercise the real wire format,
the SDK's retry policy (429 / 5xx / 529, `retry-after` / `retry-after-ms`, `x-should-retry`) and its
timeouts. Answers come from a script of turns queued with `fake.script(...)`:

    fake.script(
        tool_use("get_logs", {"service": "api"}),                  # one response with one tool_use block
        respond(tool_use("a", {}), tool_use("b", {})),             # several blocks in one response
        overloaded(), rate_limited(retry_after=1), server_error(),  # error answers
        hang(5),                                                    # answer only after 5 s
        lambda body: text(f"saw {len(body['messages'])} messages"),  # answer from what was sent
    )

It enforces the request rules the real API enforces and a loop can break (authentication, the version
header, required fields, every `tool_use` answered by a `tool_result` in the next message, at most four
cache breakpoints, tool names), and it models prompt caching: a request whose prefix up to a
`cache_control` breakpoint matches an earlier request's reads it from the cache, and the first one writes
it, provided the prefix reaches the model's minimum cacheable length.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Block = dict[str, Any]
Body = dict[str, Any]

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
TOOL_CHOICES = {"auto", "any", "tool", "none"}
MAX_CACHE_BREAKPOINTS = 4
CHARS_PER_TOKEN = 4  # a rough estimate, good enough for budgets and cache arithmetic


# --- script entries and the helpers that build them ---------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A successful response. Token counts are estimated from the request unless given."""

    content: tuple[Block, ...]
    stop_reason: str | None = None  # computed as the API does when None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Failure:
    """An error response in the API's shape: `{"type": "error", "error": {"type": ..., "message": ...}}`."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    """Answer `then` only after `seconds`, so a client with a shorter timeout gives up first."""

    seconds: float
    then: Reply | Failure | Block | None = None


Answer = Reply | Failure | Hang | Block
Turn = Answer | Callable[[Body], Answer]


def text(value: str) -> Block:
    return {"type": "text", "text": value}


def tool_use(name: str, input: dict[str, Any], *, block_id: str | None = None) -> Block:
    """A tool_use block; its `toolu_...` id is assigned when served unless `block_id` is given."""
    block: Block = {"type": "tool_use", "name": name, "input": input}
    if block_id is not None:
        block["id"] = block_id
    return block


def respond(*blocks: Block, stop_reason: str | None = None, input_tokens: int | None = None,
            output_tokens: int | None = None) -> Reply:
    return Reply(tuple(blocks), stop_reason, input_tokens, output_tokens)


def error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Failure:
    return Failure(status, error_type, message, dict(headers or {}))


def overloaded(retry_after_ms: int | None = 1) -> Failure:
    """529 overloaded_error; `retry-after-ms: 1` keeps the SDK's retries fast unless None."""
    return error(529, "overloaded_error", "Overloaded", _retry_headers(retry_after_ms))


def rate_limited(retry_after: float = 0) -> Failure:
    """429 with `retry-after` in seconds, as the API sends it. The SDK only honours values above zero:
    `retry-after: 0` falls back to its own backoff (0.5 s, then doubling)."""
    return error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
                 {"retry-after": f"{retry_after:g}"})


def server_error(retry_after_ms: int | None = 1) -> Failure:
    return error(500, "api_error", "Internal server error", _retry_headers(retry_after_ms))


def hang(seconds: float, then: Reply | Failure | Block | None = None) -> Hang:
    return Hang(seconds, then)


def _retry_headers(retry_after_ms: int | None) -> dict[str, str]:
    return {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}


# --- request validation, as the API does it -----------------------------------------------------


def request_problem(body: Any) -> str | None:
    """The API's 400 message for a malformed /v1/messages body, or None if it would be accepted."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for check in (_fields_problem, _tools_problem, _pairing_problem, _cache_problem):
        problem = check(body)
        if problem:
            return problem
    return None


def _fields_problem(body: Body) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if not content:
            return f"messages.{index}: all messages must have non-empty content"
        if isinstance(content, list) and any(b.get("type") == "text" and not b.get("text") for b in content):
            return f"messages.{index}: text content blocks must be non-empty"
    return None


def _tools_problem(body: Body) -> str | None:
    for index, tool in enumerate(body.get("tools") or []):
        if not TOOL_NAME.fullmatch(str(tool.get("name", ""))):
            return f"tools.{index}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
        if (tool.get("input_schema") or {}).get("type") != "object":
            return f"tools.{index}.custom.input_schema.type: Input should be 'object'"
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") not in TOOL_CHOICES:
        return "tool_choice.type: Input tag does not match any of the expected tags"
    return None


def _pairing_problem(body: Body) -> str | None:
    """Every tool_use must be answered by a tool_result in the very next (user) message, and no
    tool_result may name a tool_use the previous message did not make."""
    messages = body["messages"]
    for index, message in enumerate(messages):
        asked = _ids(messages[index - 1], "tool_use", "id") if index else []
        answered = _ids(message, "tool_result", "tool_use_id")
        stray = [tool_id for tool_id in answered if tool_id not in asked]
        if stray:
            return (f"messages.{index}: unexpected `tool_use_id` found in `tool_result` blocks: {stray[0]}. Each "
                    "`tool_result` block must have a corresponding `tool_use` block in the previous message.")
        missing = [tool_id for tool_id in asked if tool_id not in answered]
        if missing:
            return (f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block "
                    "in the next message.")
    return None


def _ids(message: Body, block_type: str, key: str) -> list[str]:
    content = message.get("content")
    blocks = content if isinstance(content, list) else []
    return [str(b.get(key)) for b in blocks if b.get("type") == block_type]


def _cache_problem(body: Body) -> str | None:
    found = sum(1 for segment in _segments(body) if segment.get("cache_control"))
    if found > MAX_CACHE_BREAKPOINTS:
        return f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {found}."
    return None


def _segments(body: Body) -> list[Block]:
    """The prompt in cache order (tools, then system, then messages), one entry per block."""
    segments: list[Block] = [dict(tool) for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        segments.append(text(system))
    elif isinstance(system, list):
        segments.extend(system)
    for message in body["messages"]:
        content = message["content"]
        blocks = [text(content)] if isinstance(content, str) else content
        segments.extend({"role": message["role"], **block} for block in blocks)
    return segments


def estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, sort_keys=True)) // CHARS_PER_TOKEN)


# --- the fake -----------------------------------------------------------------------------------


class FakeAnthropic:
    """The Messages API for one API key. Handlers run on the server's thread, tests read snapshots from
    theirs: all state sits behind one lock."""

    def __init__(self, api_key: str = "sk-ant-test", *, min_cacheable_tokens: int = 1024) -> None:
        self.api_key = api_key
        self.min_cacheable_tokens = min_cacheable_tokens  # Sonnet's minimum; shorter prefixes are not cached
        self.url = ""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._script: deque[Turn] = deque()
        self._requests: list[Any] = []
        self._headers: list[dict[str, str]] = []
        self._arrivals: list[float] = []
        self._replies: list[Body] = []
        self._cache: set[str] = set()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        """Serve on a free loopback port from a daemon thread; return once connections are accepted."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        app = Starlette(routes=[
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "DELETE"]),
        ])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="fake-anthropic")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Anthropic did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Hung answers end early, or uvicorn's graceful shutdown would wait on them."""
        self._stopping.set()
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._sock:
            self._sock.close()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- scripting and inspection -------------------------------------------------------------

    def script(self, *turns: Turn) -> None:
        """Queue answers, one per request received (retries included); an empty script answers 500."""
        with self._lock:
            self._script.extend(turns)

    @property
    def pending(self) -> int:
        """Scripted turns not served yet."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[Any]:
        """Every request body received, in order (the raw text if it was not JSON)."""
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """Each request's headers, names lower-cased, parallel to `requests`."""
        with self._lock:
            return copy.deepcopy(self._headers)

    @property
    def arrivals(self) -> list[float]:
        """`time.monotonic()` at each request's arrival, parallel to `requests`."""
        with self._lock:
            return list(self._arrivals)

    @property
    def replies(self) -> list[Body]:
        """Every successful message body sent back, in order."""
        with self._lock:
            return copy.deepcopy(self._replies)

    # --- the endpoint -------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        """Record, then authentication, then the version header, then the body, then the script."""
        raw = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self._requests.append(copy.deepcopy(body))
            self._headers.append(headers)
            self._arrivals.append(time.monotonic())
        if not self._authorised(headers):
            return self._error(error(401, "authentication_error", "invalid x-api-key"))
        if "anthropic-version" not in headers:
            return self._error(error(400, "invalid_request_error", "anthropic-version: header is required"))
        problem = request_problem(body)
        if problem:
            return self._error(error(400, "invalid_request_error", problem))
        return await self._answer(self._next_turn(), body)

    def _authorised(self, headers: dict[str, str]) -> bool:
        """The key comes as `x-api-key`, or as a Bearer token, which newer SDK versions send."""
        bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return self.api_key in (headers.get("x-api-key"), bearer)

    def _next_turn(self) -> Turn:
        with self._lock:
            if self._script:
                return self._script.popleft()
        # Not retryable, so a test that scripted too few turns fails at once instead of after backoff.
        return error(500, "api_error", "fake: script exhausted", {"x-should-retry": "false"})

    async def _answer(self, turn: Turn, body: Body) -> Response:
        if callable(turn):
            turn = turn(body)
        if isinstance(turn, Hang):
            await self._sleep(turn.seconds)
            return await self._answer(turn.then if turn.then is not None else text("(late answer)"), body)
        if isinstance(turn, Failure):
            return self._error(turn)
        reply = turn if isinstance(turn, Reply) else Reply((turn,))
        return JSONResponse(self._message(reply, body), headers={"request-id": _new_id("req_")})

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._stopping.is_set():
            await asyncio.sleep(0.02)

    def _message(self, reply: Reply, body: Body) -> Body:
        content = [_served(block) for block in reply.content]
        stop_reason = reply.stop_reason or (
            "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn")
        usage = self._usage(body, content, reply)
        message = {"id": _new_id("msg_"), "type": "message", "role": "assistant", "model": body["model"],
                   "content": content, "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}
        with self._lock:
            self._replies.append(copy.deepcopy(message))
        return message

    def _usage(self, body: Body, content: list[Block], reply: Reply) -> dict[str, int]:
        """Input tokens split as the API splits them: read from the cache, written to it, and the rest."""
        segments = _segments(body)
        total = estimate_tokens(segments)
        read, written = self._cache_tokens(segments)
        fresh = max(total - read - written, 0)
        return {"input_tokens": fresh if reply.input_tokens is None else reply.input_tokens,
                "output_tokens": estimate_tokens(content) if reply.output_tokens is None else reply.output_tokens,
                "cache_creation_input_tokens": written, "cache_read_input_tokens": read}

    def _cache_tokens(self, segments: list[Block]) -> tuple[int, int]:
        """The longest cached breakpoint prefix is read; the last breakpoint's prefix is written if new."""
        prefixes = [segments[: index + 1] for index, segment in enumerate(segments) if segment.get("cache_control")]
        prefixes = [p for p in prefixes if estimate_tokens(p) >= self.min_cacheable_tokens]
        if not prefixes:
            return 0, 0
        keys = [hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest() for p in prefixes]
        with self._lock:
            hits = [estimate_tokens(p) for p, key in zip(prefixes, keys, strict=True) if key in self._cache]
            written = 0 if keys[-1] in self._cache else estimate_tokens(prefixes[-1]) - max(hits, default=0)
            self._cache.update(keys)
        return max(hits, default=0), written

    def _error(self, failure: Failure) -> Response:
        body = {"type": "error", "error": {"type": failure.error_type, "message": failure.message},
                "request_id": _new_id("req_")}
        return JSONResponse(body, status_code=failure.status, headers=failure.headers)

    async def _not_found(self, _request: Request) -> Response:
        return self._error(error(404, "not_found_error", "Not found"))


def _served(block: Block) -> Block:
    """A scripted block as the API sends it: tool_use blocks get a `toolu_` id."""
    if block["type"] == "tool_use" and "id" not in block:
        return {**copy.deepcopy(block), "id": _new_id("toolu_")}
    return copy.deepcopy(block)


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]
