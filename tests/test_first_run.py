"""What a new operator meets first: which commands migrate, bad database URLs and config typos answered in one
line, the version, a quick `--help`, API docs that work offline, the Docker image's example config and the
README's quick start."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import text

from app.config import ConfigModel, TeamConfig
from app.db.engine import create_sync_engine
from app.db.migrate import heads, upgrade
from tests.conftest import wait_for
from tests.support import AppServer, concurrently, free_socket, postgres_admin_url, stop_process
from tests.test_cli import run

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error:` line a failed command printed. Only `serve` logs (its start-up) besides."""
    assert result.returncode != 0 and result.stdout == "" and "Traceback" not in result.stderr, result
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    if "serve" not in result.args:
        assert result.stderr == errors[0] + "\n"
    return errors[0].removeprefix("error: ")


# --- only serve and `db upgrade` migrate ------------------------------------------------------------------

def test_commands_refuse_an_old_or_missing_schema_and_db_upgrade_brings_it_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/incidentbot.db"
    missing = one_line_error(run("list", env={"DATABASE_URL": url}))
    assert missing == (f"the database at {url} is not up to date: run `incidentbot db upgrade` "
                       "(there is no database file yet)")
    assert not (tmp_path / "incidentbot.db").exists()  # asking created nothing

    upgrade(url, "0003")  # a database an older release migrated
    old = one_line_error(run("declare", "-s", "SEV3", "Queue backlog", env={"DATABASE_URL": url}))
    assert old == f"the database at {url} is not up to date: run `incidentbot db upgrade`"
    assert _revision(url) == "0003"  # left as it was

    assert run("db", "upgrade", env={"DATABASE_URL": url}).stdout == f"database at {url} is up to date\n"
    assert _revision(url) == heads(url)[0]


