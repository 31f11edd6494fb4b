"""`incidentbot runbook ...` and `agent run runbook-executor` as an operator runs them: real processes, the fake
kubectl first on PATH, no terminal (the tests' stdin is not a tty)."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from app.db.migrate import upgrade
from tests.conftest import wait_for
from tests.runbook_support import FakeKubectl, kill_when_hung, wait_for_lease_to_run_out, write_config
from tests.support import concurrently

SLOW_WAIT = """name: slow-restart
description: Scale down, wait (slowly), scale up
target: "deployment/{deployment}"
parameters:
  deployment: {pattern: "^[a-z-]+$"}
steps:
  - name: Scale down
    command: [kubectl, scale, deployment, "{deployment}", -n, production, --replicas, "4"]
    mutating: true
    rollback: [kubectl, scale, deployment, "{deployment}", -n, production, --replicas, "5"]
  - name: Wait
    command: [kubectl, rollout, status, deployment, "{deployment}", -n, production]
    timeout: 1s
  - name: Scale up
    command: [kubectl, scale, deployment, "{deployment}", -n, production, --replicas, "5"]
    mutating: true
"""
SHELL_BOOK = """name: shell-out
description: Not allowed
steps:
  - name: Anything
    command: [bash, -c, "echo hi"]
"""


def _env(url: str, kubectl: FakeKubectl, tmp_path: Path) -> dict[str, str]:
    config = write_config(tmp_path, runbooks={"slow-restart.yml": SLOW_WAIT, "shell-out.yml": SHELL_BOOK,
                                              "broken.yml": "name: broken\nsteps: []\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTBOT_"))}
    return {**env, **kubectl.env(), "DATABASE_URL": url, "INCIDENTBOT_CONFIG": str(config)}


@pytest.fixture
def cli_env(database_url: str, kubectl: FakeKubectl, tmp_path: Path) -> dict[str, str]:
    """On SQLite and on Postgres: for what the run records and their locks do."""
    return _env(database_url, kubectl, tmp_path)


@pytest.fixture
def lite_env(kubectl: FakeKubectl, tmp_path: Path) -> dict[str, str]:
    """SQLite only: for what is decided before or apart from the store (parsing, refusals, rendering)."""
    url = f"sqlite:///{tmp_path}/cli.db"
    upgrade(url)
    return _env(url, kubectl, tmp_path)


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, cwd=cwd or Path.cwd())


def runs(db: Engine) -> list[dict]:
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(text("SELECT * FROM runbook_runs ORDER BY id"))]


def steps(db: Engine, run_id: int) -> list[dict]:
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(
            text("SELECT * FROM runbook_steps WHERE run_id = :r ORDER BY id"), {"r": run_id})]


def test_without_a_terminal_or_yes_a_changing_step_is_refused(cli_env: dict[str, str], kubectl: FakeKubectl,
                                                              db: Engine) -> None:
    done = cli(cli_env, "runbook", "run", "pod-restart-graceful", "deployment=api-server")
    assert done.returncode == 1
    assert "pass --yes to approve them all" in done.stderr and "from a terminal" in done.stderr
    assert "Status: REFUSED" in done.stdout and "**Result**: ABORTED" in done.stdout
    assert [c for c in kubectl.calls() if c[0] == "scale"] == []
    assert ["get", "namespace", "production"] in kubectl.calls()  # the pre-flight checks did run
    [run] = runs(db)
    assert run["state"] == "aborted" and run["lock_key"] is None  # nothing holds the target afterwards


def test_yes_runs_the_seed_report(cli_env: dict[str, str], kubectl: FakeKubectl, db: Engine) -> None:
    done = cli(cli_env, "agent", "run", "runbook-executor", "--yes", "--prompt",
               "Execute runbook: pod-restart-graceful deployment=api-server namespace=production")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for line in ["## Runbook Execution: pod-restart-graceful", "**Runbook**: pod-restart-graceful",
                 "**Target**: deployment/api-server (namespace: production)", "**Executor**: runbook-executor",
                 "### Pre-Flight Checks", "| Check | Status | Details |",
                 "| Cluster Access | PASS | Kubernetes control plane is running at https://prod-cluster:6443 |",
                 "| Replicas | PASS | 5/5 |", "**Step 1/5**: Cordon node for maintenance",
                 "# Skipped - not required for pod restart", "**Step 2/5**: Scale down by 1 replica",
                 "kubectl scale deployment api-server -n production --replicas 4",
                 "Output: deployment.apps/api-server scaled", "**Step 5/5**: Verify health",
                 'Output: deployment "api-server" successfully rolled out', "- **Total Steps**: 5",
                 "- **Completed**: 4", "- **Skipped**: 1", "- **Failed**: 0", "**Result**: SUCCESS",
                 "### Post-Execution Verification", "- All pods ready: PASS (5/5 pods ready)"]:
        assert line in out, line
    assert out.count("Status: COMPLETED") == 4 and out.count("Duration: ") == 4  # the skipped one ran nothing
    scales = [c for c in kubectl.calls() if c[0] == "scale"]
    assert scales == [["scale", "deployment", "api-server", "-n", "production", "--replicas", "4"],
                      ["scale", "deployment", "api-server", "-n", "production", "--replicas", "5"]]
    [run] = runs(db)
    approvals = [s["decided_by"] for s in steps(db, run["id"]) if s["mutating"] and s["state"] == "completed"]
    assert run["state"] == "completed" and approvals == [f"cli:{getpass.getuser()}"] * 2


def test_the_agent_only_suggests_when_not_told_to_execute(lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    done = cli(lite_env, "agent", "run", "runbook-executor", "--prompt",
               "Guide me through the pod-restart runbook for api-server")
    assert done.returncode == 0, done.stderr
    assert "1. **pod-restart-graceful**" in done.stdout
    assert "`/incident runbook guide pod-restart-graceful deployment=api-server`" in done.stdout
    assert kubectl.calls() == []


INJECTIONS = ["api;rm -rf /", "$(touch x)", "`touch x`", "api\ntouch x", "--kubeconfig=/etc/shadow", "-x",
              "x'$(touch x)'"]


def test_injection_is_refused_before_anything_runs(lite_env: dict[str, str], kubectl: FakeKubectl,
                                                   tmp_path: Path) -> None:
    refusals = concurrently(lambda value=value: cli(lite_env, "runbook", "run", "pod-restart-graceful",
                                                    f"deployment={value}", "--yes", cwd=tmp_path)
                            for value in INJECTIONS)
    for value, done in zip(INJECTIONS, refusals, strict=True):
        assert done.returncode == 1, value
        assert done.stderr.startswith("error: deployment=`") and "is refused" in done.stderr, done.stderr
    assert kubectl.calls() == []
    assert not (tmp_path / "x").exists()
    assert cli(lite_env, "runbook", "runs").stdout == "No runbook runs.\n"


def test_a_program_not_allowed_is_refused(lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    done = cli(lite_env, "runbook", "run", "shell-out", "--yes")
    assert done.returncode == 1
    assert "shell-out runs 'bash', which runbook_programs does not allow (kubectl); nothing was run" in done.stderr
    assert cli(lite_env, "runbook", "runs").stdout == "No runbook runs.\n" and kubectl.calls() == []


def test_a_step_past_its_timeout_is_killed_and_rolled_back(cli_env: dict[str, str], kubectl: FakeKubectl,
                                                           db: Engine) -> None:
    kubectl.fault("rollout status", hang=60)
    started = time.monotonic()
    done = cli(cli_env, "runbook", "run", "slow-restart", "deployment=api-server", "--yes")
    assert time.monotonic() - started < 30
    assert done.returncode == 1
    assert "Status: TIMED OUT" in done.stdout and "timed out after 1s; its processes were killed" in done.stdout
    assert "Failed at Wait: timed out after 1s" in done.stdout and "completed steps rolled back" in done.stdout
    pid = int(Path(str(kubectl.state_path) + ".hung").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]  # down, then the rollback
    [run] = runs(db)
    assert run["state"] == "failed"
    assert [(s["phase"], s["state"]) for s in steps(db, run["id"])] == [
        ("step", "rolled_back"), ("step", "timed_out"), ("rollback", "completed")]


def test_dry_run_changes_nothing(lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    done = cli(lite_env, "runbook", "run", "scale-deployment", "deployment=checkout", "replicas=6", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "**Result**: DRY RUN" in done.stdout
    assert "kubectl scale deployment checkout -n production --replicas 6" in done.stdout
    assert [c[0] for c in kubectl.calls()] == ["get", "get"]
    assert kubectl.state["deployments"]["production/checkout"]["replicas"] == 2


def test_list_show_and_a_malformed_file(lite_env: dict[str, str]) -> None:
    listed = cli(lite_env, "runbook", "list")
    assert listed.returncode == 0
    assert "pod-restart-graceful" in listed.stdout and "slow-restart" in listed.stdout
    assert "broken.yml: description: Field required" in listed.stderr
    assert "broken.yml: steps: List should have at least 1 item" in listed.stderr
    shown = cli(lite_env, "runbook", "show", "rollout-undo")
    assert shown.returncode == 0 and "## Runbook: rollout-undo" in shown.stdout
    assert "`kubectl rollout undo deployment {deployment} -n {namespace}` (*changes*" in shown.stdout
    missing = cli(lite_env, "runbook", "show", "broken")
    assert missing.returncode == 1 and "No runbook named broken." in missing.stderr
    assert "broken.yml: description: Field required" in missing.stderr


def test_a_run_killed_mid_step_is_interrupted_and_resumes_without_repeating(
        cli_env: dict[str, str], kubectl: FakeKubectl, db: Engine) -> None:
    kubectl.fault("rollout status", hang=20)
    env = {**cli_env, "INCIDENTBOT_RUNBOOK_LEASE_SECONDS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "runbook", "run", "pod-restart-graceful",
                                "deployment=api-server", "--yes"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when_hung(process, kubectl, "the wait step")
    [run] = runs(db)
    assert run["state"] == "running"  # nobody knows yet
    wait_for_lease_to_run_out(env["DATABASE_URL"])
    listed = cli(env, "runbook", "runs")
    assert f"{run['id']:>5}  interrupted" in listed.stdout
    resumed = cli(env, "runbook", "resume", str(run["id"]), "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "**Result**: SUCCESS" in resumed.stdout
    scales = [c[-1] for c in kubectl.calls() if c[0] == "scale"]
    assert scales == ["4", "5"]  # the completed scale-down did not run again
    states = [(s["name"], s["state"]) for s in steps(db, run["id"]) if s["phase"] == "step"]
    assert ("Wait for termination", "interrupted") in states and ("Wait for termination", "completed") in states
    again = cli(env, "runbook", "resume", str(run["id"]), "--yes")
    assert again.returncode == 1 and "is not interrupted" in again.stderr


def test_unknown_runbook_and_incident(lite_env: dict[str, str]) -> None:
    done = cli(lite_env, "runbook", "run", "pod-restart", "deployment=api")
    assert done.returncode == 1 and "No runbook named pod-restart. Did you mean pod-restart-graceful?" in done.stderr
    done = cli(lite_env, "runbook", "run", "pod-restart-graceful", "deployment=api", "--incident", "INC-2026-0101-009")
    assert done.returncode == 1 and "no incident INC-2026-0101-009" in done.stderr


def test_the_argv_reaches_kubectl_exactly(lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    done = cli(lite_env, "runbook", "run", "cache-flush", "pod=redis-0", "--yes")
    assert done.returncode == 0, done.stdout
    assert ["exec", "redis-0", "-n", "production", "-c", "redis", "--", "redis-cli", "FLUSHALL"] in kubectl.calls()
    assert json.loads(kubectl.state_path.read_text())["redis"]["keys"] == 0


def test_an_interrupted_run_can_be_aborted_and_is_rolled_back(lite_env: dict[str, str], kubectl: FakeKubectl,
                                                              tmp_path: Path) -> None:
    env = _cut_off_in(lite_env, kubectl, "rollout status")  # the wait step, after the scale-down completed
    refused = cli(env, "runbook", "run", "slow-restart", "deployment=api-server", "--yes")
    assert refused.returncode == 1 and "slow-restart is already running on deployment/api-server (run #1, " \
                                       "interrupted); resume or abort it first" in refused.stderr
    aborted = cli(env, "runbook", "abort", "1")
    assert aborted.returncode == 0, aborted.stderr
    assert "**Result**: ABORTED" in aborted.stdout and "completed steps rolled back" in aborted.stdout
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]
    assert cli(env, "runbook", "abort", "1").returncode == 1  # already finished
    again = cli(env, "runbook", "run", "slow-restart", "deployment=api-server", "--yes")
    assert again.returncode == 0, again.stdout  # the target is free again


def test_the_database_failover_switches_to_the_candidate(lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    done = cli(lite_env, "runbook", "run", "database-failover-procedure", "cluster=pg", "candidate=pg-1", "--yes")
    assert done.returncode == 0, done.stdout
    assert ["exec", "pg-1", "-n", "databases", "-c", "postgres", "--", "patronictl", "switchover", "--leader", "pg-0",
            "--candidate", "pg-1", "--force"] in kubectl.calls()  # the leader was read by the pre-flight check
    assert kubectl.state["leader"] == "pg-1"
    assert "- Candidate leads the cluster: PASS (| pg-1 | Leader | running |)" in done.stdout
    assert "# Skipped - no pooler named" in done.stdout


def _cut_off_in(lite_env: dict[str, str], kubectl: FakeKubectl, command: str) -> dict[str, str]:
    """Run slow-restart until the step running `command` hangs, then kill the process running it (and the step);
    the environment returned has a 1 s lease, already past."""
    kubectl.fault(command, hang=20)
    env = {**lite_env, "INCIDENTBOT_RUNBOOK_LEASE_SECONDS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "runbook", "run", "slow-restart",
                                "deployment=api-server", "--yes"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when_hung(process, kubectl, command)
    wait_for_lease_to_run_out(env["DATABASE_URL"])
    return env


def test_an_interrupted_changing_step_is_never_run_again_without_a_person(
        lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    db = create_engine(lite_env["DATABASE_URL"])
    env = _cut_off_in(lite_env, kubectl, "scale")

    refused = cli(env, "runbook", "resume", "1", "--yes")
    assert refused.returncode == 1
    assert "'Scale down' changes something and was running when the process stopped" in refused.stderr
    assert "incidentbot runbook resume 1 --step-done" in refused.stderr and "--retry-step" in refused.stderr
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4"]  # only the interrupted attempt
    assert "1  interrupted" in cli(env, "runbook", "runs").stdout  # still waiting for a person
    both = cli(env, "runbook", "resume", "1", "--step-done", "--retry-step")
    assert both.returncode == 1 and "contradict" in both.stderr

    done = cli(env, "runbook", "resume", "1", "--step-done", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "**Result**: SUCCESS" in done.stdout
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]  # the scale-down was not re-run
    rows = [(s["name"], s["state"], s["decision"]) for s in steps(db, 1) if s["name"] == "Scale down"]
    assert rows == [("Scale down", "interrupted", "approve"), ("Scale down", "completed", "done")]
    assert "marked done (its interrupted attempt took effect)" in done.stdout
    nothing = cli(env, "runbook", "resume", "1", "--retry-step")
    assert nothing.returncode == 1 and "is not interrupted" in nothing.stderr


def test_retry_step_runs_the_interrupted_step_again(lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    db = create_engine(lite_env["DATABASE_URL"])
    env = _cut_off_in(lite_env, kubectl, "scale")
    retried = cli(env, "runbook", "resume", "1", "--retry-step", "--yes")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "4", "5"]
    assert [s["decision"] for s in steps(db, 1) if s["name"] == "Scale down"] == ["approve", "retry"]


def test_aborting_at_an_interrupted_step_says_it_is_not_rolled_back(lite_env: dict[str, str],
                                                                      kubectl: FakeKubectl) -> None:
    env = _cut_off_in(lite_env, kubectl, "scale")
    aborted = cli(env, "runbook", "abort", "1")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert "**Result**: ABORTED" in aborted.stdout
    assert "its interrupted step may have taken effect and is not rolled back: check it by hand" in aborted.stdout
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4"]  # nothing ran again, nothing undone


def _as_a_shell_starts_it() -> None:
    """A shell starts a foreground command with Ctrl-C's signal neither ignored nor blocked, whatever the test
    process's event loops left behind (a blocked or ignored SIGINT is inherited across exec)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _prompted(stderr: Path, count: int) -> bool:
    return stderr.read_text(errors="replace").count("Approve, skip or abort?") >= count


