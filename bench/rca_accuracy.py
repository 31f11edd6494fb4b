"""RCA accuracy and speed over the scenario suite, in deterministic mode.

For every scenario in tests/scenarios: serve its telemetry (a real Prometheus over the backfilled series, fake
Loki or Datadog with the scenario's logs padded to at least --log-lines lines, fake Kubernetes), run the
rca-agent as the service would, and compare its answer (cause, component, triggering change) with the expected
one. Top-1: the answer is right; top-3: the right one is among the first three hypotheses.

The telemetry is served from a separate process, as remote services would be, so the fakes' own work does not
compete with the analysis for the interpreter. Speed is measured against a baseline taken in the same run: the
time to fetch the same raw data (every metric signal, the error-log search, the Kubernetes reads) without
analysing it. The ratio shows what the analysis costs on top of reading the evidence.

    python bench/rca_accuracy.py [--log-lines 100000] [--repeat 3] [--only NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.rca.log_bursts import ERROR_PATTERN  # noqa: E402
from agents.rca.observe import LOOKBACK, STEP_SECONDS  # noqa: E402
from agents.rca.signals import DEFAULT_SIGNALS  # noqa: E402
from agents.toolbox import Toolbox  # noqa: E402
from app.integrations.logs import LogQuery  # noqa: E402
from tests.scenarios.analysis import analyse, config_for, describe, rank_of_expected, settings_for  # noqa: E402
from tests.scenarios.harness import prepare_tsdb, scenario_environment  # noqa: E402
from tests.scenarios.loader import Scenario, load, log_records, scenario_names  # noqa: E402

GOAL_TOP1, GOAL_SECONDS = 0.9, 2.0


async def fetch_only(s: Scenario, env: dict[str, str]) -> float:
    """The baseline: read what the analysis reads, and do nothing with it."""
    toolbox = Toolbox(settings_for(env))
    service = config_for(s).service(s.incident.service)
    reference = s.incident.declared_at
    start, end = reference - LOOKBACK, (s.incident.resolved_at or reference) + timedelta(minutes=15)
    began = time.perf_counter()
    prometheus = await toolbox.prometheus()
    source = toolbox.log_source(service)
    reads = [prometheus.query_range(sig.promql(service.name), start, end, STEP_SECONDS) for sig in DEFAULT_SIGNALS]
    if source is not None:
        reads.append(source.search(LogQuery(service=service.name, pattern=ERROR_PATTERN), start, end))
    if toolbox.kubernetes is not None:
        namespace = service.observability.namespace
        reads += [toolbox.kubernetes.change_events(namespace, start, end), toolbox.kubernetes.events(namespace),
                  toolbox.kubernetes.pods(namespace, service.observability.pod_selector.replace("{service}",
                                                                                               service.name))]
    await asyncio.gather(*reads)
    elapsed = time.perf_counter() - began
    await toolbox.aclose()
    return elapsed


async def one(s: Scenario, env: dict[str, str], repeat: int) -> tuple[list[float], list[float], object]:
    await analyse(s, env)  # warm-up: imports and connection set-up are not the analysis
    times, baselines, report = [], [], None
    for _ in range(repeat):
        baselines.append(await fetch_only(s, env))
        began = time.perf_counter()
        report = await analyse(s, env)
        times.append(time.perf_counter() - began)
    return times, baselines, report


def serve(name: str, log_lines: int) -> None:
    """The child process: serve one scenario's stack, print its environment, stay up until stdin closes."""
    s = load(name)
    with tempfile.TemporaryDirectory() as tmp:
        tsdb = prepare_tsdb(s, Path(tmp) / "tsdb")
        padding = max(0, log_lines - len(log_records(s)))
        with scenario_environment(s, Path(tmp), extra_log_lines=padding, data_dir=tsdb) as env:
            print(json.dumps(env), flush=True)
            sys.stdin.read()


@contextmanager
def served(name: str, log_lines: int) -> Iterator[dict[str, str]]:
    child = subprocess.Popen([sys.executable, __file__, "--serve", name, "--log-lines", str(log_lines)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield json.loads(child.stdout.readline())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-lines", type=int, default=100_000, help="at least this many log lines per scenario")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run one scenario")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.log_lines)
        return
    names = [args.only] if args.only else scenario_names()
    top1, top3, worst = 0, 0, 0.0
    print(f"{'scenario':28} {'expected cause / component / trigger':72} {'result':6} {'time s':>6} "
          f"{'fetch s':>7} {'ratio':>6} {'lines':>7}")
    for name in names:
        s = load(name)
        with served(name, args.log_lines) as env:
            times, baselines, report = asyncio.run(one(s, env, args.repeat))
        rank = rank_of_expected(report, s.expected)  # type: ignore[arg-type]
        top1 += rank == 1
        top3 += rank is not None and rank <= 3
        median, base = statistics.median(times), statistics.median(baselines)
        worst = max(worst, median)
        trigger = f"{s.expected.trigger.kind}:{s.expected.trigger.subject}" if s.expected.trigger else "none"
        expected = f"{s.expected.cause} / {s.expected.component} / {trigger}"
        verdict = "top-1" if rank == 1 else (f"rank {rank}" if rank else "miss")
        print(f"{name:28} {expected[:72]:72} {verdict:6} {median:6.2f} {base:7.2f} {median / base:5.2f}x "
              f"{report.lines_read:7,}")  # type: ignore[union-attr]
        if rank != 1:
            print(f"{'':28} got: {describe(report)}")  # type: ignore[arg-type]
    n = len(names)
    print(f"\ntop-1 {top1}/{n} ({top1 / n:.0%}), top-3 {top3}/{n} ({top3 / n:.0%}); slowest analysis {worst:.2f} s, "
          f"each scenario with at least {args.log_lines:,} log lines")
    print(f"goal: top-1 >= {GOAL_TOP1:.0%} and every analysis < {GOAL_SECONDS:.0f} s: "
          + ("met" if top1 / n >= GOAL_TOP1 and worst < GOAL_SECONDS else "NOT met"))


if __name__ == "__main__":
    main()
