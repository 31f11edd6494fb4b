"""Metrics: a scenario's series sampled at its step, and the OpenMetrics text `promtool` backfills."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tests.scenarios.model import MetricSpec, Point, Scenario, seeded


@dataclass(frozen=True)
class SeriesData:
    name: str  # the sample name: `x_total`, `x_bucket`, `x_sum`...
    type: str
    labels: dict[str, str]
    samples: list[tuple[int, float]]  # (Unix seconds, value)
    family: str = ""  # the metric family, for the `# TYPE` line; default: the name

    @property
    def family_name(self) -> str:
        if self.family:
            return self.family
        return self.name.removesuffix("_total") if self.type == "counter" else self.name


QUANTILES = (0.5, 0.9, 0.99)


def interpolator(shape: list[Point]) -> Callable[[float], float]:
    """Linear between points; before the first and after the last, flat. Two points at one time make a step."""
    times = [p[0].timestamp() for p in shape]
    values = [p[1] for p in shape]

    def value_at(t: float) -> float:
        i = bisect.bisect_right(times, t) - 1
        if i < 0:
            return values[0]
        if i >= len(times) - 1:
            return values[-1]
        t0, t1 = times[i], times[i + 1]
        return values[i] + (values[i + 1] - values[i]) * (t - t0) / (t1 - t0)

    return value_at


def _noise(rng: random.Random, relative: float, count: int) -> list[float]:
    """Multipliers around 1: AR(1) noise, so neighbouring samples wander together as real metrics do."""
    if relative <= 0:
        return [1.0] * count
    level, keep = 0.0, 0.7
    out = []
    for _ in range(count):
        level = keep * level + math.sqrt(1 - keep * keep) * rng.gauss(0.0, 1.0)
        out.append(max(0.0, 1.0 + relative * level))
    return out


def _series_values(s: Scenario, spec: MetricSpec, labels: dict[str, str]) -> list[tuple[int, float]]:
    rng = seeded(s.name, spec.name, sorted(labels.items()))
    value_at = interpolator(spec.shape)
    times = [t for t in s.window.times() if spec.present is None or spec.present[0] <= t <= spec.present[1]]
    if not times:
        return []
    multipliers = _noise(rng, spec.noise, len(times))
    if spec.type == "counter":
        return _counter(s, spec, rng, value_at, times, multipliers)
    samples = []
    for t, factor in zip(times, multipliers, strict=True):
        value = value_at(t.timestamp()) * factor
        if spec.clamp:
            value = min(max(value, spec.clamp[0]), spec.clamp[1])
        samples.append((int(t.timestamp()), float(round(value)) if spec.integer else value))
    return samples


def _counter(s: Scenario, spec: MetricSpec, rng: random.Random, value_at: Callable[[float], float],
             times: list[datetime], multipliers: list[float]) -> list[tuple[int, float]]:
    """Integrate a rate shape (or follow a value shape), restarting from 0 at each reset."""
    whole = "seconds" not in spec.name  # request and period counters count events; CPU seconds are fractional
    step = s.window.step.total_seconds()
    born_in_window = bool(times) and times[0] > s.window.start
    total = 0.0 if born_in_window or spec.shape_of == "value" else value_at(times[0].timestamp()) * rng.uniform(
        2 * 3600, 5 * 86400)
    resets = sorted(r.timestamp() for r in spec.resets)
    samples: list[tuple[int, float]] = []
    for t, factor in zip(times, multipliers, strict=True):
        ts = t.timestamp()
        if spec.shape_of == "value":
            total = value_at(ts)
        else:
            if resets and ts >= resets[0]:
                resets.pop(0)
                total = 0.0
            total += max(0.0, value_at(ts) * factor) * step
        samples.append((int(ts), float(math.floor(total)) if whole else round(total, 4)))
    return samples


def series(s: Scenario) -> list[SeriesData]:
    """Every series of the scenario, sampled at the window's step (a series with no sample in it does not exist)."""
    out: list[SeriesData] = []
    for spec in s.metrics:
        for labels in spec.label_sets():
            if spec.latency:
                out.extend(_distribution(s, spec, labels))
            else:
                out.append(SeriesData(spec.name, spec.type, labels, _series_values(s, spec, labels)))
    return [data for data in out if data.samples]


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


