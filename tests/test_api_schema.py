"""schemathesis over the served API, on Postgres, with a write token: generated requests (valid and invalid) get
no server error, only statuses the OpenAPI schema documents, and bodies that match it.

Bounded so that it stays well under a minute: few examples per operation, a fixed seed, no shrinking.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.main import create_app
from app.settings import Settings
from tests.support import AppServer

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance", "negative_data_rejection", "unsupported_method", "allow_header_conformance",
    "ignored_auth", "missing_required_header", "use_after_free", "ensure_resource_availability",
])
# Not checked: positive_data_acceptance. Some rules are the team config's (severity and role names) or the
# clock's (a due date not in the past), so they are not in the JSON Schema; such requests get a documented 400
# or 422, which that check counts as a valid request rejected.
EXAMPLES = 12


def test_every_api_route_needs_a_token_and_documents_its_errors_as_json(tmp_path: Path) -> None:
    """A router added later without the token dependency, or an error status without its body, fails here."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/schema.db"))
    schema = app.openapi()
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    api = [(path, method, op) for path, method, op in operations if path.startswith("/api/v1/")]
    assert len(api) >= 16
    for path, method, op in api:
        is_webhook = path.startswith("/api/v1/webhooks/")
        assert (op.get("security") == [{"HTTPBearer": []}]) != is_webhook, (method, path)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
        changes = method != "get" and not is_webhook
        assert ("403" in op["responses"]) == changes and "401" in op["responses"], (method, path)


@pytest.fixture
def served(database_url: str) -> Iterator[AppServer]:
    env = {"DATABASE_URL": database_url, "PAGERDUTY_WEBHOOK_SECRET": "webhook-secret-for-schemathesis"}
    with AppServer(env) as running:
        yield running


def config(tmp_path: Path, public_id: str) -> Path:
    """Known ids offered alongside generated ones, so that operations on an incident get past its 404."""
    path = tmp_path / "schemathesis.toml"
    path.write_text(f"""
[dictionaries.incidents]
values = ["{public_id}"]
[dictionaries.agents]
values = ["incident-commander", "rca-agent", "postmortem-writer"]
[dictionaries.items]
values = [1]
[parameters]
"path.public_id" = {{ dictionary = "incidents", probability = 0.5 }}
"path.name" = {{ dictionary = "agents", probability = 0.5 }}
"path.number" = {{ dictionary = "items", probability = 0.5 }}
""")
    return path


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_schemathesis_finds_no_server_error_and_no_undocumented_status(served: AppServer, tmp_path: Path) -> None:
    api = served.api()
    public_id = api.post(f"{served.url}/api/v1/incidents", json={"title": "Checkout failing", "severity": "SEV2"}
                         ).json()["id"]
    assert api.post(f"{served.url}/api/v1/incidents/{public_id}/actions", json={"text": "Add a canary"}
                    ).status_code == 201
    report = tmp_path / "report.json"
    token = api.headers["Authorization"]
    run = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config(tmp_path, public_id)),
         "run", f"{served.url}/openapi.json", "--header", f"Authorization: {token}", "--checks", CHECKS,
         "--max-examples", str(EXAMPLES), "--seed", "11", "--no-shrink", "--workers", "2",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "20",
         "--report", "json", "--report-json-path", str(report)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)  # its example database stays there
    assert run.returncode == 0, run.stdout[-6000:]
    result = json.loads(report.read_text())
    cases = result["test_cases"]
    assert (result["failures"], result["errors"], cases["with_failures"], cases["errored"]) == ([], [], 0, 0)
    assert result["operations"]["tested"] == result["operations"]["total"] >= 18
    assert cases["generated"] >= 300, cases  # enough cases to mean something, few enough to stay fast
