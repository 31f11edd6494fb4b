"""What an analysis looks at: the alerting service, what it depends on (two hops), where it runs, cluster DNS.

The graph comes from what the cluster and the telemetry say, not from configuration: hosts named in a
workload's environment, arguments and ConfigMaps (`postgres.db.svc.cluster.local:5432`), Services and
StatefulSets in its namespace, peers in its client-side metric labels and hosts in its logs, the nodes its pods
run on. Each component carries the Prometheus matchers that find its series.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.rca.discovery import regex_value
from app.integrations.cluster import Cluster, Workload

MAX_HOPS = 2
MAX_COMPONENTS = 20
_FLAGS = re.compile(r"(?:^|-)(?:flagd?|feature-?flags?|flags|toggles?|unleash|flipt)(?:-|$)")
_DNS = re.compile(r"(?:^|-)(?:core|kube-?)?dns(?:-|$)")


@dataclass
class Component:
    name: str
    role: str  # service, dependency, node, dns
    distance: int  # hops from the alerting service
    via: str  # how it came into scope: "subject", "env", "peer label", "log", "namespace", "node", "dns"
    namespace: str | None = None
    workload: Workload | None = None
    pods: set[str] = field(default_factory=set)
    matchers: list[str] = field(default_factory=list)
    ip: str | None = None


@dataclass
class Scope:
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def subjects(self) -> list[Component]:
        return [c for c in self.components.values() if c.distance == 0]

    def add(self, component: Component) -> Component | None:
        known = self.components.get(component.name)
        if known is not None:
            if component.distance < known.distance:
                known.distance, known.via = component.distance, component.via
            return None
        if len(self.components) >= MAX_COMPONENTS:
            return None
        self.components[component.name] = component
        return component

    def named_after(self, name: str, namespace: str | None) -> list[Component]:
        """Workloads in scope an object is named after, nearest the alerting service first: Helm charts and
        kustomizations name a release's objects `<workload>-<part>` (`accounts-db-credentials`, `users-db-migrate`).
        """
        found = [c for c in self.components.values() if c.workload is not None and c.name != name
                 and name.startswith(c.name + "-") and (namespace is None or c.namespace == namespace)]
        return sorted(found, key=lambda c: (c.distance, -len(c.name)))

    def distance(self, name: str | None) -> int | None:
        """Hops from the alerting service to a component (by any of its names), None when off the graph."""
        if not name:
            return None
        lowered = name.lower()
        for component in self.components.values():
            names = {component.name.lower(), *(n.lower() for n in (component.workload.names if component.workload
                                                                   else ()))}
            if lowered in names or any(_same_host(lowered, n) for n in names):
                return component.distance
        return None


def _same_host(host: str, name: str) -> bool:
    """inventory.warehouse.svc.cluster.local and inventory:8080 are the inventory workload."""
    return host.split(".")[0].split(":")[0] == name


def _label_value(text: str) -> str:
    return re.sub(r'(["\\])', r"\\\1", text)


def workload_component(workload: Workload, distance: int, via: str, role: str = "service") -> Component:
    names = sorted(workload.names)
    ns = _label_value(workload.namespace)
    matchers = [f'{{namespace="{ns}",pod=~"{regex_value(workload.name)}-.+"}}']
    # OpenTelemetry's resource attributes as the collector's Prometheus exporter writes them: `k8s_*_name`, and
    # `job` = "<service.namespace>/<service.name>" (a PodMonitor's job is "<namespace>/<name>" the same way).
    for label in ("service", "app", "job", "deployment", "statefulset", "daemonset", "cronjob",
                  "horizontalpodautoscaler", "app_kubernetes_io_name", "container", "job_name",
                  "k8s_deployment_name", "k8s_statefulset_name", "service_name"):
        for name in names:
            value = _label_value(name)
            matchers.append(f'{{{label}="{value}"}}' if label != "job_name" else f'{{job_name=~"{value}(-.+)?"}}')
        if label == "job":
            matchers += [f'{{job=~".+/{regex_value(name)}"}}' for name in names]
    return Component(name=workload.name, role=role, distance=distance, via=via, namespace=workload.namespace,
                     workload=workload, pods=set(workload.pods), matchers=matchers)


def named_component(name: str, distance: int, via: str, role: str = "service") -> Component:
    """A service known only by name (no Kubernetes access, or outside the cluster): its labelled series."""
    value = _label_value(name)
    matchers = [f'{{{label}="{value}"}}' for label in ("service", "app", "job", "deployment", "peer_service")]
    return Component(name=name, role=role, distance=distance, via=via, matchers=matchers)


def build(subjects: list[str], cluster: Cluster | None, namespace: str | None) -> Scope:
    scope = Scope()
    for name in subjects:
        found = cluster.named(name) if cluster else []
        if namespace:
            found = [w for w in found if w.namespace == namespace] or found
        for workload in found[:2]:
            scope.add(workload_component(workload, 0, "subject"))
        if not found:
            scope.add(named_component(name, 0, "subject"))
    if cluster is not None:
        _walk(scope, cluster)
        _nodes_and_dns(scope, cluster)
    return scope


def _walk(scope: Scope, cluster: Cluster) -> None:
    """Dependencies named in each workload's env and config, then theirs: two hops from the subject."""
    frontier = [c for c in scope.components.values() if c.workload is not None]
    for hop in range(1, MAX_HOPS + 1):
        reached = []
        for component in frontier:
            for workload in dependencies_of(component.workload, cluster) if component.workload else []:
                added = scope.add(workload_component(workload, hop, "env", "dependency"))
                if added:
                    reached.append(added)
        frontier = reached
    # Workloads sharing a dependency with the subject (a batch job on the same database) are two hops away.
    shared = {c.name for c in scope.components.values() if c.distance == 1}
    for workload in list(cluster.workloads.values()):
        if workload.name in scope.components:
            continue
        if any(w.name in shared for w in dependencies_of(workload, cluster)):
            scope.add(workload_component(workload, 2, "shared dependency", "dependency"))
    _kin(scope, cluster)


