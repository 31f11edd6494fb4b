"""The postmortem over the REST API of the served app, and from the `incidentbot postmortem` commands, as an
operator uses them; each on SQLite and on Postgres."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import AppServer, concurrently

TITLE = "Payment API returning 500 errors"
EDITED = "## What Happened\nThe review's own account of the outage.\n"


@pytest.fixture
def api(database_url: str) -> Iterator[AppServer]:
    with AppServer({"DATABASE_URL": database_url}) as running:
        yield running


def declared(api: AppServer) -> str:
    http = api.api()
    created = http.post(f"{api.url}/api/v1/incidents", json={"title": TITLE, "severity": "SEV2",
                                                               "declared_by": "carol"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def postmortem_url(api: AppServer, public_id: str) -> str:
    return f"{api.url}/api/v1/incidents/{public_id}/postmortem"


def test_missing_incidents_and_postmortems_are_json_404s(api: AppServer) -> None:
    http = api.api()
    unknown = postmortem_url(api, "INC-2020-0101-009")
    for response in (http.get(unknown), http.post(unknown, json={}), http.get(f"{unknown}/versions"),
                     http.put(unknown, json={"markdown": EDITED}), http.patch(unknown, json={"status": "final"})):
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "No incident INC-2020-0101-009"}

    public_id = declared(api)
    url = postmortem_url(api, public_id)
    none_yet = {"error": f"{public_id} has no postmortem yet: POST to this URL to write one"}
    assert (http.get(url).status_code, http.get(url).json()) == (404, none_yet)
    assert (http.patch(url, json={"status": "final"}).status_code, http.patch(url, json={"status": "final"}).json()
            ) == (404, none_yet)
    assert http.get(f"{url}/versions").json() == []
    missing_version = http.get(url, params={"version": 7})
    assert missing_version.status_code == 404
    assert missing_version.json() == {"error": f"{public_id} has no version 7: POST to this URL to write one"}
    empty = http.put(url, json={"markdown": ""})
    assert empty.status_code == 422 and empty.json()["error"].startswith("invalid request: markdown")
    assert http.get(f"{url}/versions").json() == []  # nothing was stored by any of these


def test_generate_edit_regenerate_review_and_read_versions(api: AppServer) -> None:
    http = api.api()
    public_id = declared(api)
    url = postmortem_url(api, public_id)

    generated = http.post(url, json={"author": "dave"})
    assert generated.status_code == 201, generated.text
    first = generated.json()
    assert (first["version"], first["origin"], first["mode"], first["status"], first["author"]) == (
        1, "generated", "deterministic", "Draft", "api:dave")
    assert first["markdown"].startswith(f"# Postmortem: {TITLE}\n")
    assert "**Status**: Draft (draft: the incident is still open: times and impact may change)\n" in first["markdown"]
    assert first["data"]["incident_id"] == public_id and first["data"]["severity"] == "SEV2"
    assert http.get(url).json() == first

    edit = http.put(url, json={"markdown": f"# Postmortem: {TITLE}\n**Status**: Draft\n\n{EDITED}",
                                "author": "carol"})
    assert edit.status_code == 201, edit.text
    assert (edit.json()["version"], edit.json()["origin"], edit.json()["mode"], edit.json()["author"]) == (
        2, "edited", "human", "api:carol")

    refused = http.post(url, json={})
    assert refused.status_code == 409
    assert refused.json() == {"error": "version 2 was edited by api:carol; regenerating adds a new version after it "
                                       "(the edit stays as version 2): ask again with --force "
                                       "(`/incident postmortem regenerate --force`)"}
    assert len(http.get(f"{url}/versions").json()) == 2
    forced = http.post(url, json={"force": True})
    assert forced.status_code == 201 and forced.json()["version"] == 3 and forced.json()["origin"] == "generated"

    review = http.patch(url, json={"status": "in-review", "author": "erin"})
    assert review.status_code == 200, review.text
    assert (review.json()["version"], review.json()["status"]) == (3, "In review")
    assert "**Status**: In review\n" in review.json()["markdown"] and "(draft:" not in review.json()["markdown"]
    bogus = http.patch(url, json={"status": "bogus"})
    assert bogus.status_code == 422
    assert bogus.json() == {"error": "unknown status 'bogus': use draft, in-review or final"}
    assert http.get(url).json()["status"] == "In review"

    assert http.get(url, params={"version": 1}).json() == first
    assert EDITED in http.get(url, params={"version": 2}).json()["markdown"]
    versions: list[dict[str, Any]] = http.get(f"{url}/versions").json()
    assert [(v["version"], v["origin"], v["status"]) for v in versions] == [
        (1, "generated", "Draft"), (2, "edited", "Draft"), (3, "generated", "In review")]
    shown = http.get(f"{api.url}/api/v1/incidents/{public_id}").json()
    assert "Postmortem version 3 is now In review" in [event["text"] for event in shown["timeline"]]


# --- the command line -----------------------------------------------------------------------------------


def cli(*args: str, database_url: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """`incidentbot ...` with only the database configured: no Slack, no model."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLACK_", "DATABASE_URL", "ANTHROPIC_", "INCIDENTBOT_"))}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env={**clean, "DATABASE_URL": database_url},
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)


