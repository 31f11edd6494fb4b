"""Piecewise-linear shapes over time, and their sums and products, for health that several effects shape at once."""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

Shape = list[tuple[datetime, float]]


def value_at(shape: Shape, at: datetime) -> float:
    """Linear between points, flat outside them; two points at one time make a step (the later one wins)."""
    if not shape:
        return 0.0
    times = [p[0] for p in shape]
    i = bisect.bisect_right(times, at) - 1
    if i < 0:
        return shape[0][1]
    if i >= len(shape) - 1:
        return shape[-1][1]
    (t0, v0), (t1, v1) = shape[i], shape[i + 1]
    span = (t1 - t0).total_seconds()
    return v0 if span == 0 else v0 + (v1 - v0) * (at - t0).total_seconds() / span


def pulse(start: datetime, onset: datetime, peak: float, until: datetime, *, ramp: float = 120,
          decay: float = 180, base: float = 0.0) -> Shape:
    """`base`, rising from `onset` to `peak` over `ramp` seconds, held until `until`, back over `decay` seconds."""
    top = onset + timedelta(seconds=ramp)
    if until <= top:
        until = top
    return [(start, base), (onset, base), (top, peak), (until, peak), (until + timedelta(seconds=decay), base)]


def combine(shapes: list[Shape], start: datetime, end: datetime, *, base: float, how: str) -> Shape:
    """Sum (`add`) or product (`mul`) of shapes at every breakpoint any of them has, starting from `base`."""
    points = sorted({start, end, *(t for shape in shapes for t, _ in shape if start <= t <= end)})
    out: Shape = []
    for t in points:
        value = base
        for shape in shapes:
            value = value + value_at(shape, t) if how == "add" else value * value_at(shape, t)
        out.append((t, value))
    return out


def scaled(shape: Shape, factor: float, offset: float = 0.0) -> Shape:
    return [(t, offset + v * factor) for t, v in shape]


def first_above(shape: Shape, threshold: float) -> datetime | None:
    return next((t for t, v in shape if v > threshold), None)