def _kin(scope: Scope, cluster: Cluster) -> None:
    """A workload named after one in scope (`users-db-migrate-57` beside `users-db`) belongs to it: the job that
    migrates a database, the worker of a service. It joins one hop past the workload it is named after, the
    longest such name (the database, not the service the database serves). Only names of dependencies count: a
    Job named after the alerting service itself says nothing about what it touches."""
    for workload in sorted(cluster.workloads.values(), key=lambda w: w.name):
        if workload.name in scope.components:
            continue
        # After a dependency only: the alerting service's own namesakes (its report CronJob) are not on its path.
        kin = [c for c in scope.named_after(workload.name, workload.namespace) if 0 < c.distance < MAX_HOPS]
        if kin:
            nearest = max(kin, key=lambda c: len(c.name))
            scope.add(workload_component(workload, nearest.distance + 1, "name", "dependency"))


def dependencies_of(workload: Workload, cluster: Cluster) -> list[Workload]:
    found = []
    for host in workload.hosts:
        first, _, rest = host.partition(".")
        namespace = rest.split(".")[0] if ".svc" in host or (rest.count(".") == 0 and rest) else workload.namespace
        candidates = [w for w in cluster.named(first) if w.name != workload.name]
        preferred = [w for w in candidates if w.namespace == namespace] or candidates
        found += [w for w in preferred[:1] if w not in found]
    return found


def _nodes_and_dns(scope: Scope, cluster: Cluster) -> None:
    # The nodes under the service and under what it depends on (a database pinned to a node that is lost).
    for component in sorted([c for c in scope.components.values() if c.distance <= 1 and c.role != "node"],
                            key=lambda c: c.distance):
        pods = component.workload.pods if component.workload else set()
        for node in sorted({cluster.pod_node[(component.namespace or "", p)] for p in pods
                            if (component.namespace or "", p) in cluster.pod_node}):
            ip = cluster.node_ips.get(node)
            matchers = [f'{{node="{_label_value(node)}"}}', f'{{kubernetes_node="{_label_value(node)}"}}']
            if ip:
                matchers.append(f'{{instance=~"{regex_value(ip)}(:[0-9]+)?"}}')
            scope.add(Component(name=node, role="node", distance=component.distance + 1, via="node",
                                matchers=matchers, ip=ip))
    for workload in cluster.workloads.values():
        if _DNS.search(workload.name) and workload.namespace == "kube-system":
            scope.add(workload_component(workload, 1, "dns", "dns"))
        elif _FLAGS.search(workload.name):  # services read their flags through it, often without an env var
            scope.add(workload_component(workload, 1, "flags", "flags"))


def link(scope: Scope, cluster: Cluster | None, peer: str, distance: int, via: str) -> Component | None:
    """A peer seen in a metric label or a log line joins the scope (once), as a workload when it is one."""
    host = peer.lower().split(":")[0]
    first = host.split(".")[0]
    if scope.distance(host) is not None or distance > MAX_HOPS or not first:
        return None
    workloads = cluster.named(first) if cluster else []
    if not workloads or cluster is None:
        return scope.add(named_component(first, distance, via, "dependency"))
    added = scope.add(workload_component(workloads[0], distance, via, "dependency"))
    if added is not None and distance < MAX_HOPS:
        # What it names in its own environment is one hop further, as for the workloads found first.
        for dependency in dependencies_of(workloads[0], cluster):
            scope.add(workload_component(dependency, distance + 1, "env", "dependency"))
        _kin(scope, cluster)
    return added