_Z = {0.5: 0.0, 0.9: 1.2816, 0.95: 1.6449, 0.99: 2.3263, 0.999: 3.0902}


def _distribution(s: Scenario, spec: MetricSpec, labels: dict[str, str]) -> list[SeriesData]:
    """A latency histogram (`_bucket` per bound, `_sum`, `_count`) or summary (quantiles, `_sum`, `_count`) from a
    request-rate shape and a log-normal latency whose median follows `latency`, as a client library records it."""
    rng = seeded(s.name, spec.name, sorted(labels.items()))
    rate_at, median_at = interpolator(spec.shape), interpolator(spec.latency)
    times = [t for t in s.window.times() if spec.present is None or spec.present[0] <= t <= spec.present[1]]
    if not times:
        return []
    noise = _noise(rng, spec.noise, len(times))
    step = s.window.step.total_seconds()
    bounds = [*spec.buckets, math.inf]
    born = bool(times) and times[0] > s.window.start
    uptime = 0.0 if born else rng.uniform(2 * 3600, 3 * 86400)
    count = rate_at(times[0].timestamp()) * uptime if times else 0.0
    cumulative = [count * _phi((math.log(b) - math.log(max(median_at(times[0].timestamp()), 1e-6))) / spec.spread)
                  if b != math.inf else count for b in bounds] if times else [0.0] * len(bounds)
    total = count * (median_at(times[0].timestamp()) if times else 0.0)
    buckets: list[list[tuple[int, float]]] = [[] for _ in bounds]
    sums, counts, quantiles = [], [], {q: [] for q in QUANTILES}
    for t, factor in zip(times, noise, strict=True):
        ts = t.timestamp()
        stamp = int(ts)
        median = max(median_at(ts) * (0.85 + 0.3 * factor / 2 if spec.noise else 1.0), 1e-6)
        requests = max(0.0, rate_at(ts) * factor) * step
        count += requests
        total += requests * median * math.exp(spec.spread ** 2 / 2)
        for i, bound in enumerate(bounds):
            share = 1.0 if bound == math.inf else _phi((math.log(bound) - math.log(median)) / spec.spread)
            cumulative[i] += requests * share
            buckets[i].append((stamp, float(math.floor(cumulative[i]))))
        sums.append((stamp, round(total, 3)))
        counts.append((stamp, float(math.floor(count))))
        for q in QUANTILES:
            quantiles[q].append((stamp, round(median * math.exp(_Z[q] * spec.spread), 6)))
    if spec.type == "histogram":
        out = [SeriesData(f"{spec.name}_bucket", "histogram", {**labels, "le": _le(b)}, buckets[i], spec.name)
               for i, b in enumerate(bounds)]
    else:
        out = [SeriesData(spec.name, "summary", {**labels, "quantile": str(q)}, quantiles[q], spec.name)
               for q in QUANTILES]
    return [*out, SeriesData(f"{spec.name}_sum", spec.type, labels, sums, spec.name),
            SeriesData(f"{spec.name}_count", spec.type, labels, counts, spec.name)]


def _le(bound: float) -> str:
    """Bucket bounds as the client libraries write them: `0.005`, `1.0`, `+Inf`."""
    return "+Inf" if bound == math.inf else repr(float(bound))


def _label_text(labels: dict[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.10g}"


def openmetrics(s: Scenario) -> str:
    """The scenario's series in the OpenMetrics text format promtool backfills: a family per metric, Unix seconds."""
    families: dict[str, list[SeriesData]] = {}
    helps = {spec.name: spec.help for spec in s.metrics if spec.help}
    units = {spec.name: spec.unit for spec in s.metrics if spec.unit}
    for data in series(s):
        families.setdefault(data.family_name, []).append(data)
    out: list[str] = []
    for family, members in families.items():
        name = members[0].family or members[0].name
        out.append(f"# TYPE {family} {members[0].type}")
        if units.get(name):
            out.append(f"# UNIT {family} {units[name]}")
        if helps.get(name):
            out.append(f"# HELP {family} {helps[name]}")
        for data in members:
            prefix = f"{data.name}{_label_text(data.labels)} "
            out.extend(f"{prefix}{_number(v)} {t}" for t, v in data.samples)
    out.append("# EOF")
    return "\n".join(out) + "\n"

