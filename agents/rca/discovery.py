"""Which signals exist for a component, found in Prometheus rather than assumed.

The series API lists every series a component's selectors match (its pods by namespace and pod name, or its
`service`/`app`/`job`/`deployment` labels); each metric family then becomes a query by what it is:

- a counter with a status-like label (code, status, outcome, rcode, grpc_code...) becomes the share of errors,
  per peer when it is a client-side metric (peer, upstream, provider, database... labels);
- a histogram (`_bucket` with `le`) becomes its p99, a summary its highest quantile up to 0.99;
- a gauge with a sibling limit (`x_in_use` / `x_max`, `used_bytes` / `capacity_bytes`, cAdvisor's working set
  against `container_spec_memory_limit_bytes`) becomes a utilisation;
- a gauge holding a future timestamp (`*expir*`, `not_after`) becomes the time left;
- any other counter a rate, any other gauge its value.

The names recognised are the conventions of the exporters themselves (Prometheus naming rules, cAdvisor,
kube-state-metrics, node-exporter, client libraries), so a team's own metrics are read the same way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from agents.rca.signals import Signal, SignalKind

RATE = "1m"
# OpenTelemetry's semantic conventions name it `http.response.status_code` (`http_response_status_code` here).
STATUS_LABELS = ("code", "status_code", "status", "http_status", "http_status_code", "http_response_status_code",
                 "response_code", "grpc_code", "grpc_status", "rpc_grpc_status_code", "outcome", "result", "rcode",
                 "status_class")
PEER_LABELS = ("peer", "client_name", "upstream", "target", "destination", "destination_service", "dst", "provider",
               "remote", "server_address", "http_host", "net_peer_name", "peer_service", "upstream_cluster",
               "remote_service", "dependency", "host", "service_name_remote",
               "database", "db", "db_name", "datname", "cluster")
# Labels that say which process or replica a series came from: summed or maxed away.
IDENTITY = frozenset({"pod", "instance", "job", "namespace", "container", "node", "uid", "id", "image", "name",
                      "endpoint", "service", "app", "pod_template_hash", "le", "quantile", "kubernetes_node",
                      "kubernetes_namespace", "kubernetes_pod_name", "app_kubernetes_io_name", "deployment",
                      "statefulset", "daemonset", "replicaset", "created_by_name", "created_by_kind", "host_ip",
                      "pod_ip", "service_instance_id", "exported_job", "exported_instance", "version", "revision",
                      "method", "path", "route", "handler", "uri", "url", "env", "team", "cluster_name"})
MAX_VALUES = 12  # a label with more distinct values is an id, not a dimension worth splitting by
_ERROR_VALUE = re.compile(r"^(?:5\d\d|5xx|err\w*|fail\w*|server_?error|timeout|timed_?out|unavailable|servfail|"
                          r"refused|internal|unknown|deadline_?exceeded|aborted|data_?loss|exception|"
                          r"resource_?exhausted|too_?many_?requests|429|rate_?limited|throttled|reject\w*|"
                          r"connection_?error|nxdomain|dropped)$", re.IGNORECASE)
_RATE_LIMIT_VALUE = re.compile(r"^(?:429|too_?many_?requests|rate_?limited|throttled|resource_?exhausted)$",
                               re.IGNORECASE)
USAGE_WORDS = ("in_use", "inuse", "used", "usage", "active", "current", "working_set", "busy", "open", "allocated",
               "size_current", "avail", "available", "free")
LIMIT_WORDS = ("max", "maximum", "limit", "capacity", "size", "total", "max_replicas", "pool_size")
_UNITS = {"bytes", "seconds", "replicas", "connections", "status", "spec", "count"}
_EXPIRY = re.compile(r"expir|not_?after|notafter|deadline_timestamp")
_LATENCY = re.compile(r"seconds|duration|latency|_ms\b|milliseconds|response_time")
_RESTART = re.compile(r"restart")
_FREE = ("avail", "available", "free")
# A counter that counts the part of another that went wrong: x_throttled_periods_total of x_periods_total.
QUALIFIERS = frozenset({"throttled", "failed", "failures", "errors", "error", "rejected", "dropped", "timeouts",
                        "timeout", "retries", "retried", "missed", "misses", "refused", "evicted", "expired"})


@dataclass
class SeriesSet:
    """The series of one component, as label sets from the series API."""

    component: str
    selector: str  # PromQL matchers inside braces, without them: namespace="shop",pod=~"a|b"
    label_sets: list[dict[str, str]] = field(default_factory=list)


def regex_value(text: str) -> str:
    """A literal inside a PromQL regex matcher: RE2 metacharacters escaped, then escaped again for the string."""
    return re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\\\1", text)


def family_of(labels: dict[str, str]) -> tuple[str, str]:
    """(family name, type): histogram, summary, counter or gauge, by the naming rules exporters follow."""
    name = labels.get("__name__", "")
    if name.endswith("_bucket") and "le" in labels:
        return name[: -len("_bucket")], "histogram"
    if "quantile" in labels:
        return name, "summary"
    if name.endswith(("_total", "_count", "_sum", "_created")):
        return name, "counter"
    return name, "gauge"


def signals_for(found: SeriesSet, metadata: dict[str, str] | None = None) -> list[Signal]:
    """Every query worth running for one component's series, most telling first."""
    families: dict[str, list[dict[str, str]]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for labels in found.label_sets:
        name, kind = family_of(labels)
        families[name].append(labels)
        kinds[name] = (metadata or {}).get(name, kind) if kind == "gauge" else kind
    # _count and _sum of a histogram or summary are its request counts, read through the family instead.
    structured = {n for n, k in kinds.items() if k in ("histogram", "summary")}
    # A histogram's _count is its request counter: read for its status split, not as one more rate.
    skip = {f"{n}_sum" for n in structured}
    skip |= {f"{n}_count" for n in structured if not any(_status_label(s) for s in families.get(f"{n}_count", []))}
    skip |= {n for n in families if n.endswith("_created")}
    out: list[Signal] = []
    paired: set[str] = set()
    out += _utilisations(families, kinds, found, paired)
    out += _counter_ratios(families, kinds, found, paired)
    for name, sets in sorted(families.items()):
        if name in skip or name in paired:
            continue
        out += _one_family(name, kinds[name], sets, found)
    return out


def _status_label(labels: dict[str, str]) -> str | None:
    return next((label for label in STATUS_LABELS if label in labels), None)


def _selector(found: SeriesSet, sets: list[dict[str, str]], *extra: str) -> str:
    parts = [found.selector, *extra]
    if any(s.get("container") in ("", "POD") for s in sets) and any(s.get("container") for s in sets):
        parts.append('container!="",container!="POD"')  # cAdvisor's per-pod totals would count twice
    return ",".join(p for p in parts if p)


def _dimensions(sets: list[dict[str, str]], exclude: tuple[str, ...] = ()) -> list[str]:
    """Labels that split a family into a few meaningful series (peer, code, pool), not into replicas."""
    values: dict[str, set[str]] = defaultdict(set)
    for labels in sets:
        for key, value in labels.items():
            if key != "__name__" and key not in IDENTITY and key not in exclude:
                values[key].add(value)
    return sorted(k for k, v in values.items() if 1 < len(v) <= MAX_VALUES or (k in PEER_LABELS and v))


def _by(labels: list[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def _peer_label(dims: list[str]) -> str | None:
    return next((label for label in PEER_LABELS if label in dims), None)


def _one_family(name: str, kind: str, sets: list[dict[str, str]], found: SeriesSet) -> list[Signal]:
    sel = _selector(found, sets)
    if kind == "histogram":
        dims = [d for d in _dimensions(sets) if d in PEER_LABELS]
        peer = _peer_label(dims)
        query = f"histogram_quantile(0.99, sum by (le{''.join(', ' + d for d in dims)}) " \
                f"(rate({name}_bucket{{{sel}}}[{RATE}])))"
        return [_latency(name, query, peer, found.component)]
    if kind == "summary":
        quantiles = sorted({float(s["quantile"]) for s in sets if _number(s.get("quantile"))})
        chosen = max((q for q in quantiles if q <= 0.99), default=None)
        if chosen is None:
            return []
        dims = [d for d in _dimensions(sets, ("quantile",)) if d in PEER_LABELS]
        value = next(s["quantile"] for s in sets if _number(s.get("quantile")) and float(s["quantile"]) == chosen)
        query = f'max{_by(dims)} ({name}{{{sel},quantile="{value}"}})'
        return [_latency(name, query, _peer_label(dims), found.component)]
    if kind == "counter":
        return _counter(name, sets, sel, found)
    return _gauge(name, sets, sel, found)


def _number(text: str | None) -> bool:
    try:
        float(text or "")
    except ValueError:
        return False
    return True


def _latency(name: str, query: str, peer: str | None, component: str) -> Signal:
    if not _LATENCY.search(name):
        return Signal(name=f"quantile:{name}", kind=SignalKind.OTHER, query=query, description=f"p99 of {name}",
                      component=component, both_ways=True)
    if peer:
        return Signal(name="dependency_latency", kind=SignalKind.DEPENDENCY, query=query, split_by=peer,
                      description="p99 latency of outbound calls (s), per peer", min_change=0.05, component=component)
    return Signal(name="latency_p99", kind=SignalKind.LATENCY, query=query, component=component,
                  description="p99 request latency (s)", min_change=0.05)


def _counter(name: str, sets: list[dict[str, str]], sel: str, found: SeriesSet) -> list[Signal]:
    dims = _dimensions(sets)
    status = next((label for label in STATUS_LABELS if label in {k for s in sets for k in s}), None)
    component = found.component
    if _RESTART.search(name):
        return [Signal(name="container_restarts", kind=SignalKind.SATURATION, component=component,
                       query=f"sum(increase({name}{{{sel}}}[5m]))", description="container restarts in 5m",
                       min_change=0.5, absent_is_zero=True)]
    if status is None:
        return [Signal(name=f"rate:{name}", kind=SignalKind.OTHER, component=component, both_ways=True,
                       query=f"sum{_by(dims)} (rate({name}{{{sel}}}[{RATE}]))", description=f"{name} per second",
                       split_by=dims[0] if dims else None, absent_is_zero=True)]
    values = sorted({s.get(status, "") for s in sets})
    errors = [v for v in values if _ERROR_VALUE.match(v)]
    limited = [v for v in values if _RATE_LIMIT_VALUE.match(v)]
    peer = _peer_label([d for d in dims if d != status])
    group = _by([peer] if peer else [])
    total = f"sum{group} (rate({name}{{{sel}}}[{RATE}]))"
    out = [Signal(name="request_rate" if not peer else f"rate:{name}", kind=SignalKind.TRAFFIC, component=component,
                  query=total, description="requests per second" if not peer else f"{name} per second, per peer",
                  split_by=peer)]

    def share(matching: list[str]) -> str:
        regex = "|".join(regex_value(v) for v in matching)
        return f'sum{group} (rate({name}{{{sel},{status}=~"{regex}"}}[{RATE}])) / {total}'

    if errors:
        if status == "rcode":
            out.append(Signal(name="dns_failures", kind=SignalKind.INFRA, query=share(errors), component=component,
                              description="share of DNS answers failing", min_change=0.02, absent_is_zero=True))
        elif peer:
            out.append(Signal(name="dependency_error_ratio", kind=SignalKind.DEPENDENCY, query=share(errors),
                              description="share of outbound calls failing, per peer", split_by=peer,
                              min_change=0.05, absent_is_zero=True, component=component))
        else:
            out.append(Signal(name="error_ratio", kind=SignalKind.ERRORS, query=share(errors), component=component,
                              description="share of requests failing", min_change=0.01, absent_is_zero=True))
    if limited:
        out.append(Signal(name="rate_limited", kind=SignalKind.DEPENDENCY, query=share(limited), split_by=peer,
                          description="share of calls refused as rate limited" + (", per peer" if peer else ""),
                          min_change=0.02, absent_is_zero=True, component=component))
    return out


def _gauge(name: str, sets: list[dict[str, str]], sel: str, found: SeriesSet) -> list[Signal]:
    component = found.component
    dims = _dimensions(sets)
    if name.endswith("_last_terminated_reason") and any(s.get("reason") == "OOMKilled" for s in sets):
        # kube-state-metrics: 1 for the reason a container last terminated; the series is born at the first kill.
        return [Signal(name="oom_killed", kind=SignalKind.SATURATION, component=component, threshold=0.5,
                       query=f'max({name}{{{sel},reason="OOMKilled"}})', absent_is_zero=True,
                       description="containers last terminated OOMKilled")]
    if _EXPIRY.search(name):
        certificate = re.search(r"cert|ssl|tls|x509", name)
        return [Signal(name="certificate_seconds_left" if certificate else f"seconds_left:{name}",
                       kind=SignalKind.INFRA, query=f"min{_by(dims)} ({name}{{{sel}}}) - time()",
                       description="seconds until the earliest certificate expires" if certificate
                       else f"seconds left until {name}", direction="down", threshold=0.0,
                       split_by=dims[0] if dims else None, component=component)]
    keys = {k for s in sets for k in s}
    if {"condition", "status"} <= keys:
        return [Signal(name="node_pressure", kind=SignalKind.INFRA, component=component,
                       query=f'max by (condition) ({name}{{{sel},status="true",condition!="Ready"}})',
                       description="node conditions", threshold=0.5, split_by="condition", absent_is_zero=True),
                Signal(name="node_not_ready", kind=SignalKind.INFRA, component=component, direction="down",
                       query=f'max({name}{{{sel},status="true",condition="Ready"}})',
                       description="node Ready condition", threshold=0.5)]
    return [Signal(name=f"value:{name}", kind=SignalKind.OTHER, query=f"max{_by(dims)} ({name}{{{sel}}})",
                   description=name, split_by=dims[0] if dims else None, component=component, both_ways=True)]


def _tokens(name: str) -> list[str]:
    return [t for t in name.split("_") if t not in _UNITS]


def _split(name: str, words: tuple[str, ...]) -> tuple[str, str] | None:
    """`db_pool_connections_in_use` -> ("db_pool_connections", "in_use") when the tail is one of `words`."""
    tokens = _tokens(name)
    for size in (3, 2, 1):
        if len(tokens) > size and "_".join(tokens[-size:]) in words:
            return "_".join(tokens[:-size]), "_".join(tokens[-size:])
    for i in range(1, len(tokens)):  # container_spec_memory_limit: the limit word sits inside the name
        if tokens[i] in words:
            return "_".join(tokens[:i] + tokens[i + 1:]), tokens[i]
    return None


def _utilisations(families: dict[str, list[dict[str, str]]], kinds: dict[str, str], found: SeriesSet,
                  paired: set[str]) -> list[Signal]:
    gauges = [n for n, k in kinds.items() if k == "gauge"]
    limits: dict[str, str] = {}
    for name in gauges:
        split = _split(name, LIMIT_WORDS)
        if split:
            limits.setdefault(split[0], name)
    out = []
    for name in gauges:
        split = _split(name, USAGE_WORDS)
        if split is None or name in limits.values():
            continue
        base, word = split
        limit = limits.get(base) or next((v for k, v in limits.items() if base.startswith(k) or (k.startswith(base)
                                          and k.split("_")[:2] == base.split("_")[:2])), None)
        if limit is None:
            limit_sets = [s for s in families.get("kube_pod_container_resource_limits", [])
                          if s.get("resource") == "memory"]
            if "memory" in base and limit_sets:
                limit = 'kube_pod_container_resource_limits'
        if limit is None:
            continue
        sets = families[name] + families[limit]
        dims = [d for d in _dimensions(families[name]) if d in _dimensions(families[limit]) and d != "resource"]
        if all("persistentvolumeclaim" in s and "namespace" in s for s in sets):
            # The kubelet's volume stats name the claim: one volume filling up is read as that volume's, even alone.
            dims = ["persistentvolumeclaim", "namespace", *(d for d in dims if d not in ("persistentvolumeclaim",))]
        extra = ',resource="memory"' if limit == "kube_pod_container_resource_limits" else ""
        sel = _selector(found, sets)
        ratio = f"max{_by(dims)} ({name}{{{sel}}}) / max{_by(dims)} ({limit}{{{sel}{extra}}})"
        if word in _FREE:
            ratio = f"1 - ({ratio})"
        paired |= {name, limit}
        out.append(_utilisation_signal(base, ratio, dims, found.component, name))
    return out


def _utilisation_signal(base: str, query: str, dims: list[str], component: str, name: str = "") -> Signal:
    """What a usage over its limit is, by the family's name; unit words the base drops (`hikaricp_connections_active`
    is `hikaricp` + `active`) still say what is counted."""
    split_by = dims[0] if dims else None
    if "memory" in base:
        return Signal(name="memory_utilisation", kind=SignalKind.SATURATION, query=query, component=component,
                      description="memory in use / limit", threshold=0.9, min_change=0.1, split_by=split_by)
    if re.search(r"volume|filesystem|disk|fs_", base):
        return Signal(name="volume_utilisation", kind=SignalKind.SATURATION, query=query, component=component,
                      description="disk used / capacity", threshold=0.97, min_change=0.05, split_by=split_by)
    if "autoscaler" in base or "hpa" in base.split("_"):
        return Signal(name="autoscaler_at_max", kind=SignalKind.SATURATION, query=query, component=component,
                      description="autoscaler replicas / maximum", threshold=1.0, min_change=0.1, split_by=split_by)
    if re.search(r"pool|connection|conn", f"{base} {name}"):
        return Signal(name="db_pool_utilisation", kind=SignalKind.SATURATION, query=query, component=component,
                      description="connection pool in use / max", threshold=0.9, min_change=0.1, split_by=split_by)
    return Signal(name=f"utilisation:{base}", kind=SignalKind.SATURATION, query=query, component=component,
                  description=f"{base.replace('_', ' ')} in use / limit", threshold=0.95, min_change=0.1,
                  split_by=split_by)


def _counter_ratios(families: dict[str, list[dict[str, str]]], kinds: dict[str, str], found: SeriesSet,
                    paired: set[str]) -> list[Signal]:
    """`x_throttled_periods_total` over `x_periods_total`: a counter that is one qualifier more than another."""
    counters = {n: _tokens(n.removesuffix("_total")) for n, k in kinds.items() if k == "counter"}
    out = []
    for part, tokens in counters.items():
        for whole, base in counters.items():
            if part == whole or len(tokens) != len(base) + 1:
                continue
            extra = [t for t in tokens if t not in base]
            if len(extra) != 1 or extra[0] not in QUALIFIERS or [t for t in tokens if t != extra[0]] != base:
                continue
            sel = _selector(found, families[part] + families[whole])
            query = f"sum(rate({part}{{{sel}}}[{RATE}])) / sum(rate({whole}{{{sel}}}[{RATE}]))"
            paired |= {part, whole}
            name = "cpu_throttling" if "cpu" in base and "throttled" in extra else f"share:{part}"
            out.append(Signal(name=name, kind=SignalKind.SATURATION, query=query, component=found.component,
                              description="share of CPU periods throttled" if name == "cpu_throttling"
                              else f"share of {whole.removesuffix('_total')} that were {extra[0]}", min_change=0.05))
    return out
