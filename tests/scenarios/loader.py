"""Incident scenarios: one `scenario.yml` per folder, turned into what the test servers serve.

A scenario describes an incident the way its telemetry would show it: metric shapes (backfilled into a real
Prometheus), log streams (served by the Loki or Datadog fake, and as pod logs), the Kubernetes objects at one
moment and the incident's own timeline. The expected answer sits beside it, for the RCA tests to compare
against. This module reads the files; `model`, `metrics`, `logs` and `cluster` hold the rest, and their public
names are re-exported here.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from tests.scenarios.cluster import all_pods, grafana_datasources, kubernetes_objects, listed, pods_of
from tests.scenarios.generator.expand import expand
from tests.scenarios.generator.spec import GeneratorSpec
from tests.scenarios.logs import LogRecord, datadog_logs, log_entries, log_records, pod_logs, stream_service
from tests.scenarios.metrics import SeriesData, openmetrics, series
from tests.scenarios.model import (
    CAUSES,
    TRIGGER_KINDS,
    Expected,
    MetricSpec,
    Scenario,
    Trigger,
    absolute_time,
    iso,
    revision_of,
)

SCENARIOS_DIR = Path(__file__).parent
LEGACY_DIR = SCENARIOS_DIR / "legacy"
TRAIN_DIR = SCENARIOS_DIR / "train"
HELDOUT_DIR = SCENARIOS_DIR / "heldout"
__all__ = [
    "CAUSES",
    "TRIGGER_KINDS",
    "Expected",
    "LogRecord",
    "MetricSpec",
    "Scenario",
    "SeriesData",
    "Trigger",
    "all_pods",
    "datadog_logs",
    "grafana_datasources",
    "heldout_names",
    "iso",
    "kubernetes_objects",
    "listed",
    "load",
    "load_spec",
    "log_entries",
    "log_records",
    "openmetrics",
    "pod_logs",
    "pods_of",
    "scenario_names",
    "series",
    "train_names",
]


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 without its surprises for scenario files: `14:15` stays a string (not 855) and so do timestamps."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))


def scenario_names() -> list[str]:
    """The hand-written scenarios (`legacy/<name>/scenario.yml`), sorted: what the RCA tests ran before the
    generated sets; kept loadable under their names until every test has moved to `train_names()`."""
    return sorted(p.parent.name for p in LEGACY_DIR.glob("*/scenario.yml"))


def train_names() -> list[str]:
    """The generated scenarios an engine may be tuned on (`train/<name>.yml`), sorted."""
    return sorted(p.stem for p in TRAIN_DIR.glob("*.yml"))


def heldout_names() -> list[str]:
    """The sealed generated scenarios (`heldout/<name>.yml`): only benchmarks and data checks read them."""
    return sorted(p.stem for p in HELDOUT_DIR.glob("*.yml"))


def spec_path(name: str) -> Path:
    """The file a scenario is written in: a generator spec in train/ or heldout/, or a legacy scenario.yml."""
    for folder in (TRAIN_DIR, HELDOUT_DIR):
        if (folder / f"{name}.yml").is_file():
            return folder / f"{name}.yml"
    legacy = LEGACY_DIR / name / "scenario.yml"
    if legacy.is_file():
        return legacy
    raise FileNotFoundError(f"no scenario named {name!r} in {TRAIN_DIR}, {HELDOUT_DIR} or {LEGACY_DIR}")


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_YamlLoader)


def load_spec(name: str) -> GeneratorSpec:
    """A generator spec, validated; HH:MM times in it are on its `day`."""
    raw = read_yaml(spec_path(name))
    spec = GeneratorSpec.model_validate(raw, context={"day": date.fromisoformat(str(raw["day"]))})
    if spec.name != name:
        raise ValueError(f"scenario {name}: its name field says {spec.name!r}")
    return spec


def load(name: str) -> Scenario:
    """The scenario called `name`: a generator spec expanded into its telemetry, or a legacy scenario.yml parsed
    and validated (HH:MM times resolved against the window's first day)."""
    path = spec_path(name)
    if path.name != "scenario.yml":
        scenario = expand(load_spec(name))
        check(scenario)
        return scenario
    raw = read_yaml(path)
    start, end = absolute_time(raw["window"]["start"]), absolute_time(raw["window"]["end"])
    scenario = Scenario.model_validate(raw, context={"day": start.date(), "start": start, "end": end})
    if scenario.name != name:
        raise ValueError(f"scenario {name}: its name field says {scenario.name!r}")
    check(scenario)
    return scenario


def check(s: Scenario) -> None:
    """Consistency a schema cannot express: unique series, known deployments, pods named after their ReplicaSet."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    kinds: dict[str, str] = {}
    for spec in s.metrics:
        if kinds.setdefault(spec.name, spec.type) != spec.type:
            raise ValueError(f"{s.name}: metric {spec.name} declared as both {kinds[spec.name]} and {spec.type}")
        for labels in spec.label_sets():
            key = (spec.name, tuple(sorted(labels.items())))
            if key in seen:
                raise ValueError(f"{s.name}: series {spec.name}{labels} defined twice")
            seen.add(key)
    deployments = {d.name: d for d in s.kubernetes.deployments}
    for pod in s.kubernetes.pods:
        if pod.deployment is None:
            continue
        if pod.deployment not in deployments:
            raise ValueError(f"{s.name}: pod {pod.name} names unknown deployment {pod.deployment}")
        prefix = f"{pod.deployment}-{revision_of(deployments[pod.deployment], pod.revision).hash}-"
        if not pod.name.startswith(prefix):
            raise ValueError(f"{s.name}: pod {pod.name} should be named {prefix}<suffix>")
    workloads = {*deployments, *(st.name for st in s.kubernetes.statefulsets), *(j.name for j in s.kubernetes.jobs)}
    for stream in s.logs.streams:
        if stream.deployment and stream.deployment not in workloads:
            raise ValueError(f"{s.name}: log stream names unknown workload {stream.deployment}")
        if not stream_service(stream):
            raise ValueError(f"{s.name}: a log stream needs a label naming its application (app, service, job...)")

