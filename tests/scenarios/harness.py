"""A scenario's whole observability stack on loopback: a real Prometheus over its backfilled metrics, and the
fakes of its log backend (Loki or Datadog), of Kubernetes and, when it has dashboards, of Grafana.

What it yields is the environment the service reads its tools from, so a test configures the service exactly
as an operator would: by URLs, keys and a kubeconfig.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.fakes.datadog import FakeDatadog
from tests.fakes.grafana import FakeGrafana
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.loki import FakeLoki
from tests.prometheus import RunningPrometheus, backfill, require_prometheus
from tests.scenarios.loader import (
    Scenario,
    datadog_logs,
    grafana_datasources,
    kubernetes_objects,
    log_entries,
    openmetrics,
    pod_logs,
)

DATADOG_API_KEY = "dd-api-key-scenario"
DATADOG_APP_KEY = "dd-app-key-scenario"
GRAFANA_TOKEN = "glsa_scenario_token"
KUBERNETES_TOKEN = "scenario-token"


def prepare_tsdb(s: Scenario, data_dir: Path) -> Path:
    """Backfill the scenario's metrics into a fresh TSDB at `data_dir` (skipping the test without Prometheus)."""
    _, promtool = require_prometheus()
    backfill(openmetrics(s), data_dir, promtool)
    return data_dir


@contextmanager
def scenario_environment(s: Scenario, tmp_path: Path, extra_log_lines: int = 0,
                         data_dir: Path | None = None) -> Iterator[dict[str, str]]:
    """Serve the scenario and yield the service's environment: PROMETHEUS_URL, LOKI_URL or the DATADOG_* trio,
    KUBECONFIG, and GRAFANA_URL/GRAFANA_TOKEN when the scenario has dashboards.

    `data_dir` reuses a TSDB already backfilled by `prepare_tsdb` (Prometheus writes to it, so give each running
    server its own copy); by default one is built under `tmp_path`.
    """
    with ExitStack() as stack:
        tsdb = data_dir or prepare_tsdb(s, tmp_path / "tsdb")
        prometheus = stack.enter_context(RunningPrometheus(tsdb))
        env = {"PROMETHEUS_URL": prometheus.url}
        env.update(_logs(stack, s, extra_log_lines))
        kubernetes = stack.enter_context(FakeKubernetes(kubernetes_objects(s), pod_logs=pod_logs(s),
                                                        token=KUBERNETES_TOKEN))
        kubeconfig = kubernetes.write_kubeconfig(tmp_path / "kubeconfig", namespace=s.kubernetes.namespace)
        env["KUBECONFIG"] = str(kubeconfig)
        if s.grafana and s.grafana.dashboards:
            datasources = [{**d, "url": d.get("url", prometheus.url)} for d in grafana_datasources(s)]
            grafana = stack.enter_context(FakeGrafana(GRAFANA_TOKEN, s.grafana.dashboards, datasources,
                                                      prometheus_url=prometheus.url))
            env.update({"GRAFANA_URL": grafana.url, "GRAFANA_TOKEN": GRAFANA_TOKEN})
        yield env


def _logs(stack: ExitStack, s: Scenario, extra_log_lines: int) -> dict[str, str]:
    """Start the scenario's log backend and return the variables that point at it."""
    if s.logs.backend == "loki":
        loki = stack.enter_context(FakeLoki(log_entries(s, extra_log_lines)))
        return {"LOKI_URL": loki.url}
    datadog = stack.enter_context(FakeDatadog(DATADOG_API_KEY, DATADOG_APP_KEY, datadog_logs(s, extra_log_lines)))
    return {"DATADOG_API_URL": datadog.url, "DATADOG_API_KEY": DATADOG_API_KEY, "DATADOG_APP_KEY": DATADOG_APP_KEY}
