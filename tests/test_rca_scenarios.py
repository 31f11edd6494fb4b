"""The scenario suite: for each incident in tests/scenarios, the rca-agent (deterministic) names the expected
cause, component and triggering change from the telemetry alone, and cites the queries behind its evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.rca import render
from tests.scenarios.analysis import analyse, describe, rank_of_expected
from tests.scenarios.harness import scenario_environment
from tests.scenarios.loader import load, scenario_names
from tests.support import free_socket


@pytest.mark.parametrize("name", scenario_names())
async def test_the_expected_root_cause_is_named(name: str, tmp_path: Path) -> None:
    scenario = load(name)
    with scenario_environment(scenario, tmp_path) as tools:
        report = await analyse(scenario, tools)
    expected = scenario.expected
    assert rank_of_expected(report, expected) == 1, (
        f"expected {expected}, got {describe(report)}; hypotheses: "
        + "; ".join(f"{h.cause}/{h.component}/{h.trigger.subject if h.trigger else None} {h.score}"
                    for h in report.hypotheses))
    # The analysis is the seed's, whole, and every piece of evidence says where it came from.
    markdown = render.markdown(report)
    for section in ("### Executive Summary", "### Timeline of Events", "### Five Whys Analysis", "### Root Cause",
                    "### Evidence", "### Contributing Factors", "### Recommendations"):
        assert section in markdown, section
    assert len(report.five_whys) == 5 and report.recommendations is not None
    assert report.evidence and all(e.query for e in report.evidence)
    assert report.confidence in ("high", "medium")


async def test_prometheus_is_read_through_grafana_when_only_grafana_is_configured(tmp_path: Path) -> None:
    scenario = load("pool-leak-after-flag")
    with scenario_environment(scenario, tmp_path) as tools:
        without_prometheus = {k: v for k, v in tools.items() if k != "PROMETHEUS_URL"}
        report = await analyse(scenario, without_prometheus)
    assert rank_of_expected(report, scenario.expected) == 1, describe(report)
    [prometheus] = [t for t in report.tools if t.name == "prometheus"]
    assert prometheus.available and prometheus.detail == "through Grafana's datasource proxy"


async def test_a_tool_that_fails_costs_its_evidence_not_the_analysis(tmp_path: Path) -> None:
    scenario = load("pool-leak-after-flag")
    with scenario_environment(scenario, tmp_path) as tools:
        report = await analyse(scenario, {**tools, "LOKI_URL": f"http://127.0.0.1:{closed_port()}"})
    [loki] = [t for t in report.tools if t.name == "loki"]
    assert not loki.available and "Loki at http://127.0.0.1:" in loki.detail and "unreachable" in loki.detail
    assert report.lines_read == 0
    # Metrics and the timeline still name the cause.
    assert (report.cause, report.trigger and report.trigger.subject) == ("connection-pool-exhaustion",
                                                                         "async-payment-processing")


def closed_port() -> int:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    return port
