"""The fake `kubectl` (tests/fakes/kubectl) on PATH, with its state file and the argv it was called with."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import create_sync_engine
from app.runbooks.models import RunbookRun, RunState
from tests.conftest import wait_for

FAKE = Path(__file__).parent / "fakes" / "kubectl"
STATE: dict[str, Any] = {
    "cluster": "prod-cluster",
    "namespaces": ["production", "databases"],
    "deployments": {"production/api-server": {"replicas": 5, "revision": 3},
                    "production/checkout": {"replicas": 2, "revision": 2}},
    "statefulsets": {"production/kafka": {"replicas": 3}, "databases/pg": {"replicas": 2}},
    "pods": {"production/kafka-2": {}, "production/redis-0": {}, "databases/pg-0": {}, "databases/pg-1": {}},
    "leader": "pg-0",
    "faults": [],
}


class FakeKubectl:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        (self.bin / "kubectl").symlink_to(FAKE)
        self.state_path, self.log_path = root / "kubectl-state.json", root / "kubectl-argv.jsonl"
        self.state_path.write_text(json.dumps(STATE))
        self.log_path.write_text("")

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "FAKE_KUBECTL_STATE": str(self.state_path),
                "FAKE_KUBECTL_LOG": str(self.log_path)}

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text())

    def fault(self, match: str, **how: Any) -> None:
        """The next call(s) whose words contain `match`: exit code, output, a hang (seconds), how many times."""
        state = self.state
        state["faults"].append({"match": match, **how})
        self.state_path.write_text(json.dumps(state))

    @property
    def hung_path(self) -> Path:
        return Path(str(self.state_path) + ".hung")

    def hung_pid(self) -> int | None:
        """The pid of the call hanging on a `hang` fault, once it has written it (the file is created empty)."""
        written = self.hung_path.read_text() if self.hung_path.exists() else ""
        return int(written) if written.strip() else None

    def kill_hung(self) -> None:
        """Kill the hanging call, orphaned when the process that ran it was killed: it would run on for its whole
        hang holding the pipes it inherited."""
        pid = self.hung_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKubectl:
    """First on PATH for this process (an in-process app server's steps) and for the children it starts."""
    fake = FakeKubectl(tmp_path / "kubectl")
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    return fake


def write_config(tmp_path: Path, extra: str = "", runbooks: dict[str, str] | None = None) -> Path:
    """A team config naming a runbooks folder relative to itself, with the given runbook files in it."""
    folder = tmp_path / "team" / "runbooks"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (runbooks or {}).items():
        (folder / name).write_text(text)
    config = tmp_path / "team" / "incidentbot.yml"
    config.write_text("runbooks_dir: runbooks\nrunbook_approvers: [U0APPROVER]\n" + extra)
    return config


def kill_when_hung(process: subprocess.Popen[bytes], kubectl: FakeKubectl, what: str) -> None:
    """Once `process` has a kubectl call hanging, SIGKILL it and then that call (its orphan); both die even when
    the hang never comes, so nothing outlives the test."""
    try:
        wait_for(kubectl.hung_pid, timeout=60, what=f"{what} to hang")
    finally:
        process.kill()
        process.wait(timeout=10)
        kubectl.kill_hung()


def wait_for_lease_to_run_out(database_url: str) -> None:
    """Sleep until the lease of every run marked running has passed: what a dead process leaves behind once
    nobody renews it (the condition, not a fixed sleep that must outlast the longest lease)."""
    engine = create_sync_engine(database_url)
    try:
        with Session(engine) as session:
            leases = session.scalars(select(RunbookRun.lease_until).where(RunbookRun.state == RunState.RUNNING)).all()
    finally:
        engine.dispose()
    latest = max((lease for lease in leases if lease is not None), default=None)
    if latest is not None:
        time.sleep(max(0.0, (latest - utcnow()).total_seconds()) + 0.05)