def _revision(url: str) -> str:
    engine = create_sync_engine(url)
    with engine.connect() as connection:
        revision = str(connection.scalar(text("SELECT version_num FROM alembic_version")))
    engine.dispose()
    return revision


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A database on the Postgres server with no tables, dropped afterwards."""
    admin = create_sync_engine(postgres_admin_url()).execution_options(isolation_level="AUTOCOMMIT")
    name = f"incidentbot_empty_{os.getpid()}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Postgres not reachable at {postgres_admin_url()} ({type(exc).__name__})")
    yield postgres_admin_url().rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_on_postgres_an_empty_database_is_refused_until_upgraded(empty_postgres: str) -> None:
    env = {"DATABASE_URL": empty_postgres}
    assert one_line_error(run("list", env=env)).endswith(
        "is not up to date: run `incidentbot db upgrade` (it has no incidentbot tables yet)")
    assert run("db", "upgrade", env=env).returncode == 0
    assert _revision(empty_postgres) == heads(empty_postgres)[0]


# --- bad DATABASE_URLs: one line, on every command and on serve --------------------------------------------

SUPPORTED = "use sqlite:///path/to/incidentbot.db or postgresql://user:password@host:5432/name"


def test_bad_database_urls_are_explained_in_one_line() -> None:
    refused = free_socket()  # bound, never listening
    missing_db = postgres_admin_url().rsplit("/", 1)[0] + "/incidentbot_no_such_db"
    cases = [  # `serve` and `db upgrade` share one path, every other command another: each is tried
        (("list",), "mysql://root:pw@localhost/incidents", f"DATABASE_URL: mysql is not supported; {SUPPORTED}"),
        (("serve",), "garbage", f"DATABASE_URL is not a database URL; {SUPPORTED}"),
        (("serve",), f"postgresql://postgres:hunter2@127.0.0.1:{refused.getsockname()[1]}/x",
         f"cannot reach the database at postgresql://postgres:***@127.0.0.1:{refused.getsockname()[1]}/x "
         "(OperationalError); is it running?"),
    ]
    calls = [(args, url) for args, url, _ in cases] + [(("list",), missing_db)]
    *results, missing = concurrently(lambda args=args, url=url: run(*args, env={"DATABASE_URL": url})
                                     for args, url in calls)  # each fails alone, before touching anything
    for (args, url, expected), result in zip(cases, results, strict=True):
        assert one_line_error(result) == expected, (args, url)
    said = one_line_error(missing)
    assert said.startswith("the database 'incidentbot_no_such_db' does not exist on the server at "), said
    assert "`createdb -h 127.0.0.1 -p 5432 -U postgres incidentbot_no_such_db`" in said
    assert said.endswith("then run `incidentbot db upgrade`")
    refused.close()


# --- config typos ------------------------------------------------------------------------------------------

def test_unknown_config_keys_name_the_key_where_it_is_and_the_closest_known_one(tmp_path: Path) -> None:
    config = tmp_path / "incidentbot.yml"
    config.write_text("sevrities: []\n")
    url = f"sqlite:///{tmp_path}/incidentbot.db"
    upgrade(url)
    said = one_line_error(run("list", env={"DATABASE_URL": url, "INCIDENTBOT_CONFIG": str(config)}))
    assert said == (f"INCIDENTBOT_CONFIG: {config} is invalid: top level: unknown key 'sevrities' "
                    "(did you mean 'severities'?)")
    config.write_text("services:\n  - name: payments\n    observability: {namspace: prod}\n"
                      "roles:\n  - {name: Incident Commander, brief: x, manyy: true}\n")
    said = one_line_error(run("serve", env={"DATABASE_URL": url, "INCIDENTBOT_CONFIG": str(config)}))
    assert said.endswith("services[0].observability: unknown key 'namspace' (did you mean 'namespace'?); "
                         "roles[0]: unknown key 'manyy' (did you mean 'many'?)")


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models(field.annotation)
    for arg in get_args(annotation):
        yield from _models(arg)


def test_every_model_in_the_team_config_refuses_unknown_keys() -> None:
    models = set(_models(TeamConfig))
    assert len(models) >= 6
    assert {m.__name__ for m in models if not issubclass(m, ConfigModel)} == set(), "subclass ConfigModel"


# --- small things --------------------------------------------------------------------------------------------

def test_version_and_a_help_that_loads_no_heavy_module() -> None:
    assert run("--version", env={}).stdout == "incidentbot, version 0.1.0\n"
    loaded = subprocess.run([sys.executable, "-X", "importtime", "-m", "app.cli", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert "incident" in loaded.stdout and "serve" in loaded.stdout
    modules = {line.split("|")[-1].strip() for line in loaded.stderr.splitlines() if "|" in line}
    heavy = {"agents", "kubernetes", "anthropic", "uvicorn", "slack_sdk", "sqlalchemy", "fastapi"}
    assert heavy & {m.split(".")[0] for m in modules} == set()


def test_api_docs_load_every_script_and_style_from_the_app(database_url: str) -> None:
    with AppServer({"DATABASE_URL": database_url}) as server:
        for page in ("/docs", "/redoc"):
            html = httpx.get(server.url + page).text
            assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
            assert len(assets) >= (3 if page == "/docs" else 2), html  # js (+ css) and the favicon
            for asset in assets:
                assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
                served = httpx.get(server.url + asset)
                assert served.status_code == 200 and len(served.content) > 1000, asset
            assert re.findall(r"https?://", html) == [], f"{page} refers to another host"
        assert httpx.get(f"{server.url}/openapi.json").json()["paths"]["/api/v1/incidents/{public_id}"]["patch"]


def test_the_docker_image_has_the_config_env_example_points_at() -> None:
    [path] = re.findall(r"^#?\s*INCIDENTBOT_CONFIG=(\S+)", (ROOT / ".env.example").read_text(), re.MULTILINE)
    dockerfile = (ROOT / "Dockerfile").read_text()
    [workdir] = re.findall(r"^WORKDIR (\S+)", dockerfile, re.MULTILINE)
    copied = {source: dest for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE)
              for *sources, dest in [line.split()] for source in sources}
    name = Path(path).name
    assert name in copied and copied[name] == "./" and (Path(workdir) / path).name == name
    assert Path(path).parent == Path(".") and (ROOT / name).exists()


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The commands the README gives after `make run`, run as written against a migrated store."""
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in readme.split("```sh\n")[1:] if "incidentbot declare" in b.split("```")[0]).split("```")[0]
    url = f"sqlite:///{tmp_path}/incidentbot.db"
    upgrade(url)
    lines = [line for line in block.splitlines() if line.startswith(".venv/bin/incidentbot")]
    assert len(lines) >= 3
    for line in lines:
        done = subprocess.run(["bash", "-c", line.replace(".venv/bin/incidentbot", shlex.quote(
            str(Path(sys.executable).parent / "incidentbot")))], env={**os.environ, "DATABASE_URL": url},
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (line, done.stderr)


# --- serve: zero set-up, JSON logs -----------------------------------------------------------------------

def test_serve_migrates_a_fresh_store_and_logs_json_lines_without_tokens(tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    url = f"sqlite:///{tmp_path}/fresh.db"
    token = "xoxb-1111111111-2222222222-abcdefghijklmnop"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "LOG_"))}
    env.update(DATABASE_URL=url, LOG_FORMAT="json", SLACK_BOT_TOKEN=token, SLACK_SIGNING_SECRET="x" * 32,
               SLACK_API_URL="http://127.0.0.1:1/api/")  # an unreachable Slack: the sweeps log failures
    log = tmp_path / "serve.log"  # not a pipe: one nobody reads would block the service once it fills
    with log.open("wb") as output:
        service = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port",
                                    str(port)], env=env, stderr=output)
    try:
        wait_for(lambda: _ready(port), timeout=60, what="the service")
        made = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "ops"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        api_token = made.stdout.strip()
        created = httpx.post(f"http://127.0.0.1:{port}/api/v1/incidents", headers={
            "Authorization": f"Bearer {api_token}"}, json={"title": "Queue backlog", "severity": "SEV3"})
        assert created.status_code == 201  # the store was created and migrated by serve
    finally:
        stop_process(service, grace=30, sig=signal.SIGINT)
    stderr = log.read_text()
    lines = [json.loads(line) for line in stderr.splitlines()]  # every line is one JSON object
    assert all({"level", "logger", "message", "time"} <= line.keys() for line in lines)
    assert any(line["logger"].startswith("uvicorn") and "Uvicorn running" in line["message"] for line in lines)
    assert token not in stderr and "x" * 32 not in stderr and api_token not in stderr


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def test_logs_never_carry_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    from app.logs import configure
    from app.settings import Settings

    settings = Settings(_env_file=None, slack_signing_secret="signing-secret-1234",
                        anthropic_api_key="sk-ant-api03-abcdef")
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    configure(logging.INFO, "json", settings.secrets)
    try:
        raise RuntimeError("Slack said no to xoxb-9999999999-8888888888-zzzzzzzzzzzz")
    except RuntimeError:
        logging.getLogger("incidentbot.test").exception("call with signing-secret-1234 and sk-ant-api03-abcdef failed"
                                                        " (Authorization: Bearer ib_Zq3-xY_0aBcDeFgHiJkLmNoPqRsTuVwX)")
    finally:
        root.handlers[:], root.level = kept
    [line] = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["message"] == "call with [redacted] and [redacted] failed (Authorization: Bearer [redacted])"
    assert record["level"] == "ERROR" and "RuntimeError: Slack said no to [redacted]" in record["exception"]
