"""Bad input is a 4xx with a JSON reason, never a 500: malformed JSON, control characters on every surface
(API, signed Slack commands, CLI), oversized bodies (declared or chunked, signed or not) and unsupported
methods; each on SQLite and on Postgres, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
from sqlalchemy import Engine, text

from app.db.text import clean, clean_value
from tests.support import AppServer, SlackSender, ack_text, sign

TEN_MB = 10 * 1024 * 1024
LIMIT = 1024 * 1024


def stored_texts(db: Engine) -> list[str]:
    """Every title, description and timeline text as stored, read back in Python (not filtered in SQL)."""
    with db.connect() as connection:
        rows = connection.execute(text("SELECT title, coalesce(description, '') FROM incidents")).all()
        timeline = connection.scalars(text("SELECT text FROM timeline_events")).all()
    return [value for row in rows for value in row] + list(timeline)


def has_control(value: str) -> bool:
    return any((ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) <= 0x9F for c in value)


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent with Transfer-Encoding: chunked, so no Content-Length says how big it is."""
    for _ in range(total // size):
        yield b"x" * size


def test_cleaning_drops_control_characters_and_keeps_text() -> None:
    assert clean("a\x00b\x1b[0m\x7f\x85c\ud83d") == "ab[0mc"
    kept = "tabs\tnew\nlines\r\n, accents é, CJK 事件, emoji 🔥, RTL שלום, zero-width\u200bjoiner"
    assert clean(kept) is kept
    assert clean_value({"k\x00": ["v\x07", ("w\x00", 1)], "n": None}) == {"k": ["v", ("w", 1)], "n": None}
    params = {"service": "payments", "steps": ["restart", {"wait": 30}]}
    assert clean_value(params) is params  # nothing to clean: the very object, so later edits to it still count


def test_malformed_json_is_a_400_and_invalid_fields_a_422(server: AppServer) -> None:
    api = server.api()
    url = f"{server.url}/api/v1/incidents"
    for body in (b"{", b"[", b"{\"title\": ", b"\xff\xfe", b"{'title': 'x'}"):
        refused = api.post(url, content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"].startswith("the body is not valid JSON"), refused.text
    for body in (b"[]", b"null", b"42", b'{"title": 5}', b'{"title": ""}'):
        refused = api.post(url, content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 422 and refused.json()["error"].startswith("invalid request"), body
    assert api.get(url).json() == []


def test_numbers_the_database_cannot_hold_are_a_422(server: AppServer) -> None:
    api = server.api()
    public_id = api.post(f"{server.url}/api/v1/incidents", json={"title": "Disk full", "severity": "SEV4"}).json()["id"]
    incident = f"{server.url}/api/v1/incidents/{public_id}"
    for response in (api.get(f"{incident}/postmortem", params={"version": 2**31}),
                     api.get(f"{incident}/postmortem", params={"version": 0}),
                     api.patch(f"{incident}/actions/99999999999", json={"status": "done"})):
        assert response.status_code == 422 and response.json()["error"].startswith("invalid request"), response.text


def test_control_characters_never_reach_the_database_from_the_api(server: AppServer, db: Engine) -> None:
    api = server.api()
    url = f"{server.url}/api/v1/incidents"
    body = json.dumps({"title": "Search\x00 down\x1b[2J", "severity": "SEV3",
                       "description": "line one\nline\ttwo\x07\ud800"})  # a lone surrogate, escaped as JSON allows
    declared = api.post(url, content=body, headers={"Content-Type": "application/json"})
    assert declared.status_code == 201, declared.text
    assert declared.json()["title"] == "Search down[2J"  # what is answered is what was stored
    public_id = declared.json()["id"]
    note = api.post(f"{url}/{public_id}/timeline", json={"text": "flag\x00 off\x08"})
    assert note.status_code == 201 and note.json()["text"] == "flag off"
    shown = api.get(f"{url}/{public_id}").json()
    assert shown["description"] == "line one\nline\ttwo"  # tab and newline are text: kept

    texts = stored_texts(db)
    assert "Search down[2J" in texts and "flag off" in texts and not any(map(has_control, texts))
    for path in ("INC-%00", "INC-2026-0101-001%00", "%00", "INC-%1B%5B2J"):
        missing = api.get(f"{url}/{path}")
        assert missing.status_code == 404 and "No incident" in missing.json()["error"], (path, missing.text)


def test_control_characters_from_a_signed_slack_command_and_the_cli_are_removed(
        sender: SlackSender, db: Engine, database_url: str) -> None:
    reply = ack_text(sender.command("declare SEV3 Checkout\x00 is\x07 failing"))
    assert "Checkout is failing" in reply
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "INCIDENTBOT_"))}
    made = subprocess.run([sys.executable, "-m", "app.cli", "declare", "--severity", "SEV4", "Queue\x1b[31m red"],
                          env={**env, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert "\x1b" not in made.stdout
    texts = stored_texts(db)
    assert {"Checkout is failing", "Queue[31m red"} <= set(texts) and not any(map(has_control, texts))


def test_bodies_over_the_limit_are_refused_with_413_before_they_are_read(server: AppServer,
                                                                        sender: SlackSender) -> None:
    api = server.api()
    declare = f"{server.url}/api/v1/incidents"
    big = b'{"title": "' + b"x" * TEN_MB + b'"}'
    for response in (api.post(declare, content=big, headers={"Content-Type": "application/json"}),
                     api.post(declare, content=chunks(TEN_MB), headers={"Content-Type": "application/json"}),
                     httpx.post(declare, content=big),  # no token either: the size is refused first
                     httpx.post(f"{server.url}/slack/events", content=big),
                     httpx.post(f"{server.url}/slack/events", content=chunks(TEN_MB))):
        assert response.status_code == 413, response.text
        assert response.json() == {"error": f"request body too large: the limit is {LIMIT} bytes"}

    command = sender.command_body("declare SEV2 " + "y" * TEN_MB)
    signed = sender.post(command)  # a valid signature does not make a 10 MB body acceptable
    assert signed.status_code == 413 and "too large" in signed.json()["error"]
    chunked = httpx.post(f"{server.url}/slack/events", content=iter([command.encode()[i:i + 65536] for i in range(
        0, len(command), 65536)]), headers={"Content-Type": "application/x-www-form-urlencoded",
                                            **sign(sender.secret, command)}, timeout=10)
    assert chunked.status_code == 413

    # Just under the limit is still served, and nothing above was stored.
    assert api.post(declare, json={"title": "t" * 400, "description": "d" * (LIMIT - 1000)}).status_code == 201
    assert [i["title"] for i in api.get(declare).json()] == ["t" * 400]
    assert "yyyy" not in str(sender.slack.calls_to("conversations.create"))


def test_unsupported_methods_are_405_with_allow(server: AppServer) -> None:
    api = server.api()
    for method, path, allow in (("TRACE", "/api/v1/incidents", "GET, POST"),
                                ("DELETE", "/api/v1/incidents/INC-2026-0101-001", "GET, PATCH"),
                                ("TRACE", "/slack/events", "POST"), ("PUT", "/healthz", "GET")):
        refused = api.request(method, server.url + path)
        assert refused.status_code == 405, (method, path)
        assert refused.headers["Allow"] == allow and refused.json() == {"error": "Method Not Allowed"}
