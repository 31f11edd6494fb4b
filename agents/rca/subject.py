"""Which services an investigation is about, when nobody named one the team config knows.

In order: the alerts firing around the reference time (Prometheus' `/api/v1/alerts` and the `ALERTS` series,
read by their service/app/job/deployment/pod labels), then the words of the incident's title, description
and the request matched against the cluster's workloads and their app labels. "Users cannot log in" names no
service; the `auth` alert firing at the time does.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta
from typing import Any

from app.integrations.cluster import APP_LABELS, Cluster
from app.integrations.prometheus import PrometheusClient
from app.integrations.telemetry import ToolFailed

ALERT_LABELS = ("service", "app", "app_kubernetes_io_name", "deployment", "statefulset", "daemonset", "job_name",
                "container", "job", "workload", "destination_service", "pod")
ALERT_BEFORE, ALERT_AFTER = timedelta(minutes=45), timedelta(minutes=30)
# Words that say what kind of thing a name is, not which one: "checkout api", "payments-service".
GENERIC = frozenset({"api", "service", "svc", "server", "backend", "frontend", "web", "app", "worker", "gateway",
                     "http", "grpc", "v1", "v2", "prod", "production", "staging"})
MAX_SUBJECTS = 3
_WORD = re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]|[a-z0-9]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _name_matches(name: str, said: set[str], pairs: set[str]) -> bool:
    """`payments` in "payment failures"; `checkout-api` in "checkout is down"; `user-service` in "user service"."""
    name = name.lower()
    if _singular(name) in {_singular(w) for w in said} or name in pairs:
        return True
    tokens = [t for t in name.split("-") if t]
    core = [t for t in tokens if t not in GENERIC and not t.isdigit()]
    return bool(core) and len(core) < len(tokens) and all(_singular(t) in {_singular(w) for w in said} for t in core)


def mentioned(cluster: Cluster, text: str) -> list[str]:
    """Workloads whose name or app label the text uses, longest name first (`orders-worker` before `orders`)."""
    said = set(words(text))
    pairs = {f"{a}-{b}" for a, b in zip(words(text), words(text)[1:], strict=False)}
    found: list[str] = []
    for workload in sorted(cluster.workloads.values(), key=lambda w: -len(w.name)):
        names = {workload.name, *(workload.labels[k] for k in APP_LABELS if workload.labels.get(k))}
        if any(_name_matches(n, said, pairs) for n in names) and workload.name not in found:
            found.append(workload.name)
    return found


async def alerting(prometheus: PrometheusClient, cluster: Cluster | None, at: datetime) -> list[str]:
    """Services named by the alerts firing from shortly before `at` to shortly after it."""
    labels: list[dict[str, str]] = []
    with contextlib.suppress(ToolFailed):  # a proxy without the endpoint: the ALERTS series may still say
        labels += [dict(a.get("labels") or {}) for a in await prometheus.alerts() if a.get("state") == "firing"
                   and _active_near(a, at)]
    series = await prometheus.query_range('ALERTS{alertstate="firing"}', at - ALERT_BEFORE, at + ALERT_AFTER, 60)
    labels += [s.labels for s in series if s.samples]
    return _services_in(labels, cluster)


def _active_near(alert: dict[str, Any], at: datetime) -> bool:
    active = str(alert.get("activeAt") or "")
    try:
        since = datetime.fromisoformat(active.replace("Z", "+00:00"))
    except ValueError:
        return True
    return since <= at + ALERT_AFTER


def _services_in(alerts: list[dict[str, str]], cluster: Cluster | None) -> list[str]:
    found: list[str] = []
    severity = {"critical": 0, "page": 0, "error": 1, "warning": 2}
    for labels in sorted(alerts, key=lambda a: severity.get(a.get("severity", ""), 3)):
        for key in ALERT_LABELS:
            value = labels.get(key)
            if not value:
                continue
            if key == "pod" and cluster is not None:
                value = cluster.owner_of_pod(labels.get("namespace", ""), value) or ""
            if cluster is not None and not cluster.named(value):
                continue  # a job label like "kubernetes-pods" names a scrape job, not a service
            if value and value not in found:
                found.append(value)
            break
    return found[:MAX_SUBJECTS]
