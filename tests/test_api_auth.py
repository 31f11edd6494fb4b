"""API tokens: made and revoked with `incidentbot token ...` (a real subprocess), then used over real HTTP
against the served app; each on SQLite and on Postgres."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
from sqlalchemy import Engine, text

from tests.support import AppServer, concurrently

NOT_SECRET = re.compile(r"ib_[A-Za-z0-9_-]{20,}")


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """`incidentbot ...` with only the database configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "INCIDENTBOT_"))}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env={**env, "DATABASE_URL": database_url},
                          capture_output=True, text=True, timeout=60)


def create(name: str, database_url: str, *scope: str) -> str:
    made = cli("token", "create", name, *scope, database_url=database_url)
    assert made.returncode == 0, made.stderr
    assert "shown only now" in made.stderr
    assert NOT_SECRET.fullmatch(made.stdout.strip()), made.stdout  # stdout is the token alone, for scripts
    return made.stdout.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_create_list_and_revoke(database_url: str, db: Engine) -> None:
    secret = create("ci", database_url)
    with db.connect() as connection:
        stored = [tuple(map(str, row)) for row in connection.execute(text("SELECT * FROM api_tokens"))]
    assert len(stored) == 1 and not any(secret in value for value in stored[0])  # only its hash is kept

    # Three refusals and one more token, independent of each other: at once.
    again, bad, wrong_scope, _ = concurrently([
        lambda: cli("token", "create", "ci", database_url=database_url),
        lambda: cli("token", "create", "has space", database_url=database_url),
        lambda: cli("token", "create", "x", "--scope", "admin", database_url=database_url),
        lambda: create("grafana", database_url, "--scope", "read")])
    assert again.returncode == 1 and again.stdout == ""
    assert "a token named 'ci' already exists" in again.stderr
    assert bad.returncode == 1 and "invalid token name" in bad.stderr
    assert wrong_scope.returncode == 2 and "admin" in wrong_scope.stderr

    listed = cli("token", "list", database_url=database_url)
    assert listed.returncode == 0
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("ci", "write", "active"), ("grafana", "read", "active")]
    assert not NOT_SECRET.search(listed.stdout)

    unknown = cli("token", "revoke", "nobody", database_url=database_url)
    assert unknown.returncode == 1 and "no active token named 'nobody'" in unknown.stderr
    revoked = cli("token", "revoke", "ci", database_url=database_url)
    assert revoked.returncode == 0 and revoked.stdout == "token 'ci' revoked\n"
    twice = cli("token", "revoke", "ci", database_url=database_url)
    assert twice.returncode == 1
    assert create("ci", database_url) != secret  # a revoked name can be given to its successor
    rows = cli("token", "list", database_url=database_url).stdout.splitlines()
    assert len(rows) == 3 and [row.split()[0] for row in rows if " revoked " in row] == ["ci"]


def test_the_api_needs_a_token_and_changes_need_write_scope(database_url: str) -> None:
    writer, reader = create("deploy", database_url), create("dashboard", database_url, "--scope", "read")
    with AppServer({"DATABASE_URL": database_url}) as server:
        api = f"{server.url}/api/v1/incidents"
        for headers in ({}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer"}):
            refused = httpx.get(api, headers=headers)
            assert refused.status_code == 401 and "incidentbot token create" in refused.json()["error"]
            assert refused.headers["WWW-Authenticate"] == 'Bearer realm="incidentbot"'
        forged = httpx.get(api, headers=bearer("ib_" + "x" * 43))
        assert (forged.status_code, forged.json()) == (401, {"error": "unknown or revoked API token"})
        assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]

        assert httpx.get(api, headers=bearer(reader)).json() == []
        read_only = httpx.post(api, headers=bearer(reader), json={"title": "Checkout down", "severity": "SEV1"})
        assert read_only.status_code == 403 and "read scope" in read_only.json()["error"]
        assert 'error="insufficient_scope"' in read_only.headers["WWW-Authenticate"]
        declared = httpx.post(api, headers=bearer(writer), json={"title": "Checkout down", "severity": "SEV1"})
        assert declared.status_code == 201, declared.text
        assert [i["id"] for i in httpx.get(api, headers=bearer(reader)).json()] == [declared.json()["id"]]

        assert cli("token", "revoke", "deploy", database_url=database_url).returncode == 0
        gone = httpx.post(api, headers=bearer(writer), json={"title": "Again", "severity": "SEV1"})
        assert gone.status_code == 401 and 'error="invalid_token"' in gone.headers["WWW-Authenticate"]

        # Outside /api/v1: probes, metrics and docs are open by default; the webhook has its own signature.
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
            assert httpx.get(server.url + path).status_code == 200, path
        home = httpx.get(server.url + "/")  # the browser page: open, and it shows no incident data
        assert home.status_code == 200 and "incidentbot token create" in home.text
        assert "Checkout down" not in home.text and 'href="/metrics"' in home.text
        webhook = httpx.post(f"{server.url}/api/v1/webhooks/pagerduty", content="{}")
        assert webhook.status_code == 503 and "PAGERDUTY_WEBHOOK_SECRET" in webhook.json()["error"]
    last_used = cli("token", "list", database_url=database_url).stdout
    assert re.search(r"^dashboard\s+read\s+created \S+ \S+\s+last used \d{4}-", last_used, re.MULTILINE), last_used


def test_metrics_and_docs_can_be_closed_to_callers_without_a_token(database_url: str) -> None:
    reader = create("prometheus", database_url, "--scope", "read")
    env = {"DATABASE_URL": database_url, "INCIDENTBOT_PUBLIC_METRICS": "false", "INCIDENTBOT_PUBLIC_DOCS": "false"}
    with AppServer(env) as server:
        for path in ("/metrics", "/openapi.json", "/docs", "/redoc"):
            closed = httpx.get(server.url + path)
            assert closed.status_code == 401 and closed.headers["WWW-Authenticate"].startswith("Bearer"), path
            assert httpx.get(server.url + path, headers=bearer(reader)).status_code == 200, path
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        home = httpx.get(server.url + "/")
        assert home.status_code == 200 and 'href="/metrics"' not in home.text and 'href="/docs"' not in home.text
        assert "incidentbot_http_request_duration_seconds" in httpx.get(
            f"{server.url}/metrics", headers=bearer(reader)).text
