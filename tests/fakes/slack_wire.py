"""Slack's wire format as pure functions: request parsing, cursors, and the Block Kit and metadata rules
Slack documents. Kept apart from `slack.py` (the stateful workspace and server) so each rule reads on its own.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

Params = dict[str, Any]

MAX_BLOCKS, DEFAULT_PAGE = 50, 100
BLOCK_TYPES = {"section", "header", "divider", "context", "actions", "image", "rich_text", "input"}
ELEMENT_LIMITS = {"context": 10, "actions": 25}  # documented maximum number of `elements`


class SlackError(Exception):
    """An `{"ok": false}` answer. Handlers raise it so that each documented rule is one line."""

    def __init__(self, error: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error, self.detail, self.extra = error, detail, extra

    def response(self) -> JSONResponse:
        body: Params = {"ok": False, "error": self.error, **self.extra}
        if self.detail:  # Slack explains block errors in response_metadata.messages; so do we
            body["response_metadata"] = {"messages": [f"[ERROR] {self.detail}"]}
        return JSONResponse(body)


def reject_if(condition: Any, error: str) -> None:
    if condition:
        raise SlackError(error)


async def read_params(request: Request) -> Params:
    """Query string merged with the body; slack_sdk sends JSON for chat.* and views.*, forms otherwise."""
    params: Params = dict(request.query_params)
    body = (await request.body()).decode()
    if body and "application/json" in request.headers.get("content-type", ""):
        data = json_arg(body, "invalid_json")
        reject_if(not isinstance(data, dict), "invalid_json")
        params.update(data)
    elif body:
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


def json_arg(value: Any, error: str) -> Any:
    """Structured arguments (blocks, metadata, view) are JSON strings in forms and objects in JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise SlackError(error) from None


def flag(value: Any) -> bool:
    """Booleans arrive as JSON true, or as "1"/"true" in forms (slack_sdk turns True into "1")."""
    return value is True or str(value).lower() in ("1", "true")


def _text(obj: Any) -> str:
    """The string inside a text object (`{"type": "mrkdwn", "text": ...}`), or a bare string."""
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return obj if isinstance(obj, str) else ""


def paginate(items: list[Any], params: Params) -> tuple[list[Any], Params]:
    """Slack's cursor pagination: an opaque cursor in, `response_metadata.next_cursor` out ("" at the end)."""
    try:
        limit = int(params.get("limit") or DEFAULT_PAGE)
        cursor = str(params.get("cursor") or "")
        start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
    except ValueError:
        raise SlackError("invalid_cursor") from None
    reject_if(limit < 1, "invalid_limit")
    end = start + limit
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], {"next_cursor": next_cursor}


def _ts_value(ts: Any, error: str) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        raise SlackError(error) from None


def in_window(messages: list[Params], params: Params) -> list[Params]:
    """conversations.history/replies `oldest` and `latest` bounds: exclusive, or inclusive on request."""
    oldest = _ts_value(params.get("oldest") or 0, "invalid_ts_oldest")
    latest = _ts_value(params["latest"], "invalid_ts_latest") if params.get("latest") else None
    inclusive = flag(params.get("inclusive"))

    def inside(message: Params) -> bool:
        ts = _ts_value(message["ts"], "invalid_ts")
        above = ts >= oldest if inclusive else ts > oldest
        below = latest is None or (ts <= latest if inclusive else ts < latest)
        return above and below

    return [m for m in messages if inside(m)]


# --- Block Kit and metadata -------------------------------------------------------------------


def block_problem(blocks: list[Any]) -> str | None:
    """Why Slack would answer `invalid_blocks` for this list, or None; mirrors Block Kit's limits."""
    if len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        problem = _single_block_problem(block)
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if problem is None and block_id is not None:
            problem = "duplicate block_id" if block_id in seen else None
            seen.add(block_id)
        if problem:
            return f"{problem} [json-pointer:/blocks/{index}]"
    return None


def _single_block_problem(block: Any) -> str | None:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return "missing or unknown block type"
    kind, text, fields = block["type"], _text(block.get("text")), block.get("fields") or []
    if kind == "header" and not 1 <= len(text) <= 150:
        return "header text must be 1 to 150 characters"
    if kind == "section" and not (text or fields):
        return "section needs text or fields"
    if kind == "section" and len(text) > 3000:
        return "section text must be at most 3000 characters"
    if kind == "section" and (len(fields) > 10 or any(len(_text(f)) > 2000 for f in fields)):
        return "section fields: at most 10, each at most 2000 characters"
    if kind in ELEMENT_LIMITS and not 1 <= len(block.get("elements") or []) <= ELEMENT_LIMITS[kind]:
        return f"{kind} needs 1 to {ELEMENT_LIMITS[kind]} elements"
    return None


def blocks_arg(value: Any) -> list[Any] | None:
    if value in (None, ""):
        return None
    blocks = json_arg(value, "invalid_blocks_format")
    reject_if(not isinstance(blocks, list), "invalid_blocks_format")
    problem = block_problem(blocks)
    if problem:
        raise SlackError("invalid_blocks", problem)
    return blocks


def metadata_arg(value: Any) -> Params | None:
    """Message metadata must carry an event_type and an event_payload object."""
    if value in (None, ""):
        return None
    data = json_arg(value, "invalid_metadata_format")
    valid = isinstance(data, dict) and data.get("event_type") and isinstance(data.get("event_payload"), dict)
    reject_if(not valid, "invalid_metadata_format")
    return {"event_type": data["event_type"], "event_payload": data["event_payload"]}


def file_list_arg(value: Any) -> list[Params]:
    """files.completeUploadExternal's `files`: a non-empty JSON array of objects, each naming an `id`."""
    files = json_arg(value, "invalid_arguments")
    valid = isinstance(files, list) and files and all(isinstance(f, dict) and f.get("id") for f in files)
    reject_if(not valid, "invalid_arguments")
    return files


def new_id(prefix: str, taken: Any) -> str:
    """Slack-shaped ids ("C" + 8 uppercase alphanumerics), random so tests cannot depend on them."""
    alphabet = string.ascii_uppercase + string.digits
    while True:
        candidate = prefix + "".join(secrets.choice(alphabet) for _ in range(8))
        if candidate not in taken:
            return candidate