@pytest.mark.parametrize("leave", ["interrupt", "end-of-input"])
def test_leaving_a_terminal_question_aborts_the_run_and_rolls_back(
        cli_env: dict[str, str], kubectl: FakeKubectl, db: Engine, tmp_path: Path, leave: str) -> None:
    """Approve the first changing step on a terminal, then Ctrl-C (or Ctrl-D) at the second question: the run
    is aborted, its completed step rolled back, and the target is free for the next run."""
    controller, terminal = os.openpty()
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "runbook", "run", "pod-restart-graceful",
                                    "deployment=api-server"], env=cli_env, stdin=terminal,
                                   stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_as_a_shell_starts_it)
    os.close(terminal)
    try:
        wait_for(lambda: _prompted(stderr, 1), what="the first question")
        os.write(controller, b"approve\n")
        wait_for(lambda: _prompted(stderr, 2), what="the second question")
        if leave == "interrupt":
            process.send_signal(signal.SIGINT)
        else:
            os.write(controller, b"\x04")  # Ctrl-D: the end of the terminal's input
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the run did not end after {leave}: {stderr.read_text()[-2000:]}") from None
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    assert "aborted: the question was left unanswered" in stderr.read_text()
    [run] = runs(db)
    assert run["state"] == "aborted" and run["lock_key"] is None
    assert [c[-1] for c in kubectl.calls() if c[0] == "scale"] == ["4", "5"]  # scaled down, then rolled back
    again = cli(cli_env, "runbook", "run", "pod-restart-graceful", "deployment=api-server", "--dry-run")
    assert again.returncode == 0, again.stderr


def test_a_graceful_restart_of_a_single_replica_is_refused_before_anything_changes(
        lite_env: dict[str, str], kubectl: FakeKubectl) -> None:
    state = kubectl.state
    state["deployments"]["production/solo"] = {"replicas": 1, "revision": 1}
    kubectl.state_path.write_text(json.dumps(state))
    done = cli(lite_env, "runbook", "run", "pod-restart-graceful", "deployment=solo", "--yes")
    assert done.returncode == 1, done.stdout
    [replicas] = [line for line in done.stdout.splitlines() if line.startswith("| Replicas |")]
    assert "| FAIL | 1/1: needs at least two replicas" in replicas
    assert [c for c in kubectl.calls() if c[0] == "scale"] == []
