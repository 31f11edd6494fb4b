"""Runbook files, parameters and redaction: what is refused, and the message that says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config import ConfigError, load_team_config
from app.runbooks import params, process
from app.runbooks.loader import SHIPPED, load, load_file
from app.runbooks.redact import redact
from tests.runbook_support import FakeKubectl

GOOD = """name: tiny
description: One read
parameters:
  deployment: {pattern: "^[a-z-]+$"}
steps:
  - name: Look
    command: [kubectl, get, deployment, "{deployment}"]
"""


def write(tmp_path: Path, text: str, name: str = "book.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_runbooks_all_load() -> None:
    catalog = load([SHIPPED])
    assert catalog.problems == []
    assert {"pod-restart-graceful", "database-failover-procedure", "rollout-undo", "scale-deployment",
            "statefulset-pod-restart", "cache-flush"} <= set(catalog.runbooks)
    restart = catalog.runbooks["pod-restart-graceful"]
    assert [s.name for s in restart.steps][:2] == ["Cordon node for maintenance", "Scale down by 1 replica"]
    assert all(s.rollback is None or s.mutating for s in restart.steps)


@pytest.mark.parametrize(("text", "where", "problem"), [
    (GOOD.replace("steps:", "stpes:"), "top level", "unknown key 'stpes' (did you mean 'steps'?)"),
    (GOOD.replace('[kubectl, get, deployment, "{deployment}"]', '"kubectl get deployment {deployment}"'),
     "steps[0].command", "never a shell string"),
    (GOOD.replace('"{deployment}"]', '"--name={deployment}"]'), "steps[0].command", "must be a whole argument"),
    (GOOD.replace('"{deployment}"]', '"{deploymnet}"]'), "top level", "unknown parameter {deploymnet}"),
    (GOOD.replace("    command:", "    timeout: five minutes\n    command:"), "steps[0].timeout",
     "'five minutes' is not a duration"),
    (GOOD.replace("    command:", "    mutatng: true\n    command:"), "steps[0]", "unknown key 'mutatng'"),
    (GOOD.replace('"^[a-z-]+$"', '"^[a-z-+$"'), "parameters.deployment.pattern", "is not a regular expression"),
    (GOOD.replace("name: tiny", "name: Tiny Book"), "name", "runbook names are lowercase"),
    (GOOD + "preflight:\n  - {name: Change, command: [kubectl, delete, pod, x], mutating: true}\n", "preflight",
     "pre-flight and verify steps only read"),
    ("name: [unclosed\n", "not valid YAML", ""),
])
def test_a_malformed_file_names_the_file_the_key_and_the_problem(tmp_path: Path, text: str, where: str,
                                                                 problem: str) -> None:
    path = write(tmp_path, text)
    catalog = load([tmp_path])
    assert "tiny" not in catalog.runbooks
    [line] = [p for p in catalog.problems if where in p]
    assert line.startswith(f"{path}: ") and problem in line


def test_one_bad_file_leaves_the_others_loaded(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, "name: broken\n", name="broken.yml")
    catalog = load([tmp_path])
    assert list(catalog.runbooks) == ["tiny"]
    assert any("broken.yml: description: Field required" in p for p in catalog.problems)


def test_runbooks_dir_is_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "team" / "books").mkdir(parents=True)
    config = write(tmp_path / "team", "runbooks_dir: books\nrunbook_programs: [kubectl, helm]\n", "c.yml")
    monkeypatch.chdir("/")
    loaded = load_team_config(config)
    assert loaded.runbooks_dir == tmp_path / "team" / "books"
    assert loaded.runbook_programs == ["kubectl", "helm"]
    assert load_team_config(None).runbook_programs == ["kubectl"]
    bad = write(tmp_path, "runbook_programs: [/bin/sh]\n", "bad.yml")
    with pytest.raises(ConfigError, match="runbook_programs: '/bin/sh': a program is a bare name"):
        load_team_config(bad)


@pytest.mark.parametrize(("value", "why"), [
    ("api;rm -rf /", "contains ';'"),
    ("$(touch x)", "contains '$' '(' ')'"),
    ("`touch x`", "contains '`'"),
    ("api\nserver", "newline or control character"),
    ("--kubeconfig=/etc/shadow", "starts with '-'"),
    ("-n", "starts with '-'"),
    ("api server", "whitespace"),
    ("a" * 254, "longer than 253"),
])
def test_unsafe_values_are_refused_whatever_the_pattern(value: str, why: str) -> None:
    book = load_file(SHIPPED / "pod-restart-graceful.yml")
    with pytest.raises(params.ParameterError) as refused:
        params.resolve(book, {"deployment": value})
    assert why in str(refused.value)
    assert str(refused.value).startswith("deployment=`")
    assert "\n" not in str(refused.value)


def test_parameters_missing_unknown_pattern_and_defaults() -> None:
    book = load_file(SHIPPED / "pod-restart-graceful.yml")
    with pytest.raises(params.ParameterError, match="needs deployment"):
        params.resolve(book, {})
    with pytest.raises(params.ParameterError, match="has no parameter replicas"):
        params.resolve(book, {"deployment": "api", "replicas": "9"})
    with pytest.raises(params.ParameterError, match="does not match its pattern"):
        params.resolve(book, {"deployment": "API_Server"})
    assert params.resolve(book, {"deployment": "api-server"}) == {
        "deployment": "api-server", "namespace": "production", "node": ""}
    with pytest.raises(params.ParameterError, match="is not key=value"):
        params.split_pairs(["deployment"])


def test_substitution_is_whole_arguments_only() -> None:
    argv = params.substitute(["kubectl", "get", "{deployment}", "jsonpath={.spec.replicas}"],
                             {"deployment": "api"})
    assert argv == ["kubectl", "get", "api", "jsonpath={.spec.replicas}"]


@pytest.mark.parametrize(("text", "kept"), [
    ("Authorization: Bearer abcdefghijklmnop123", "Authorization: Bearer [redacted]"),
    ("token=s3cr3tvalue ok", "token=[redacted] ok"),
    ('{"apiKey": "AbCdEf123456"}', '{"apiKey": [redacted]}'),
    ("password: hunter2hunter2", "password: [redacted]"),
    ("slack xoxb-1234567890-abcdefghij done", "slack [redacted] done"),
    ("aws AKIAABCDEFGHIJKLMNOP", "aws [redacted]"),
    ("token=ghp_abcdefghijklmnopqrstuvwxyz0123 next", "token=[redacted] next"),  # a shape under a name, once
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[redacted]"),
    ("deployment.apps/api-server scaled", "deployment.apps/api-server scaled"),
])
def test_redaction(text: str, kept: str) -> None:
    assert redact(text) == kept


def test_redaction_of_the_services_own_secrets() -> None:
    assert redact("value is verysecretvalue!", ["verysecretvalue"]) == "value is [redacted]!"


async def test_a_process_output_is_capped_and_only_allowed_bare_programs_run(kubectl: FakeKubectl) -> None:
    kubectl.fault("cluster-info", output="x" * (process.READ_LIMIT + 5000))
    outcome = await process.run(["kubectl", "cluster-info"], ["kubectl"], timeout=30)
    assert outcome.exit_code == 0 and outcome.truncated and len(outcome.output) == process.READ_LIMIT
    with pytest.raises(process.ProgramRefused, match="'bash' is not an allowed program"):
        await process.run(["bash", "-c", "touch x"], ["kubectl"], timeout=5)
    with pytest.raises(process.ProgramRefused, match="is not an allowed program"):
        await process.run([str(kubectl.bin / "kubectl"), "get", "pods"], ["kubectl"], timeout=5)
    with pytest.raises(process.ProgramRefused, match="no-such-tool is not installed here"):
        await process.run(["no-such-tool", "list"], ["kubectl", "no-such-tool"], timeout=5)
    assert kubectl.calls() == [["cluster-info"]]


async def test_llm_mode_only_suggests_runbooks_that_exist_with_checked_values() -> None:
    from agents.base import AgentRequest, AgentSettings
    from agents.runbook_executor.agent import answer
    from app.config import TeamConfig
    from app.db.base import utcnow
    from tests.fakes.anthropic import FakeAnthropic, tool_use

    with FakeAnthropic() as claude:
        settings = AgentSettings(anthropic_api_key="sk-ant-test", anthropic_base_url=claude.url)
        claude.script(
            tool_use("suggest_runbooks", {"suggestions": [{"runbook": "rm-everything"}]}),
            tool_use("suggest_runbooks", {"suggestions": [{"runbook": "rollout-undo",
                                                           "parameters": {"deployment": "api;rm -rf /"}}]}),
            tool_use("suggest_runbooks", {"suggestions": [{"runbook": "rollout-undo", "why": "errors began at 2.3.1",
                                                           "parameters": {"deployment": "checkout"}}]}))
        got = await answer(AgentRequest(text="checkout broke after the deploy, what now?", now=utcnow(),
                                        config=TeamConfig(), settings=settings))
        results = [m["content"] for r in claude.requests[1:] for m in r["messages"][-1:]]
    assert got.mode.startswith("llm (") and got.note is None
    assert "`/incident runbook run rollout-undo deployment=checkout`" in got.text_markdown
    assert "Why: errors began at 2.3.1" in got.text_markdown
    told = json.dumps(results)
    assert "there is no runbook 'rm-everything'" in told and "is refused: the value contains ';'" in told

    with FakeAnthropic() as down:  # no scripted answer: the API fails, the keyword match answers
        settings = AgentSettings(anthropic_api_key="sk-ant-test", anthropic_base_url=down.url, llm_wall_seconds=2)
        fallback = await answer(AgentRequest(text="roll back the checkout deploy", now=utcnow(),
                                             config=TeamConfig(), settings=settings))
    assert fallback.mode == "deterministic" and fallback.note and "LLM mode unavailable" in fallback.note
    assert "rollout-undo" in fallback.text_markdown