def test_the_postmortem_commands(database_url: str, tmp_path: Path) -> None:
    made = cli("declare", "--severity", "SEV2", TITLE, database_url=database_url)
    assert made.returncode == 0, made.stderr
    public_id = made.stdout.split("Incident Declared: ")[1].split()[0]

    none_yet = cli("postmortem", "status", public_id, "final", database_url=database_url)
    assert none_yet.returncode == 1
    assert none_yet.stderr == (f"error: {public_id} has no postmortem yet: `incidentbot postmortem generate "
                               f"{public_id}`\n")

    exported = tmp_path / "postmortem.md"
    with exported.open("w") as out:  # incidentbot postmortem export INC > postmortem.md
        result = cli("postmortem", "export", public_id, database_url=database_url, stdout=out)
    assert result.returncode == 0, result.stderr
    first = exported.read_text()
    assert first.startswith(f"# Postmortem: {TITLE}\n**Date**: ")
    assert f"| Incident ID | {public_id} |" in first and "## Action Items" in first

    exported.write_text(first.replace("## Lessons Learned\n", f"{EDITED}\n## Lessons Learned\n"))
    imported = cli("postmortem", "import", public_id, str(exported), database_url=database_url)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == f"{public_id}: kept as postmortem version 2\n"
    assert EDITED in cli("postmortem", "export", public_id, database_url=database_url).stdout

    refused = cli("postmortem", "generate", public_id, database_url=database_url)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: version 2 was edited by cli:")
    assert "ask again with --force" in refused.stderr
    forced = cli("postmortem", "generate", "--force", public_id, database_url=database_url)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith(f"# Postmortem: {TITLE}\n") and EDITED not in forced.stdout

    reviewed = cli("postmortem", "status", public_id, "in-review", database_url=database_url)
    assert reviewed.returncode == 0, reviewed.stderr
    assert reviewed.stdout == f"{public_id}: postmortem version 3 is now In review\n"
    latest = cli("postmortem", "export", public_id, database_url=database_url).stdout
    assert "**Status**: In review\n" in latest
    assert cli("postmortem", "export", "--version", "1", public_id, database_url=database_url).stdout == first


def test_postmortem_commands_refuse_bad_input_with_a_message(database_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    commands = [("export", "INC-2020-0101-009"), ("generate", "INC-2020-0101-009"),
                ("status", "INC-2020-0101-009", "bogus"), ("import", "INC-2020-0101-009", str(empty))]
    # Every one is refused and changes nothing: they run at once.
    unknown, generate, bad_status, nothing = concurrently(
        lambda args=args: cli("postmortem", *args, database_url=database_url) for args in commands)
    assert unknown.returncode == 1
    assert unknown.stderr == "error: no incident INC-2020-0101-009; `incidentbot list` shows them\n"
    assert generate.returncode == 1 and "no incident INC-2020-0101-009" in generate.stderr
    assert bad_status.returncode == 2
    assert bad_status.stderr == "error: unknown status 'bogus': use draft, in-review or final\n"
    assert nothing.returncode == 2 and nothing.stderr == f"error: {empty} is empty\n"
