"""When did a series leave its normal range, and when did it come back?

Robust statistics (median and MAD over a baseline stretch) so one noisy sample is not an onset, and a
sustained run so a blip is not either. The onset is then walked back to where the rise began, because
"the pool began climbing at 14:20" is what responders need, not "the pool crossed 4 sigma at 14:31".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.integrations.telemetry import Sample

SUSTAIN = 3  # consecutive abnormal samples that make an onset
SIGMAS = 5.0  # how far from the baseline, in robust standard deviations
MIN_RELATIVE_CHANGE = 0.25  # ... and at least this share of the baseline level, so flat series stay quiet
MIN_ABSOLUTE_CHANGE = 1e-3


@dataclass(frozen=True)
class Anomaly:
    onset: datetime  # where the departure began
    detected: datetime  # first sample of the sustained abnormal run
    baseline: float
    peak: float  # the most abnormal value after onset
    peak_at: datetime
    recovered: datetime | None  # back within the normal band, sustained
    crossed_threshold: datetime | None

    @property
    def rise(self) -> float:
        return self.peak - self.baseline


def _finite(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if math.isfinite(s.value)]


def _band(values: list[float], min_change: float) -> tuple[float, float]:
    """The baseline level and the half-width of its normal band."""
    centre = statistics.median(values)
    mad = statistics.median(abs(v - centre) for v in values) * 1.4826
    width = max(SIGMAS * mad, MIN_RELATIVE_CHANGE * abs(centre), MIN_ABSOLUTE_CHANGE, min_change)
    return centre, width


def detect(samples: list[Sample], baseline_until: datetime, *, direction: str = "up",
           threshold: float | None = None, min_change: float = 0.0) -> Anomaly | None:
    """The first sustained departure after the baseline stretch (samples before `baseline_until`)."""
    samples = _finite(samples)
    base = [s.value for s in samples if s.at < baseline_until]
    if len(base) < 5 or len(samples) - len(base) < SUSTAIN:
        return None
    centre, width = _band(base, min_change)
    sign = 1.0 if direction == "up" else -1.0

    def abnormal(value: float) -> bool:
        beyond_band = sign * (value - centre) > width
        beyond_threshold = threshold is not None and sign * (value - threshold) >= 0 and not _past(base, threshold,
                                                                                                   sign)
        return beyond_band or beyond_threshold

    start = len(base)
    detected_index = _first_run(samples, start, abnormal)
    if detected_index is None:
        return None
    onset_index = _walk_back(samples, detected_index, centre, width, sign, floor=start)
    peak_index = max(range(onset_index, len(samples)), key=lambda i: sign * samples[i].value)
    recovered_index = _first_run(samples, peak_index, lambda v: not abnormal(v))
    crossed = None
    if threshold is not None:
        crossed = next((s.at for s in samples[onset_index:] if sign * (s.value - threshold) >= 0), None)
    return Anomaly(
        onset=samples[onset_index].at, detected=samples[detected_index].at, baseline=centre,
        peak=samples[peak_index].value, peak_at=samples[peak_index].at,
        recovered=samples[recovered_index].at if recovered_index is not None else None,
        crossed_threshold=crossed,
    )


def _past(base: list[float], threshold: float, sign: float) -> bool:
    """A threshold already crossed during the baseline says nothing new (a disk that lives at 96%)."""
    return any(sign * (v - threshold) >= 0 for v in base)


def _first_run(samples: list[Sample], start: int, condition: Callable[[float], bool]) -> int | None:
    run = 0
    for i in range(start, len(samples)):
        run = run + 1 if condition(samples[i].value) else 0
        if run >= SUSTAIN:
            return i - SUSTAIN + 1
    return None


def _walk_back(samples: list[Sample], index: int, centre: float, width: float, sign: float, floor: int) -> int:
    """Step back over the samples that were already rising out of the band's inner part."""
    inner = width / SIGMAS * 2  # two robust sigmas (or the minimum-change floor scaled the same way)
    while index > floor and sign * (samples[index - 1].value - centre) > inner:
        index -= 1
    return index
