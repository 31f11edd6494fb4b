"""The read-only observability clients against servers that speak the real wire formats: a real Prometheus
(backfilled with promtool), and fake Grafana, Loki, Datadog and Kubernetes API servers on loopback HTTP.

Each test drives the real client (httpx, the official kubernetes client) and checks what it parsed, that
failures become one-line ToolFailed messages carrying the server's own words (and never a credential), and
that the fakes saw nothing but reads.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.integrations.datadog import DatadogLogsClient
from app.integrations.grafana import GrafanaClient
from app.integrations.kubernetes import KubernetesClient
from app.integrations.logs import DatadogLogs, LogQuery, LokiLogs, PodLogs, line_level
from app.integrations.loki import LokiClient
from app.integrations.prometheus import PrometheusClient
from app.integrations.telemetry import ChangeKind, ToolFailed, ToolUnavailable
from tests.fakes.datadog import SEARCH_PATH, FakeDatadog
from tests.fakes.grafana import FakeGrafana
from tests.fakes.kubernetes import FakeKubernetes, k8s_deployment, k8s_event, k8s_node, k8s_pod, k8s_replicaset
from tests.fakes.loki import FakeLoki, to_ns
from tests.prometheus import RunningPrometheus, backfill, require_prometheus

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
GRAFANA_TOKEN = "glsa_test_token_0123456789"
DD_API_KEY, DD_APP_KEY = "dd-api-key-0123456789", "dd-app-key-9876543210"
K8S_TOKEN = "k8s-bearer-token-0123456789"


def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def only_reads(requests: list[tuple[str, str]]) -> bool:
    return bool(requests) and all(method == "GET" for method, _ in requests)


# --- Prometheus (real server) -----------------------------------------------------------------------


def _openmetrics() -> str:
    """An hour of per-minute samples: payments' queue grows by one a minute, ledger's stays at 2."""
    lines = ["# TYPE queue_depth gauge"]
    for minute in range(60):
        at = int(T0.timestamp()) + 60 * minute
        lines.append(f'queue_depth{{service="payments",queue="orders"}} {minute} {at}')
        lines.append(f'queue_depth{{service="ledger",queue="orders"}} 2 {at}')
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary, promtool = require_prometheus()
    data = tmp_path_factory.mktemp("prometheus") / "data"
    backfill(_openmetrics(), data, promtool)
    with RunningPrometheus(data, binary) as running:
        yield running.url


async def test_prometheus_instant_query_parses_a_vector(prometheus_url: str) -> None:
    async with PrometheusClient(prometheus_url) as client:
        series = await client.query("queue_depth", T0 + timedelta(minutes=10))
    by_service = {s.labels["service"]: s for s in series}
    assert set(by_service) == {"payments", "ledger"}
    payments = by_service["payments"]
    assert payments.metric == "queue_depth" and "__name__" not in payments.labels
    assert payments.labels == {"service": "payments", "queue": "orders"}
    assert [(s.at, s.value) for s in payments.samples] == [(T0 + timedelta(minutes=10), 10.0)]
    assert payments.samples[0].at.tzinfo is not None and payments.query == "queue_depth"


async def test_prometheus_range_query_parses_a_matrix(prometheus_url: str) -> None:
    promql = 'sum by (service) (queue_depth{service="payments"})'
    async with PrometheusClient(prometheus_url) as client:
        [series] = await client.query_range(promql, T0, T0 + timedelta(minutes=5), 60)
    assert series.metric == "" and series.labels == {"service": "payments"}  # an aggregation drops __name__
    assert [s.value for s in series.samples] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert series.samples[-1].at == T0 + timedelta(minutes=5) and series.query == promql


async def test_prometheus_scalar_nan_and_infinity(prometheus_url: str) -> None:
    at = T0 + timedelta(minutes=30)
    async with PrometheusClient(prometheus_url) as client:
        [scalar] = await client.query("scalar(queue_depth{service='ledger'}) * 3", at)
        ratios = await client.query("queue_depth / 0", T0)  # payments 0/0 = NaN, ledger 2/0 = +Inf
    assert scalar.metric == "" and scalar.labels == {} and scalar.samples[0].value == 6.0
    values = {s.labels["service"]: s.samples[0].value for s in ratios}
    assert math.isnan(values["payments"]) and values["ledger"] == math.inf


async def test_prometheus_error_answer_carries_error_type_and_text(prometheus_url: str) -> None:
    async with PrometheusClient(prometheus_url) as client:
        with pytest.raises(ToolFailed) as failure:
            await client.query("sum(queue_depth", T0)
    message = str(failure.value)
    assert message.startswith("Prometheus: bad_data: ") and "parse error" in message and "\n" not in message


async def test_prometheus_through_grafana_proxy(prometheus_url: str) -> None:
    datasources = [{"uid": "prom-main", "name": "Prometheus", "type": "prometheus", "url": "http://unused:9090",
                    "isDefault": True}]
    with FakeGrafana(GRAFANA_TOKEN, [], datasources, prometheus_url=prometheus_url) as grafana:
        async with GrafanaClient(grafana.url, GRAFANA_TOKEN) as client:
            uid = await client.prometheus_datasource_uid()
        assert uid == "prom-main"
        async with PrometheusClient.through_grafana(grafana.url, GRAFANA_TOKEN, uid) as prom:
            series = await prom.query('queue_depth{service="payments"}', T0 + timedelta(minutes=3))
        async with PrometheusClient.through_grafana(grafana.url, "wrong-token", uid) as prom:
            with pytest.raises(ToolFailed) as failure:
                await prom.query("queue_depth", T0)
        requests = grafana.requests
    assert [s.samples[0].value for s in series] == [3.0]
    assert str(failure.value) == "Prometheus: Unauthorized (HTTP 401)"
    assert ("GET", "/api/datasources/proxy/uid/prom-main/api/v1/query") in requests and only_reads(requests)


async def test_prometheus_unreachable_and_timeout() -> None:
    url = closed_port_url()
    async with PrometheusClient(url) as client:
        with pytest.raises(ToolFailed) as refused:
            await client.query("up", T0)
    assert str(refused.value).startswith(f"Prometheus at {url} unreachable: ")
    assert "connection" in str(refused.value).lower()
    with FakeGrafana(GRAFANA_TOKEN, [], [{"uid": "p", "name": "P", "type": "prometheus"}]) as grafana:
        grafana.delay(1.0)
        async with PrometheusClient.through_grafana(grafana.url, GRAFANA_TOKEN, "p", timeout=0.2) as client:
            with pytest.raises(ToolFailed) as slow:
                await client.query("up", T0)
        grafana.delay(0)
    assert str(slow.value).endswith("unreachable: timed out after 0.2s") and GRAFANA_TOKEN not in str(slow.value)


# --- Grafana -----------------------------------------------------------------------------------------

DASHBOARDS = [
    {"uid": "pay-overview", "title": "Payments overview", "tags": ["payments", "slo"], "panels": [
        {"type": "timeseries", "title": "Error ratio", "datasource": {"type": "prometheus", "uid": "prom-main"},
         "targets": [{"refId": "A", "expr": 'sum(rate(http_requests_total{service="payments",code=~"5.."}[1m]))'},
                     {"refId": "B", "expr": 'sum(rate(http_requests_total{service="payments"}[1m]))'}]},
        {"type": "row", "title": "Logs", "collapsed": True, "panels": [
            {"type": "logs", "title": "Errors", "datasource": {"type": "datasource", "uid": "-- Mixed --"},
             "targets": [{"refId": "A", "datasource": {"type": "loki", "uid": "loki-main"},
                          "expr": '{service="payments"} |= "error"'}]},
        ]},
        {"type": "text", "title": "Runbook", "options": {"content": "..."}},
    ]},
    {"uid": "ledger", "title": "Ledger", "tags": ["ledger"], "panels": []},
    {"uid": "pay-db", "title": "Payments database", "tags": ["payments"], "rows": [
        {"title": "Pool", "panels": [{"type": "graph", "title": "Pool in use", "datasource": None,
                                      "targets": [{"expr": "db_pool_connections_in_use"}]}]}]},
]
DATASOURCES = [
    {"uid": "loki-main", "name": "Loki", "type": "loki", "url": "http://loki:3100"},
    {"uid": "prom-old", "name": "Old Prometheus", "type": "prometheus", "url": "http://old:9090"},
    {"uid": "prom-main", "name": "Prometheus", "type": "prometheus", "url": "http://prom:9090", "isDefault": True},
]


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana(GRAFANA_TOKEN, DASHBOARDS, DATASOURCES) as fake:
        yield fake


async def test_grafana_search_by_title_and_tag(grafana: FakeGrafana) -> None:
    async with GrafanaClient(grafana.url, GRAFANA_TOKEN) as client:
        by_title = await client.search_dashboards("payments")
        by_tag = await client.search_dashboards(tag="slo")
        everything = await client.search_dashboards()
    assert [d.uid for d in by_title] == ["pay-db", "pay-overview"]  # by title, as Grafana sorts
    assert [d.uid for d in by_tag] == ["pay-overview"] and by_tag[0].tags == ["payments", "slo"]
    assert by_tag[0].url == f"{grafana.url}/d/pay-overview/payments-overview"
    assert len(everything) == 3 and only_reads(grafana.requests)


async def test_grafana_dashboard_panels_queries_and_datasources(grafana: FakeGrafana) -> None:
    async with GrafanaClient(grafana.url, GRAFANA_TOKEN) as client:
        overview = await client.dashboard("pay-overview")
        legacy = await client.dashboard("pay-db")
    assert overview.title == "Payments overview" and overview.tags == ["payments", "slo"]
    panels = {p.title: p for p in overview.panels}
    assert list(panels) == ["Error ratio", "Errors", "Runbook"]  # the row's nested panel is included
    assert panels["Error ratio"].datasource_uid == "prom-main" and len(panels["Error ratio"].queries) == 2
    assert (panels["Errors"].datasource_uid, panels["Errors"].datasource_type) == ("loki-main", "loki")
    assert panels["Errors"].queries == ['{service="payments"} |= "error"'] and panels["Runbook"].queries == []
    assert [p.queries for p in legacy.panels] == [["db_pool_connections_in_use"]]
    assert legacy.panels[0].datasource_uid is None


async def test_grafana_default_prometheus_datasource(grafana: FakeGrafana) -> None:
    async with GrafanaClient(grafana.url, GRAFANA_TOKEN) as client:
        assert await client.prometheus_datasource_uid() == "prom-main"
    with FakeGrafana(GRAFANA_TOKEN, [], DATASOURCES[:2]) as no_default:
        async with GrafanaClient(no_default.url, GRAFANA_TOKEN) as client:
            assert await client.prometheus_datasource_uid() == "prom-old"
    with FakeGrafana(GRAFANA_TOKEN, [], DATASOURCES[:1]) as loki_only:
        async with GrafanaClient(loki_only.url, GRAFANA_TOKEN) as client:
            assert await client.prometheus_datasource_uid() is None


async def test_grafana_errors_use_grafana_message_and_hide_the_token(grafana: FakeGrafana) -> None:
    async with GrafanaClient(grafana.url, GRAFANA_TOKEN) as client:
        with pytest.raises(ToolFailed) as missing:
            await client.dashboard("nope")
        grafana.fail_next(500, {"message": f"token {GRAFANA_TOKEN} rejected by upstream"})
        with pytest.raises(ToolFailed) as echoed:
            await client.search_dashboards()
    async with GrafanaClient(grafana.url, "wrong-token") as client:
        with pytest.raises(ToolFailed) as unauthorized:
            await client.search_dashboards()
    assert str(missing.value) == "Grafana: Dashboard not found (HTTP 404)"
    assert str(unauthorized.value) == "Grafana: Unauthorized (HTTP 401)"
    assert str(echoed.value) == "Grafana: token *** rejected by upstream (HTTP 500)"
    assert only_reads(grafana.requests)


# --- Loki --------------------------------------------------------------------------------------------


def _loki_entries() -> list[tuple[datetime, dict[str, str], str]]:
    api, worker = {"service": "payments", "pod": "payments-api-1"}, {"service": "payments", "pod": "payments-worker"}
    return [
        (T0 + timedelta(seconds=3), api, "level=error msg=\"db timeout\" took=5s"),
        (T0 + timedelta(seconds=1), {**api, "level": "warn"}, "retrying charge"),
        (T0 + timedelta(seconds=2), worker, "ERROR: charge failed for order 42"),
        (T0 + timedelta(seconds=4), {**worker, "detected_level": "info"}, "job done"),
        (T0 + timedelta(seconds=5), {"service": "ledger", "pod": "ledger-0"}, "ERROR ledger down"),
        (T0 + timedelta(hours=2), api, "level=error after the window"),
    ]


async def test_loki_parses_streams_labels_and_levels() -> None:
    with FakeLoki(_loki_entries()) as loki:
        async with LokiClient(loki.url) as client:
            lines = await client.query_range('{service="payments"}', T0, T0 + timedelta(hours=1))
        requests = loki.requests
    assert [line.message for line in lines] == ["retrying charge", "ERROR: charge failed for order 42",
                                                'level=error msg="db timeout" took=5s', "job done"]
    assert [line.level for line in lines] == ["warn", "error", "error", "info"]
    assert lines[2].labels == {"service": "payments", "pod": "payments-api-1"} and lines[2].source == "loki"
    assert lines[0].at == T0 + timedelta(seconds=1) and lines[0].query == '{service="payments"}'
    assert requests == [("GET", "/loki/api/v1/query_range")]


async def test_loki_selectors_and_line_filters() -> None:
    window = (T0, T0 + timedelta(hours=1))
    queries = {
        '{service=~"pay.*", pod!="payments-worker"} |~ "(?i)DB|charge"': ["retrying charge",
                                                                          'level=error msg="db timeout" took=5s'],
        '{service!~"ledger", service=~".+"} |= "charge" != "retrying"': ["ERROR: charge failed for order 42"],
        '{pod=~"ledger-.*"} !~ "^job"': ["ERROR ledger down"],
    }
    with FakeLoki(_loki_entries()) as loki:
        async with LokiClient(loki.url) as client:
            for logql, expected in queries.items():
                assert [line.message for line in await client.query_range(logql, *window)] == expected, logql
        assert only_reads(loki.requests)


async def test_loki_pages_forward_without_losing_lines_that_share_a_timestamp() -> None:
    """12,000 lines, 300 of which share one timestamp across the first page boundary."""
    labels = {"service": "payments"}
    entries = [(T0 + timedelta(milliseconds=i), labels, f"line {i}") for i in range(4_900)]
    entries += [(T0 + timedelta(seconds=5), labels, f"same-time {i}") for i in range(300)]
    entries += [(T0 + timedelta(seconds=6, milliseconds=i), labels, f"late {i}") for i in range(6_800)]
    with FakeLoki(entries) as loki:
        async with LokiClient(loki.url) as client:
            lines = await client.query_range('{service="payments"}', T0, T0 + timedelta(minutes=1), limit=5000)
            capped = await client.query_range('{service="payments"}', T0, T0 + timedelta(minutes=1), limit=5000,
                                              max_lines=7_000)
        pages = len(loki.requests)
    assert len(lines) == 12_000 and len({line.message for line in lines}) == 12_000
    assert [line.at for line in lines] == sorted(line.at for line in lines)
    assert lines[4_900].message.startswith("same-time") and lines[-1].message == "late 6799"
    assert len(capped) == 7_000 and capped[-1].message == lines[6_999].message
    assert pages == 3 + 2  # three pages for everything, two for the first 7,000


async def test_loki_serves_100k_entries_quickly() -> None:
    entries = [(T0 + timedelta(milliseconds=i), {"service": "payments", "pod": f"p{i % 3}"},
                f"request {i} {'failed' if i % 1000 == 0 else 'ok'}") for i in range(100_000)]
    with FakeLoki(entries) as loki:
        async with LokiClient(loki.url) as client:
            started = time.monotonic()
            failed = await client.query_range('{service="payments"} |= "failed"', T0, T0 + timedelta(hours=1))
            narrow = await client.query_range('{pod="p1"}', T0 + timedelta(seconds=50), T0 + timedelta(seconds=51))
            elapsed = time.monotonic() - started
    assert len(failed) == 100 and failed[1].message == "request 1000 failed"
    assert len(narrow) == 333 and all(line.labels["pod"] == "p1" for line in narrow)
    assert elapsed < 10


async def test_loki_errors_carry_lokis_text() -> None:
    with FakeLoki(_loki_entries()) as loki:
        async with LokiClient(loki.url, headers={"X-Scope-OrgID": "team-a"}) as client:
            with pytest.raises(ToolFailed) as syntax:
                await client.query_range('{service="payments"', T0, T0 + timedelta(hours=1))
            with pytest.raises(ToolFailed) as empty_matcher:
                await client.query_range('{service=~".*"}', T0, T0 + timedelta(hours=1))
            loki.fail_next(429, "too many outstanding requests")
            with pytest.raises(ToolFailed) as busy:
                await client.query_range('{service="payments"}', T0, T0 + timedelta(hours=1))
    assert str(syntax.value) == "Loki: parse error at line 1, col 20: syntax error: unexpected $end, expecting }"
    assert str(empty_matcher.value).startswith("Loki: parse error : queries require at least one regexp")
    assert str(busy.value) == "Loki: too many outstanding requests"


async def test_loki_logs_escapes_the_pattern_for_logql() -> None:
    entries = [(T0 + timedelta(seconds=i), {"service": "payments"}, line) for i, line in enumerate(
        ['upstream said "Timeout\\42"', 'upstream said "timeout\\7"', "upstream said timeout", "all fine"])]
    with FakeLoki(entries) as loki:
        async with LokiClient(loki.url) as client:
            source = LokiLogs(client)
            query = LogQuery(service="payments", pattern=r'"timeout\\\d+"')
            lines = await source.search(query, T0, T0 + timedelta(minutes=1))
    assert [line.message for line in lines] == ['upstream said "Timeout\\42"', 'upstream said "timeout\\7"']
    assert lines[0].query == source.logql(query) == r'{service="payments"} |~ "(?i)\"timeout\\\\\\d+\""'


# --- Datadog -----------------------------------------------------------------------------------------


def _datadog_logs(count: int) -> list[dict[str, object]]:
    statuses = ["info", "error", "warn"]
    return [{"timestamp": T0 + timedelta(seconds=i), "message": f"charge {i} {statuses[i % 3]}",
             "status": statuses[i % 3], "service": "payments" if i % 5 else "ledger", "host": f"ip-10-0-0-{i % 4}",
             "tags": ["env:prod", f"version:{'v2' if i > 1000 else 'v1'}", "canary"]} for i in range(count)]


async def test_datadog_search_follows_cursors_and_parses_logs() -> None:
    with FakeDatadog(DD_API_KEY, DD_APP_KEY, _datadog_logs(12_000)) as datadog:
        async with DatadogLogsClient(datadog.url, DD_API_KEY, DD_APP_KEY) as client:
            lines = await client.search("service:payments -status:info", T0, T0 + timedelta(hours=4))
        requests = datadog.requests
    expected = [i for i in range(12_000) if i % 5 and i % 3]
    assert len(lines) == len(expected) == 6400 and [line.message.split()[1] for line in lines] == list(
        map(str, expected))
    first = lines[0]
    assert first.level == "error" and first.source == "datadog" and first.at == T0 + timedelta(seconds=1)
    assert first.labels == {"service": "payments", "host": "ip-10-0-0-1", "env": "prod", "version": "v1",
                            "canary": ""}
    assert first.query == "service:payments -status:info"
    assert requests == [("POST", SEARCH_PATH)] * 2  # 6,400 lines at 5,000 a page


async def test_datadog_query_syntax_subset() -> None:
    logs = [
        {"timestamp": T0, "message": "Payment declined: card expired", "status": "warn", "service": "payments",
         "host": "a", "tags": ["env:prod"]},
        {"timestamp": T0 + timedelta(seconds=1), "message": "DB connection timeout", "status": "error",
         "service": "payments", "host": "b", "tags": ["env:staging"]},
        {"timestamp": T0 + timedelta(seconds=2), "message": "ledger write timeout", "status": "error",
         "service": "ledger", "host": "a", "tags": ["env:prod"]},
    ]
    cases = {
        "*": 3, "timeout": 2, '"card expired"': 1, "env:prod status:error": 1, "host:a -service:ledger": 1,
        "(status:warn OR service:ledger) AND env:prod": 2, "NOT timeout": 1, "service:pay*": 2, "time*": 2,
    }
    with FakeDatadog(DD_API_KEY, DD_APP_KEY, logs) as datadog:
        async with DatadogLogsClient(datadog.url, DD_API_KEY, DD_APP_KEY) as client:
            found = {query: len(await client.search(query, T0, T0 + timedelta(minutes=1))) for query in cases}
            with pytest.raises(ToolFailed) as invalid:
                await client.search("(status:error", T0, T0 + timedelta(minutes=1))
    assert found == cases
    assert str(invalid.value) == "Datadog: Invalid query: missing closing parenthesis (HTTP 400)"


async def test_datadog_waits_out_rate_limits_then_gives_up() -> None:
    with FakeDatadog(DD_API_KEY, DD_APP_KEY, _datadog_logs(10)) as datadog:
        async with DatadogLogsClient(datadog.url, DD_API_KEY, DD_APP_KEY) as client:
            datadog.ratelimit_next(2, reset_seconds=0.25)
            started = time.monotonic()
            lines = await client.search("*", T0, T0 + timedelta(hours=1))
            waited = time.monotonic() - started
            datadog.ratelimit_next(4, reset_seconds=0)
            with pytest.raises(ToolFailed) as exhausted:
                await client.search("*", T0, T0 + timedelta(hours=1))
        requests = datadog.requests
    assert len(lines) == 10 and waited >= 0.5
    assert str(exhausted.value) == "Datadog: rate limited (HTTP 429) after 3 retries"
    assert len(requests) == 3 + 4 and {r for r in requests} == {("POST", SEARCH_PATH)}


async def test_datadog_wrong_keys_and_echoed_keys_never_reach_messages() -> None:
    with FakeDatadog(DD_API_KEY, DD_APP_KEY, _datadog_logs(3)) as datadog:
        async with DatadogLogsClient(datadog.url, DD_API_KEY, "wrong-app-key-000") as client:
            with pytest.raises(ToolFailed) as forbidden:
                await client.search("*", T0, T0 + timedelta(hours=1))
        datadog.fail_next(400, {"errors": [{"title": "Bad Request", "detail": f"unknown key {DD_API_KEY}"}]})
        async with DatadogLogsClient(datadog.url, DD_API_KEY, DD_APP_KEY) as client:
            with pytest.raises(ToolFailed) as echoed:
                await client.search("*", T0, T0 + timedelta(hours=1))
    assert str(forbidden.value) == "Datadog: Forbidden (HTTP 403)"
    assert str(echoed.value) == "Datadog: unknown key *** (HTTP 400)"


async def test_datadog_logs_filters_by_pattern_locally_and_cites_it() -> None:
    with FakeDatadog(DD_API_KEY, DD_APP_KEY, _datadog_logs(30)) as datadog:
        async with DatadogLogsClient(datadog.url, DD_API_KEY, DD_APP_KEY) as client:
            lines = await DatadogLogs(client).search(LogQuery(service="ledger", pattern=r"CHARGE \d+ (error|warn)"),
                                                     T0, T0 + timedelta(hours=1))
    assert [line.message for line in lines] == ["charge 5 warn", "charge 10 error", "charge 20 warn",
                                                "charge 25 error"]
    assert lines[0].query == r"service:ledger | grep -iP 'CHARGE \d+ (error|warn)'"


# --- Kubernetes --------------------------------------------------------------------------------------


def _cluster() -> dict[str, list[dict[str, Any]]]:
    """payments rolled out revision 7 at T0+5m, scaled, one pod got OOM-killed, a node went NotReady."""
    labels = {"app.kubernetes.io/name": "payments-svc", "app": "payments"}
    rs_old = k8s_replicaset("payments", "prod", revision=6, image="registry/payments:v2.13.1",
                            created=T0 - timedelta(days=3), labels=labels)
    rs_new = k8s_replicaset("payments", "prod", revision=7, image="registry/payments:v2.14.0",
                            created=T0 + timedelta(minutes=5), labels=labels, change_cause="deploy PR #812",
                            replicas=3)
    new_rs_name = rs_new["metadata"]["name"]
    return {
        "deployments": [
            k8s_deployment("payments", "prod", image="registry/payments:v2.14.0", revision=7, labels=labels,
                           created=T0 - timedelta(days=30), ready=2),
            k8s_deployment("ledger", "prod", image="registry/ledger:v1.0.0", revision=1,
                           created=T0 - timedelta(days=30)),
        ],
        "replicasets": [
            rs_new, rs_old,
            k8s_replicaset("payments", "prod", revision=5, image="registry/payments:v2.13.0",
                           created=T0 - timedelta(days=9), labels=labels),
            k8s_replicaset("ledger", "prod", revision=1, image="registry/ledger:v1.0.0",
                           created=T0 - timedelta(days=30)),
            k8s_replicaset("payments", "staging", revision=3, image="registry/payments:v2.15.0-rc1",
                           created=T0 + timedelta(minutes=1)),
        ],
        "pods": [
            k8s_pod(f"{new_rs_name}-abcde", "prod", labels={"app": "payments", "tier": "api"},
                    image="registry/payments:v2.14.0", started=T0 + timedelta(minutes=5), restarts=2,
                    last_termination=("OOMKilled", T0 + timedelta(minutes=12)), sidecars=("istio-proxy",)),
            k8s_pod(f"{new_rs_name}-fghij", "prod", labels={"app": "payments", "tier": "worker"},
                    image="registry/payments:v2.14.0", started=T0 + timedelta(minutes=5), node="node-2"),
            k8s_pod("ledger-0", "prod", labels={"app": "ledger"}, image="registry/ledger:v1.0.0",
                    started=T0 - timedelta(days=1)),
        ],
        "events": [
            k8s_event("prod", reason="ScalingReplicaSet", kind="Deployment", name="payments",
                      at=T0 + timedelta(minutes=5), message=f"Scaled up replica set {new_rs_name} to 3"),
            k8s_event("prod", reason="BackOff", kind="Pod", name=f"{new_rs_name}-abcde", type="Warning", count=4,
                      at=T0 + timedelta(minutes=14), first=T0 + timedelta(minutes=12),
                      message="Back-off restarting failed container"),
            k8s_event("default", reason="NodeNotReady", kind="Node", name="node-2", at=T0 + timedelta(minutes=20),
                      message="Node node-2 status is now: NodeNotReady"),
            k8s_event("prod", reason="Pulled", kind="Pod", name="ledger-0", at=T0 + timedelta(minutes=6),
                      message="Successfully pulled image"),
            k8s_event("prod", reason="FailedMount", kind="Pod", name="ledger-0", type="Warning",
                      at=T0 - timedelta(hours=3), message="MountVolume.SetUp failed"),
        ],
        "nodes": [
            k8s_node("node-1", created=T0 - timedelta(days=90),
                     conditions={"Ready": ("True", T0 - timedelta(days=2)),
                                 "MemoryPressure": ("False", T0 - timedelta(days=2))}),
            k8s_node("node-2", created=T0 - timedelta(days=90), unschedulable=True,
                     conditions={"Ready": ("Unknown", T0 + timedelta(minutes=20))}),
        ],
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, Path]]:
    objects = _cluster()
    pod = objects["pods"][0]["metadata"]["name"]
    logs = {("prod", pod): [(T0 + timedelta(minutes=10, microseconds=i * 250_001), f"level=info request {i}")
                            for i in range(4)]
            + [(T0 + timedelta(minutes=11, microseconds=500), "ERROR payment gateway timeout")],
            ("prod", pod, "istio-proxy"): [(T0 + timedelta(minutes=10, milliseconds=300),
                                            '[2024-05-01T10:10:00.300Z] "POST /charge" 504 UT upstream timeout')]}
    with FakeKubernetes(objects, logs, token=K8S_TOKEN) as fake:
        yield fake, fake.write_kubeconfig(tmp_path / "kubeconfig")


async def test_kubernetes_reads_pods_deployments_nodes_and_events(cluster: tuple[FakeKubernetes, Path]) -> None:
    fake, kubeconfig = cluster
    async with KubernetesClient(kubeconfig) as client:
        pods = await client.pods("prod")
        deployments = await client.deployments("prod", label_selector="app=payments")
        nodes = await client.nodes()
        events = await client.events("prod")
        all_events = await client.events()
    oom = next(p for p in pods if p.restarts)
    assert len(pods) == 3 and oom.last_termination_reason == "OOMKilled" and oom.restarts == 2
    assert oom.node == "node-1" and oom.phase == "Running" and oom.start_time == T0 + timedelta(minutes=5)
    [payments] = deployments
    assert (payments.name, payments.revision, payments.replicas, payments.ready_replicas) == ("payments", 7, 3, 2)
    assert payments.images == ["registry/payments:v2.14.0"] and payments.labels["app"] == "payments"
    node_2 = next(n for n in nodes if n.name == "node-2")
    assert node_2.unschedulable and [(c.type, c.status) for c in node_2.conditions] == [("Ready", "Unknown")]
    assert node_2.conditions[0].last_transition_time == T0 + timedelta(minutes=20)
    backoff = next(e for e in events if e.reason == "BackOff")
    assert (backoff.type, backoff.object_kind, backoff.count, backoff.at) == ("Warning", "Pod", 4,
                                                                              T0 + timedelta(minutes=14))
    assert len(events) == 4 and len(all_events) == 5
    assert only_reads(fake.requests) and ("GET", "/api/v1/events") in fake.requests


async def test_kubernetes_label_selectors(cluster: tuple[FakeKubernetes, Path]) -> None:
    fake, kubeconfig = cluster
    async with KubernetesClient(kubeconfig) as client:
        both = await client.pods("prod", label_selector="app in (payments, ledger)")
        api = await client.pods("prod", label_selector="app=payments,tier=api")
        not_worker = await client.pods("prod", label_selector="app==payments,tier!=worker")
        untiered = await client.pods("prod", label_selector="!tier")
        elsewhere = await client.pods("staging")
    assert len(both) == 3 and [p.labels["tier"] for p in api] == ["api"]
    assert [p.name for p in not_worker] == [p.name for p in api]
    assert [p.name for p in untiered] == ["ledger-0"] and elsewhere == []
    assert only_reads(fake.requests)


async def test_kubernetes_rollout_history(cluster: tuple[FakeKubernetes, Path]) -> None:
    _fake, kubeconfig = cluster
    async with KubernetesClient(kubeconfig) as client:
        history = await client.rollout_history("prod", "payments")
    assert [r.revision for r in history] == [5, 6, 7]  # staging's and ledger's ReplicaSets are not payments' here
    latest = history[-1]
    assert latest.images == ["registry/payments:v2.14.0"] and latest.change_cause == "deploy PR #812"
    assert latest.created == T0 + timedelta(minutes=5) and latest.replicas == 3 and history[0].replicas == 0
    assert latest.replicaset.startswith("payments-")


async def test_kubernetes_pod_logs(cluster: tuple[FakeKubernetes, Path]) -> None:
    fake, kubeconfig = cluster
    pod = _cluster()["pods"][0]["metadata"]["name"]
    async with KubernetesClient(kubeconfig) as client:
        everything = await client.pod_logs("prod", pod, container="payments")
        tail = await client.pod_logs("prod", pod, tail_lines=2, container="payments")
        since = await client.pod_logs("prod", pod, since=T0 + timedelta(minutes=10, microseconds=500_000),
                                      container="payments")
        with pytest.raises(ToolFailed) as missing:
            await client.pod_logs("prod", "ghost")
        with pytest.raises(ToolFailed) as ambiguous:
            await client.pod_logs("prod", pod)
    assert [line.at for line in everything][:2] == [T0 + timedelta(minutes=10),
                                                     T0 + timedelta(minutes=10, microseconds=250_001)]
    assert everything[-1].message == "ERROR payment gateway timeout" and everything[-1].level == "error"
    assert everything[0].labels == {"namespace": "prod", "pod": pod, "container": "payments"}
    assert everything[0].source == "kubernetes" and everything[0].level == "info"
    assert everything[0].query == f"kubectl logs -n prod {pod} --timestamps -c payments"
    assert [line.message for line in tail] == ["level=info request 3", "ERROR payment gateway timeout"]
    assert [line.message for line in since] == ["level=info request 2", "level=info request 3",
                                                "ERROR payment gateway timeout"]
    assert str(missing.value) == 'Kubernetes: 404 Not Found: pods "ghost" not found'
    assert str(ambiguous.value) == (f"Kubernetes: 400 Bad Request: a container name must be specified for pod {pod}, "
                                    "choose one of: [payments istio-proxy]")
    assert only_reads(fake.requests)


async def test_kubernetes_change_events(cluster: tuple[FakeKubernetes, Path]) -> None:
    fake, kubeconfig = cluster
    async with KubernetesClient(kubeconfig) as client:
        prod = await client.change_events("prod", T0, T0 + timedelta(hours=1))
        everywhere = await client.change_events(None, T0, T0 + timedelta(hours=1))
        before = await client.change_events("prod", T0 - timedelta(hours=1), T0)
    assert [(c.kind, c.subject) for c in prod] == [
        (ChangeKind.DEPLOY, "payments"), (ChangeKind.SCALE, "payments"), (ChangeKind.OTHER, prod[2].subject)]
    deploy, scale, backoff = prod
    assert deploy.at == T0 + timedelta(minutes=5) and deploy.component == "payments-svc"
    assert deploy.description == ("payments rolled out revision 7 (image registry/payments:v2.14.0, was "
                                  "registry/payments:v2.13.1; change-cause deploy PR #812)")
    assert deploy.query == "kubectl rollout history deployment/payments -n prod --revision=7"
    assert scale.component == "payments-svc" and "Scaled up replica set" in scale.description
    assert backoff.at == T0 + timedelta(minutes=12) and backoff.component == "payments-svc"
    assert backoff.description.endswith("Back-off restarting failed container (x4)")
    assert backoff.query.startswith("kubectl get events -n prod --field-selector reason=BackOff,")
    kinds = [(c.kind, c.subject) for c in everywhere]
    assert (ChangeKind.NODE, "node-2") in kinds and (ChangeKind.DEPLOY, "payments") in kinds
    assert sum(kind == ChangeKind.DEPLOY for kind, _ in kinds) == 2  # prod's revision 7 and staging's revision 3
    assert before == []
    assert only_reads(fake.requests)


async def test_pod_logs_source_filters_by_pattern_and_window(cluster: tuple[FakeKubernetes, Path]) -> None:
    fake, kubeconfig = cluster
    async with KubernetesClient(kubeconfig) as client:
        source = PodLogs(client, "prod", label_selector="app={service},tier=api")
        lines = await source.search(LogQuery(service="payments", pattern="request [12]|TIMEOUT"),
                                    T0 + timedelta(minutes=10), T0 + timedelta(minutes=10, seconds=1))
    assert [(line.labels["container"], line.message.split()[-1]) for line in lines] == [
        ("payments", "1"), ("istio-proxy", "timeout"), ("payments", "2")]  # the app and its sidecar, by time
    pod = lines[0].labels["pod"]
    assert lines[0].query == (f"kubectl logs -n prod {pod} --timestamps -c payments --since-time=2024-05-01T10:10:00Z"
                              " | grep -iP 'request [12]|TIMEOUT'")
    assert ("GET", "/api/v1/namespaces/prod/pods") in fake.requests and only_reads(fake.requests)


async def test_kubernetes_failures(cluster: tuple[FakeKubernetes, Path], tmp_path: Path) -> None:
    fake, kubeconfig = cluster
    wrong = kubeconfig.read_text().replace(K8S_TOKEN, "not-the-token")
    (tmp_path / "wrong").write_text(wrong)
    async with KubernetesClient(tmp_path / "wrong") as client:
        with pytest.raises(ToolFailed) as unauthorized:
            await client.pods("prod")
    (tmp_path / "gone").write_text(kubeconfig.read_text().replace(fake.url, closed_port_url()))
    async with KubernetesClient(tmp_path / "gone", timeout=2) as client:
        with pytest.raises(ToolFailed) as unreachable:
            await client.nodes()
    with pytest.raises(ToolUnavailable):
        KubernetesClient(tmp_path / "missing-kubeconfig")
    (tmp_path / "broken").write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    with pytest.raises(ToolFailed, match=r"kubeconfig .* unusable: Invalid kube-config file"):
        KubernetesClient(tmp_path / "broken")
    assert str(unauthorized.value) == "Kubernetes: 401 Unauthorized: Unauthorized"
    assert "not-the-token" not in str(unauthorized.value)
    assert "unreachable: connection refused" in str(unreachable.value)


def test_fake_kubernetes_refuses_and_records_writes(cluster: tuple[FakeKubernetes, Path]) -> None:
    fake, _ = cluster
    answer = httpx.delete(f"{fake.url}/api/v1/namespaces/prod/pods/ledger-0",
                          headers={"Authorization": f"Bearer {K8S_TOKEN}"})
    assert answer.status_code == 405 and answer.json()["reason"] == "MethodNotAllowed"
    assert fake.requests == [("DELETE", "/api/v1/namespaces/prod/pods/ledger-0")]
    assert not only_reads(fake.requests)


# --- every HTTP client: unreachable servers -------------------------------------------------------------


@pytest.mark.parametrize("service", ["Grafana", "Loki", "Datadog"])
async def test_unreachable_servers_fail_in_one_line(service: str) -> None:
    url = closed_port_url()
    with pytest.raises(ToolFailed) as failure:
        if service == "Grafana":
            async with GrafanaClient(url, GRAFANA_TOKEN) as grafana:
                await grafana.search_dashboards()
        elif service == "Loki":
            async with LokiClient(url) as loki:
                await loki.query_range('{service="x"}', T0, T0 + timedelta(minutes=1))
        else:
            async with DatadogLogsClient(url, DD_API_KEY, DD_APP_KEY) as datadog:
                await datadog.search("*", T0, T0 + timedelta(minutes=1))
    message = str(failure.value)
    assert message.startswith(f"{service} at {url} unreachable: ") and "\n" not in message
    assert GRAFANA_TOKEN not in message and DD_API_KEY not in message


def test_line_level_and_log_query_validation() -> None:
    assert line_level('ts=1 level=WARN msg="slow"') == "warn"
    assert line_level('{"level":"error","msg":"boom"}') == "error"
    assert line_level("2024-05-01 10:00:00,123 ERROR [main] boom") == "error"
    assert line_level("[WARNING] disk 91%") == "warn"
    assert line_level("user errored out") is None
    with pytest.raises(ValueError, match="pattern"):
        LogQuery(service="payments", pattern="(unclosed")


def test_fake_loki_wire_format_backward_and_grouped_by_stream() -> None:
    """What Loki itself answers, for code that reads the fake without LokiClient (newest first, by stream)."""
    with FakeLoki(_loki_entries()) as loki:
        answer = httpx.get(f"{loki.url}/loki/api/v1/query_range", params={
            "query": '{service="payments"}', "start": str(to_ns(T0)), "end": str(to_ns(T0 + timedelta(hours=1))),
            "limit": "3", "direction": "backward"}).json()
    assert answer["status"] == "success" and answer["data"]["resultType"] == "streams"
    streams = {s["stream"].get("pod", "") + s["stream"].get("detected_level", ""): s["values"]
               for s in answer["data"]["result"]}
    assert streams == {
        "payments-workerinfo": [[str(to_ns(T0 + timedelta(seconds=4))), "job done"]],
        "payments-api-1": [[str(to_ns(T0 + timedelta(seconds=3))), 'level=error msg="db timeout" took=5s']],
        "payments-worker": [[str(to_ns(T0 + timedelta(seconds=2))), "ERROR: charge failed for order 42"]],
    }
