"""The Slack app's manifest asks for every scope the code needs: each Web API method the code calls (found by
reading the code) and each event it subscribes to. A scope missing here fails in a real workspace with
`missing_scope`, after the app is installed."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_scopes import EVENT_SCOPES, METHOD_SCOPES, PRIVATE, PUBLIC, manifest, manifest_bot_scopes, needed

ROOT = Path(__file__).resolve().parents[1]
CODE = [ROOT / "app", ROOT / "agents"]
# War rooms are public or private channels; DMs go out through chat.postMessage to a user id (chat:write).
KINDS = (PUBLIC, PRIVATE)


def client_methods_called() -> dict[str, str]:
    """slack_sdk client methods called anywhere in the code (`client.chat_postMessage(...)`), with where."""
    found: dict[str, str] = {}
    for path in sorted(p for folder in CODE for p in folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and _is_web_api_method(node.func.attr)):
                found.setdefault(node.func.attr, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _is_web_api_method(name: str) -> bool:
    return "_" in name.strip("_") and not name.startswith("_") and callable(getattr(AsyncWebClient, name, None)) \
        and bool(web_api_methods(name))


def web_api_methods(client_method: str) -> list[str]:
    """The Web API methods one client method calls, read from slack_sdk's source (files_upload_v2 makes two)."""
    source = inspect.getsource(getattr(AsyncWebClient, client_method))
    methods = re.findall(r'api_call\(\s*"([\w.]+)"', source)
    for inner in re.findall(r"self\.(\w+)\(", source):
        if inner != client_method and not inner.startswith("_") and hasattr(AsyncWebClient, inner):
            methods += web_api_methods(inner)
    return methods


def calls() -> Iterator[tuple[str, str]]:
    for client_method, where in client_methods_called().items():
        for method in web_api_methods(client_method):
            yield method, where


def test_the_scan_finds_the_calls_the_app_makes() -> None:
    methods = {method for method, _ in calls()}
    # A few calls known to be made; if the scan found none of them it would be checking nothing.
    assert {"chat.postMessage", "conversations.create", "files.completeUploadExternal", "users.info"} <= methods


def test_every_web_api_method_called_has_its_scopes_in_the_manifest() -> None:
    granted = manifest_bot_scopes()
    unknown = sorted({f"{method} ({where})" for method, where in calls() if method not in METHOD_SCOPES})
    assert not unknown, ("add these methods' required bot scopes (api.slack.com/methods/<method>) to "
                         f"tests/fakes/slack_scopes.py: {', '.join(unknown)}")
    missing = sorted({f"{scope} for {method} ({where})" for method, where in calls()
                      for scope in needed(method, KINDS) if scope not in granted})
    assert not missing, f"slack-app-manifest.yml lacks bot scopes: {'; '.join(missing)}"


def test_every_subscribed_event_and_the_slash_command_have_their_scopes() -> None:
    granted = manifest_bot_scopes()
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) <= set(EVENT_SCOPES), f"add the scopes of {set(events) - set(EVENT_SCOPES)} to EVENT_SCOPES"
    assert [e for e in events if EVENT_SCOPES[e] not in granted] == []
    assert "commands" in granted and manifest()["features"]["slash_commands"]
