"""RCA accuracy and speed on the generated scenarios, train and held-out reported separately.

Every scenario of a set is served from one real Prometheus (the set's shared TSDB, each scenario on its own day)
with fake Loki or Datadog and a fake Kubernetes API; the rca-agent runs in deterministic mode as the service
would. An answer is judged as the scenario tests judge it: top-1 when the Root Cause section names the expected
cause and component (and the verdict's cause id, component and trigger match), top-3 when the right hypothesis
is among the first three. Beside it, the "blame the latest change" baseline on the same scenarios: the last
deliberate change the Kubernetes API shows before the incident was declared, taken as the cause.

    python bench/rca_accuracy.py [--set train|heldout|both] [--only NAME] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.rca import render  # noqa: E402
from agents.rca.report import RcaReport  # noqa: E402
from app.integrations import cluster  # noqa: E402
from app.integrations.telemetry import ChangeKind  # noqa: E402
from tests.scenarios.analysis import analyse, describe, rank_of_expected  # noqa: E402
from tests.scenarios.cluster import kubernetes_objects  # noqa: E402
from tests.scenarios.harness import (  # noqa: E402
    heldout_scenarios,
    scenario_environment,
    shared_prometheus,
    train_scenarios,
)
from tests.scenarios.loader import Scenario, load  # noqa: E402

GOAL_TOP1, GOAL_SECONDS = 10 / 11, 10.0
# A rollout's own ScalingReplicaSet events are echoes of it, not changes of their own.
DELIBERATE = {ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.SECRET, ChangeKind.FLAG, ChangeKind.JOB,
              ChangeKind.AUTOSCALER, ChangeKind.GITOPS, ChangeKind.NODE, ChangeKind.CERTIFICATE}


@dataclass
class Outcome:
    name: str
    rank: int | None
    seconds: float
    baseline_right: bool
    got: str
    named_in_root_cause: bool


def section(markdown: str, title: str) -> str:
    """The text of one `### title` section of the analysis."""
    start = markdown.find(f"### {title}")
    if start < 0:
        return ""
    end = markdown.find("\n### ", start + 4)
    return markdown[start:end if end > 0 else None]


def root_cause_names(report: RcaReport, s: Scenario) -> bool:
    """The Root Cause section itself names the expected component."""
    return s.expected.component.lower() in section(render.markdown(report), "Root Cause").lower()


def latest_change_baseline(s: Scenario) -> bool:
    """Blame the latest deliberate change before the declaration: right when it is the expected component's."""
    objects = kubernetes_objects(s)
    built = cluster.build(objects)
    declared = s.incident.declared_at
    found = [c for c in cluster.changes(objects, built, s.window.start, declared) if c.kind in DELIBERATE]
    if not found:
        return False
    latest = max(found, key=lambda c: c.at)
    expected = s.expected.component.lower()
    return any(expected == (name or "").lower() for name in (latest.component, latest.subject))


async def judged(s: Scenario, env: dict[str, str], repeat: int) -> tuple[RcaReport, float]:
    times, report = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        report = await analyse(s, env)
        times.append(time.perf_counter() - began)
    assert report is not None
    return report, statistics.median(times)


def run_set(names: list[str], repeat: int) -> list[Outcome]:
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp, shared_prometheus(names, Path(tmp)) as prometheus:
        for name in names:
            s = load(name)
            (Path(tmp) / name).mkdir()
            with scenario_environment(s, Path(tmp) / name, prometheus_url=prometheus.url) as env:
                report, seconds = asyncio.run(judged(s, env, repeat))
            rank = rank_of_expected(report, s.expected)
            outcomes.append(Outcome(name=name, rank=rank, seconds=seconds, baseline_right=latest_change_baseline(s),
                                    got=describe(report), named_in_root_cause=root_cause_names(report, s)))
            print(f"  {name:34} {'top-1' if rank == 1 else f'rank {rank}' if rank else 'miss':7} {seconds:6.2f} s"
                  + ("" if rank == 1 else f"   got {describe(report)}"), flush=True)
    return outcomes


def summary(label: str, outcomes: list[Outcome]) -> None:
    n = len(outcomes)
    if not n:
        print(f"{label}: no scenarios")
        return
    top1 = sum(o.rank == 1 and o.named_in_root_cause for o in outcomes)
    top3 = sum(o.rank is not None and o.rank <= 3 for o in outcomes)
    base = sum(o.baseline_right for o in outcomes)
    times = sorted(o.seconds for o in outcomes)
    p95 = times[min(n - 1, round(0.95 * (n - 1)))]
    print(f"{label}: top-1 {top1}/{n} ({top1 / n:.0%}), top-3 {top3}/{n} ({top3 / n:.0%}); "
          f"latest-change baseline {base}/{n} ({base / n:.0%}); time median {statistics.median(times):.2f} s, "
          f"p95 {p95:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("train", "heldout", "both"), default="both")
    parser.add_argument("--only", help="run one scenario of the chosen set")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sets = {"train": train_scenarios, "heldout": heldout_scenarios}
    results: dict[str, list[Outcome]] = {}
    for label in (["train", "heldout"] if args.set == "both" else [args.set]):
        names = [n for n in sets[label]() if args.only in (None, n)]
        print(f"{label} ({len(names)} scenarios)")
        results[label] = run_set(names, args.repeat) if names else []
    print()
    for label, outcomes in results.items():
        summary(label, outcomes)
    every = [o for outcomes in results.values() for o in outcomes]
    if every:
        held = results.get("heldout") or every
        ok = sum(o.rank == 1 and o.named_in_root_cause for o in held) / len(held) >= GOAL_TOP1
        fast = max(o.seconds for o in every) < GOAL_SECONDS
        print(f"goal: top-1 >= {GOAL_TOP1:.0%} on held-out and every analysis < {GOAL_SECONDS:.0f} s: "
              + ("met" if ok and fast else "NOT met"))


if __name__ == "__main__":
    main()
